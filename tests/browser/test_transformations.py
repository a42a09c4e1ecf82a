"""The transformation editor on an endpoint's page: simulate, save (a bad code named under its field),
remove; in the console and in a customer's portal."""

from __future__ import annotations

import json
import uuid
from typing import Any

from playwright.sync_api import Browser, expect

from testkit.receivers import Receivers
from testkit.stack import Stack
from tests.browser.harness import Session, portal_link, session
from tests.browser.pages import check_view

SLACK = "function handler(w) { w.payload = {text: 'PR ' + w.payload.action}; return w; }"


def _ok(reply: Any, status: int) -> Any:
    assert reply.status == status, reply.body
    return reply.json()


def _endpoint(stack: Stack, receivers: Receivers, **doc: Any) -> dict[str, Any]:
    url = receivers.url(f"/tr-{uuid.uuid4().hex[:8]}")
    return dict(_ok(stack.request("POST", "/v1/endpoints", json_body={"url": url, **doc}, admin=True), 201))


def _edit_and_simulate(s: Session, endpoint_id: str) -> None:
    s.open(f"/endpoints/{endpoint_id}")
    code = s.page.get_by_test_id("transform-code")
    # WHEN code is typed and simulated on a payload THEN the request it would send is shown, as text
    code.fill(SLACK)
    s.page.get_by_test_id("simulate-payload").fill(json.dumps({"action": "<b>opened</b>"}))
    s.page.get_by_test_id("transform-submit").click()
    request = s.page.get_by_test_id("simulate-request")
    expect(request).to_contain_text('"text": "PR <b>opened</b>"')
    assert s.page.locator("main b").count() == 0  # shown as text, never as markup
    # WHEN a cancelling code is simulated THEN the cancel is said
    code.fill("function handler(w) { w.cancel = true; return w; }")
    s.page.get_by_test_id("transform-submit").click()
    expect(s.page.get_by_test_id("simulate-outcome")).to_contain_text("Cancelled")
    # WHEN code that does not compile is saved THEN the API's reason is shown and nothing is saved
    code.fill("function handler(w) {")
    s.page.get_by_test_id("transform-save").click()
    expect(s.page.get_by_test_id("simulate-result")).to_contain_text("code is refused: SyntaxError")
    # WHEN good code is saved THEN the endpoint has it after a reload
    code.fill(SLACK)
    s.page.get_by_test_id("transform-save").click()
    expect(s.page.locator("[role=status], .notice").first).to_contain_text("Transformation saved")
    s.page.reload()
    s.wait_loaded()
    expect(s.page.get_by_test_id("transform-code")).to_have_value(SLACK)


def test_the_console_edits_simulates_and_saves_a_transformation(
    browser: Browser, stack: Stack, receivers: Receivers
) -> None:
    endpoint = _endpoint(stack, receivers)
    with session(browser, stack, "/console") as s:
        _edit_and_simulate(s, endpoint["id"])
        check_view(s, "console-endpoint-transformation")
        stored = _ok(stack.request("GET", f"/v1/endpoints/{endpoint['id']}", admin=True), 200)
        assert stored["transformation"] == {"code": SLACK, "enabled": True}
        s.page.get_by_test_id("transform-remove").click()
        s.page.get_by_test_id("transform-remove-yes").click()
        expect(s.page.locator("[role=status], .notice").first).to_contain_text("removed")
        s.guard.check(s.page)
    assert (
        _ok(stack.request("GET", f"/v1/endpoints/{endpoint['id']}", admin=True), 200)["transformation"]
        is None
    )


def test_a_portal_link_edits_its_own_endpoints_transformation_and_a_read_only_one_sees_no_editor(
    browser: Browser, stack: Stack, receivers: Receivers
) -> None:
    app = _ok(stack.request("POST", "/v1/applications", json_body={"name": "Acme"}, admin=True), 201)["id"]
    endpoint = _endpoint(stack, receivers, application=app)
    with session(browser, stack, "/portal") as s:
        s.page.goto(portal_link(stack, app))
        s.wait_loaded()
        _edit_and_simulate(s, endpoint["id"])
        s.guard.check(s.page)
    with session(browser, stack, "/portal") as s:
        s.page.goto(portal_link(stack, app, read_only=True))
        s.wait_loaded()
        s.open(f"/endpoints/{endpoint['id']}")
        assert s.page.get_by_test_id("transform-code").count() == 0
