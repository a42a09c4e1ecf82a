"""The applications pages: create (the API's field errors inline), the links to its endpoints and
messages, a portal link minted, copied and opened, revoked, the settings saved in place, delete."""

from __future__ import annotations

import uuid
from typing import Any

from playwright.sync_api import Browser, expect

from testkit.stack import Stack, wait_until
from tests.browser.harness import session
from tests.browser.pages import shots


def test_create_an_application_and_open_its_portal(browser: Browser, stack: Stack) -> None:
    uid = f"cust-{uuid.uuid4().hex[:8]}"
    with session(browser, stack, "/console") as s:
        page = s.page
        # GIVEN the applications list
        s.open("/applications")
        shots(s, "console-applications")
        # WHEN the uid is one the API refuses, THEN its sentence is under the uid field
        page.get_by_test_id("application-name").fill("Acme <b>Corp</b>")
        page.get_by_test_id("application-uid").fill("not a uid!")
        page.get_by_test_id("application-form-submit").click()
        expect(page.get_by_test_id("application-uid")).to_have_attribute("aria-invalid", "true")
        expect(page.locator(".field-error", has_text="uid is 1 to 200 characters")).to_be_visible()
        # WHEN it is fixed
        page.get_by_test_id("application-uid").fill(uid)
        page.get_by_test_id("application-form-submit").click()
        # THEN the application's page opens, its name shown as text
        page.get_by_role("heading", name="Acme <b>Corp</b>", exact=True).wait_for()
        s.wait_loaded()
        app_id = page.url.rsplit("/", 1)[1]
        assert app_id.startswith("app_")
        # ... with the endpoints and messages pages agreed with the endpoints helper
        assert (
            page.get_by_test_id("app-endpoints").get_attribute("href") == f"#/endpoints?application={app_id}"
        )
        assert (
            page.get_by_test_id("app-new-endpoint").get_attribute("href")
            == f"#/endpoints/new?application={app_id}"
        )
        assert page.get_by_test_id("app-messages").get_attribute("href") == f"#/messages?application={app_id}"

        # WHEN a read-only portal link is minted
        page.get_by_test_id("portal-read-only").check()
        page.get_by_test_id("portal-form-submit").click()
        url = page.get_by_test_id("portal-url")
        expect(url).to_be_visible()
        link = url.input_value()
        assert link.startswith(f"{stack.base}/portal#token=")
        opener = page.get_by_role("link", name="Open portal")
        assert opener.get_attribute("target") == "_blank"
        assert "noopener" in (opener.get_attribute("rel") or "")
        shots(s, "console-application")
        # THEN "Open portal" opens this application's portal, read-only, in a new tab
        with s.context.expect_page() as opened:
            opener.click()
        portal = opened.value
        portal.get_by_role("heading", name="Endpoints").wait_for()
        expect(portal.get_by_role("link", name="Add an endpoint")).to_have_count(0)
        portal.close()

        # WHEN every portal link is revoked, THEN the minted one no longer opens anything
        page.get_by_test_id("revoke-portal").click()
        page.get_by_test_id("revoke-portal-yes").click()
        expect(page.locator("#status")).to_contain_text("revoked")
        token = link.split("#token=", 1)[1]
        reply = stack.request("GET", "/v1/endpoints", headers={"Authorization": f"Bearer {token}"})
        assert reply.status == 401, reply.body

        # WHEN the name is changed, THEN the heading shows it without a reload
        settings = page.get_by_test_id("application-settings")
        settings.get_by_role("textbox", name="Name", exact=True).fill("Acme Corporation")
        settings.get_by_role("button", name="Save").click()
        page.get_by_role("heading", name="Acme Corporation", exact=True).wait_for()
        assert (
            stack.request("GET", f"/v1/applications/{app_id}", admin=True).json()["name"]
            == "Acme Corporation"
        )
        # ... and its portal branding: a colour that is not #rrggbb is refused under its field
        settings.get_by_test_id("branding-name").fill("Acme Webhooks")
        settings.get_by_test_id("branding-accent").fill("teal")
        settings.get_by_role("button", name="Save").click()
        expect(settings.get_by_test_id("branding-accent")).to_have_attribute("aria-invalid", "true")
        settings.get_by_test_id("branding-accent").fill("#0f766e")
        settings.get_by_role("button", name="Save").click()
        expect(page.locator("#status")).to_contain_text("Application saved.")
        wait_until(
            lambda: (
                stack.request("GET", f"/v1/applications/{app_id}", admin=True).json()["branding"] or {}
            ).get("accent")
            == "#0f766e"
        )
        saved = stack.request("GET", f"/v1/applications/{app_id}", admin=True).json()["branding"]
        assert saved["name"] == "Acme Webhooks"

        # WHEN it is deleted, THEN the list no longer has it
        page.get_by_test_id("delete-application").click()
        page.get_by_test_id("delete-application-yes").click()
        page.get_by_role("heading", name="Applications", exact=True).wait_for()
        s.wait_loaded()
        expect(page.get_by_role("link", name="Acme Corporation")).to_have_count(0)
        assert stack.request("GET", f"/v1/applications/{app_id}", admin=True).status == 404
        s.guard.check(page)


def test_the_only_link_out_of_the_console_is_this_deployments_portal(browser: Browser, stack: Stack) -> None:
    with session(browser, stack, "/console") as s:
        # GIVEN the console's page builder
        s.open("/applications")
        # WHEN portalAnchor is given URLs, THEN only a same-origin /portal#token= link becomes a link
        verdicts = s.page.evaluate(
            """async (base) => {
                const { portalAnchor } = await import(`${base}/assets/dom.js`);
                const urls = [`${base}/portal#token=hkt_abc.def`, "https://evil.example/portal#token=hkt_a",
                    `${base}/portal?next=x#token=hkt_a`, `${base}/console#token=hkt_a`, "javascript:alert(1)",
                    `${base}/portal#token=<b>`, `${base}/portal`];
                return urls.map((u) => { try { const a = portalAnchor(u, "go"); return [a.rel, a.target]; }
                                         catch { return null; } });
            }""",
            stack.base,
        )
        assert verdicts == [["noopener noreferrer", "_blank"], None, None, None, None, None, None]
        s.guard.check(s.page)


def test_deleting_an_application_follows_its_job_until_its_endpoints_are_gone(
    browser: Browser, stack: Stack
) -> None:
    # GIVEN an application, and a deletion job that the API reports running, then done
    app = stack.request("POST", "/v1/applications", admin=True, json_body={"name": "Big tenant"}).json()
    polls = iter(
        [
            {"state": "running", "done": 500, "total": None},
            {"state": "running", "done": 1000, "total": None},
            {"state": "succeeded", "done": 1200, "total": 1200},
        ]
    )
    seen: list[str] = []
    with session(browser, stack, "/console") as s:
        page = s.page

        def job(route: Any) -> None:
            step = next(polls, {"state": "succeeded", "done": 1200, "total": 1200})
            doc = {
                "id": "job_x",
                "kind": "application.delete",
                "created_at": 1,
                "updated_at": 2,
                "error": None,
            }
            route.fulfill(status=200, json={**doc, **step})
            seen.append(step["state"])

        page.route("**/v1/jobs/*", job)
        s.open(f"/applications/{app['id']}")
        # WHEN it is deleted
        page.get_by_test_id("delete-application").click()
        page.get_by_test_id("delete-application-yes").click()
        # THEN the page shows the job's progress as it goes, then the list without the application
        expect(page.get_by_test_id("job-state")).to_have_text("Running: 1000 endpoints deleted so far.")
        page.get_by_role("heading", name="Applications", exact=True).wait_for()
        assert seen[:3] == ["running", "running", "succeeded"]
        assert stack.request("GET", f"/v1/applications/{app['id']}", admin=True).status == 404
        s.guard.check(page)
