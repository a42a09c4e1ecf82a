"""Signing in to the console: the admin key once, a session cookie after, CSRF-checked, ended by sign-out."""

from __future__ import annotations

from playwright.sync_api import Browser

from testkit.stack import ADMIN_KEY, Stack
from tests.browser.harness import session


def test_sign_in_keeps_no_key_in_the_browser_and_sign_out_ends_the_session(
    browser: Browser, stack: Stack
) -> None:
    with session(browser, stack, "/console", sign_in=False) as s:
        # GIVEN the console, signed out
        page = s.page
        page.goto(f"{stack.base}/")
        assert page.url == f"{stack.base}/console"
        page.get_by_role("heading", name="Sign in to Hookway").wait_for()
        assert s.axe() == []
        s.shot("console-sign-in")
        # WHEN a wrong key is typed, THEN the API's message shows under the field
        page.get_by_label("Admin key").fill("hk_not_the_key")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("That is not this deployment's admin key.").first.wait_for()
        # WHEN the right key is typed
        page.get_by_label("Admin key").fill(ADMIN_KEY)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("navigation").get_by_role("link", name="Sources").wait_for()
        # THEN the session is an HttpOnly, SameSite=Strict cookie and nothing is in web storage
        (cookie,) = s.context.cookies()
        assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"]) == ("hookway_session", True, "Strict")
        assert ADMIN_KEY not in cookie["value"]
        stored = page.evaluate(
            "JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])"
        )
        assert stored == "[[],[]]"
        # ... a reload stays signed in
        page.reload()
        page.get_by_role("button", name="Sign out").wait_for()
        # WHEN the operator signs out
        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("heading", name="Sign in to Hookway").wait_for()
        # THEN the old cookie no longer opens anything, even if it was copied before
        reply = stack.request(
            "GET",
            "/v1/sources",
            headers={"Cookie": f"hookway_session={cookie['value']}", "X-Hookway-CSRF": "x"},
        )
        assert (reply.status, reply.json()["error"]["code"]) == (401, "session_expired")
        s.guard.check(page)


def test_a_session_cookie_without_its_csrf_token_changes_nothing(browser: Browser, stack: Stack) -> None:
    with session(browser, stack, "/console") as s:
        # GIVEN a signed-in browser context (its cookie jar holds the session)
        cookie = s.context.cookies()[0]["value"]
        # WHEN a request carries the cookie (as a cross-site form post would) but not the CSRF header
        forged = stack.request(
            "POST",
            "/v1/sources",
            json_body={"name": "forged", "verification": {"scheme": "github", "secrets": ["x" * 20]}},
            headers={"Cookie": f"hookway_session={cookie}"},
        )
        # THEN it is refused and no source is created
        assert (forged.status, forged.json()["error"]["code"]) == (403, "csrf_failed")
        listed = stack.request("GET", "/v1/sources", admin=True)
        assert listed.status == 200, listed.body
        names = [src["name"] for src in listed.json()["data"]]
        assert "forged" not in names


def test_pages_are_served_under_a_strict_policy(stack: Stack) -> None:
    console = stack.request("GET", "/console")
    csp = console.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert console.headers["X-Frame-Options"] == "DENY"
    assert console.headers["X-Content-Type-Options"] == "nosniff"
    assert console.headers["Referrer-Policy"] == "no-referrer"
    assert b"<script>" not in console.body and b"style=" not in console.body  # nothing inline to allow
    script = stack.request("GET", "/assets/console.js")
    assert script.headers["Content-Type"].startswith("text/javascript")
    again = stack.request("GET", "/assets/console.js", headers={"If-None-Match": script.headers["ETag"]})
    assert again.status == 304
    for name in ("../app.py", "console.html", "nope.js", "%2e%2e%2fapp.py"):
        missing = stack.request("GET", f"/assets/{name}")
        assert missing.status == 404 and missing.json()["error"]["code"] == "not_found", name


def test_the_console_is_usable_with_the_keyboard_alone(browser: Browser, stack: Stack) -> None:
    with session(browser, stack, "/console", sign_in=False) as s:
        page = s.page
        page.goto(f"{stack.base}/console")
        page.get_by_role("heading", name="Sign in to Hookway").wait_for()
        # GIVEN the sign-in page, WHEN the key is typed into the focused field and Enter pressed
        assert page.evaluate("document.activeElement.name") == "admin_key"
        page.keyboard.type(ADMIN_KEY)
        page.keyboard.press("Enter")
        page.get_by_role("button", name="Sign out").wait_for()
        # THEN Tab reaches the skip button first, which moves focus to the content
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "skip"
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"
        # ... and the navigation is reached by Tab and followed with Enter
        page.evaluate("document.getElementById('skip').focus()")
        for _ in range(2):  # from the skip button: Overview, then Sources
            page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Sources"
        page.keyboard.press("Enter")
        page.get_by_role("heading", name="Sources", exact=True).wait_for()
        # ... where a focused control shows it (an outline, not only a colour)
        page.keyboard.press("Tab")
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline not in ("", "none"), outline
        s.guard.check(page)


def test_end_all_sessions_signs_every_browser_out(browser: Browser, stack: Stack) -> None:
    with session(browser, stack, "/console") as one, session(browser, stack, "/console") as other:
        # GIVEN two browsers signed in to the console
        one.open("/")
        other.open("/")
        copied = other.context.cookies()[0]["value"]
        # WHEN the first ends all sessions from the sign-out area
        one.page.get_by_role("button", name="End all sessions").click()
        # THEN it is back at the sign-in page, saying so
        one.page.get_by_role("heading", name="Sign in to Hookway").wait_for()
        one.page.get_by_text("every console is signed out").wait_for()
        # AND the other browser's cookie opens nothing any more: its next view asks to sign in
        reply = stack.request("GET", "/v1/console/session", headers={"Cookie": f"hookway_session={copied}"})
        assert (reply.status, reply.json()["error"]["code"]) == (401, "session_expired")
        other.page.get_by_role("link", name="Sources").click()
        other.page.get_by_role("heading", name="Sign in to Hookway").wait_for()
        one.guard.check(one.page)
