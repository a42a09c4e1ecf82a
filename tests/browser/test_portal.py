"""The customer portal: one application's endpoints and messages by the link's token, nothing else;
a read-only link changes nothing; a revoked link says so."""

from __future__ import annotations

import re
import uuid
from typing import Any

from playwright.sync_api import Browser, expect

from testkit.receivers import Receivers
from testkit.stack import Stack
from tests.browser.harness import Session, portal_link, session
from tests.browser.pages import check_view, text_of

# Buttons that only read (or move around): everything else would change something.
READING_BUTTONS = {"Skip to content", "Reveal secret", "Refresh", "Show more", "Search", "Copy"}


def _ok(reply: Any, status: int) -> Any:
    assert reply.status == status, reply.body
    return reply.json()


def _application(stack: Stack, name: str) -> str:
    return str(
        _ok(stack.request("POST", "/v1/applications", json_body={"name": name}, admin=True), 201)["id"]
    )


def _publish(stack: Stack, application: str, event_type: str) -> str:
    doc = {"event_type": event_type, "payload": {"n": 1}, "application": application}
    return str(_ok(stack.request("POST", "/v1/messages", json_body=doc, admin=True), 202)["id"])


def _buttons(s: Session) -> set[str]:
    return {b.strip() for b in s.page.locator("button:visible").all_inner_texts()}


def _wait_for_message(s: Session, message_id: str) -> None:
    """The messages page, searched again until the message is listed."""
    s.open("/messages")
    for _ in range(40):
        if s.page.get_by_role("link", name=message_id).count():
            return
        s.page.wait_for_timeout(500)
        s.page.get_by_role("button", name="Search").click()
        s.wait_loaded()
    raise AssertionError(f"{message_id} never listed")


def test_a_portal_link_manages_its_applications_endpoints_and_sees_nothing_else(
    browser: Browser, stack: Stack, receivers: Receivers
) -> None:
    # GIVEN two applications; the other one has an endpoint and a message of its own
    mine, theirs = _application(stack, "Acme"), _application(stack, "Globex")
    their_path = f"/globex-{uuid.uuid4().hex[:8]}"
    their_endpoint = _ok(
        stack.request(
            "POST",
            "/v1/endpoints",
            json_body={"url": receivers.url(their_path), "application": theirs},
            admin=True,
        ),
        201,
    )
    their_message = _publish(stack, theirs, "invoice.paid")
    my_path = f"/acme-{uuid.uuid4().hex[:8]}"
    link = portal_link(stack, mine)
    with session(browser, stack, "/portal") as s:
        page = s.page
        # WHEN the customer opens the link: the token leaves the address bar, no endpoint yet
        page.goto(link)
        s.wait_loaded()
        assert "token=" not in page.url
        expect(page.get_by_role("heading", name="Endpoints")).to_be_visible()
        expect(page.locator(".empty")).to_contain_text("No endpoints yet")
        check_view(s, "portal-endpoints-empty")
        # ... and adds one through the portal (no application picker, no source filter)
        page.get_by_test_id("new-endpoint").click()
        s.wait_loaded()
        assert page.get_by_label("Application").count() == 0
        assert page.get_by_test_id("endpoint-sources").count() == 0
        page.get_by_label("URL").fill(receivers.url(my_path))
        page.get_by_label("Description").fill("Acme billing")
        check_view(s, "portal-endpoint-new")
        page.get_by_test_id("endpoint-form-submit").click()
        expect(page.get_by_test_id("endpoint-created")).to_contain_text("Endpoint added")
        page.get_by_test_id("open-endpoint").click()
        s.wait_loaded()
        check_view(s, "portal-endpoint-detail")
        # THEN the application's events reach it, and the portal shows the delivery
        my_message = _publish(stack, mine, "invoice.paid")
        _wait_for_message(s, my_message)
        listed = text_of(s)
        check_view(s, "portal-messages")
        page.get_by_role("link", name=my_message).click()
        s.wait_loaded()
        expect(page.locator("[data-testid=delivery] h3 .badge")).to_have_text("succeeded", timeout=30_000)
        expect(page.get_by_test_id("payload")).to_contain_text('"n": 1')
        check_view(s, "portal-message-detail")
        assert len(receivers.at(my_path)) == 1
        detail = text_of(s)
        s.open("/")
        expect(page.get_by_role("link", name=receivers.url(my_path))).to_be_visible()
        endpoints = text_of(s)
        check_view(s, "portal-endpoints")
        # ... and the other application's endpoint and messages are nowhere
        for text in (listed, detail, endpoints):
            assert their_endpoint["url"] not in text and their_endpoint["id"] not in text
            assert their_message not in text
        # ... not even by their ids in the URL
        s.open(f"/messages/{their_message}")
        expect(page.locator("main")).not_to_contain_text("invoice.paid")
        s.open(f"/endpoints/{their_endpoint['id']}")
        assert their_endpoint["url"] not in text_of(s)
        s.guard.check(page)


def test_a_read_only_link_shows_no_control_that_changes_anything(
    browser: Browser, stack: Stack, receivers: Receivers
) -> None:
    # GIVEN an application with an endpoint and a delivered message, and a read-only link to it
    app = _application(stack, "Initech")
    path = f"/initech-{uuid.uuid4().hex[:8]}"
    endpoint = _ok(
        stack.request(
            "POST", "/v1/endpoints", json_body={"url": receivers.url(path), "application": app}, admin=True
        ),
        201,
    )
    message = _publish(stack, app, "order.created")
    link = portal_link(stack, app, read_only=True)
    with session(browser, stack, "/portal") as s:
        s.page.goto(link)
        s.wait_loaded()
        # WHEN each view is open, THEN only reading controls are there
        expect(s.page.get_by_role("link", name=receivers.url(path))).to_be_visible()
        assert s.page.get_by_test_id("new-endpoint").count() == 0
        assert _buttons(s) <= READING_BUTTONS, _buttons(s)
        s.open(f"/endpoints/{endpoint['id']}")
        assert _buttons(s) <= READING_BUTTONS, _buttons(s)
        assert (
            s.page.get_by_test_id("recover").count() == 0 and s.page.get_by_test_id("test-event").count() == 0
        )
        check_view(s, "portal-read-only-endpoint")
        _wait_for_message(s, message)
        s.page.get_by_role("link", name=message).click()
        s.wait_loaded()
        expect(s.page.locator("[data-testid=delivery]")).to_have_count(1)
        assert _buttons(s) <= READING_BUTTONS, _buttons(s)
        s.open("/endpoints/new")
        expect(s.page.locator("main")).to_contain_text("only look")
        assert s.page.locator("main form").count() == 0
        s.guard.check(s.page)


def test_a_revoked_link_says_so_in_a_sentence(browser: Browser, stack: Stack) -> None:
    # GIVEN a link whose application's tokens were then revoked
    app = _application(stack, "Umbrella")
    link = portal_link(stack, app)
    _ok(stack.request("POST", f"/v1/applications/{app}/portal-access/revoke", admin=True), 200)
    with session(browser, stack, "/portal") as s:
        # WHEN it is opened, THEN a sentence says the link cannot be used and why, and no data shows
        s.page.goto(link)
        expect(s.page.get_by_role("heading", name="This link cannot be used")).to_be_visible()
        expect(s.page.get_by_role("alert")).to_have_text(
            re.compile(r"^The token has been revoked\. Ask for a new link\.$")
        )
        assert s.page.locator("#nav").is_hidden()
        check_view(s, "portal-revoked")
    # ... and a page without any token says where to get one
    with session(browser, stack, "/portal") as s:
        s.page.goto(f"{stack.base}/portal")
        expect(s.page.get_by_role("alert")).to_contain_text("Open the portal from the link")


def test_the_portal_is_not_framable_by_default_and_the_console_never(stack: Stack) -> None:
    # The stack sets no HOOKWAY_PORTAL_FRAME_ANCESTORS (tests/unit/test_page_framing.py sets it)
    portal = stack.request("GET", "/portal").headers["Content-Security-Policy"]
    console = stack.request("GET", "/console").headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in portal and "frame-ancestors 'none'" in console


def test_the_portal_wears_its_applications_branding(browser: Browser, stack: Stack) -> None:
    # GIVEN an application branded with its own name and accent colour
    branded = _ok(
        stack.request(
            "POST",
            "/v1/applications",
            json_body={"name": "Initech", "branding": {"name": "Initech <b>Hooks</b>", "accent": "#8a1c7c"}},
            admin=True,
        ),
        201,
    )["id"]
    with session(browser, stack, "/portal") as s:
        # WHEN its portal link is opened
        s.page.goto(portal_link(stack, branded))
        s.wait_loaded()
        # THEN the header and the title carry its name (as text), and the accent colours the page
        expect(s.page.locator("#brand-name")).to_have_text("Initech <b>Hooks</b>")
        assert s.page.locator("#brand b").count() == 0
        accent = s.page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--accent')")
        assert accent.strip() == "#8a1c7c"
        assert s.page.evaluate("document.title").endswith("· Initech <b>Hooks</b>")
        # ... and the token has left the address bar
        assert "token=" not in s.page.url
        s.guard.check(s.page)
