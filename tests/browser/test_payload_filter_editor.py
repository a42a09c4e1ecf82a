"""The payload filter in the endpoint form: the console's pattern editor with a live test against a recent
message, and a customer setting a payload filter on its own endpoint in the portal. Hostile text stays
text."""

from __future__ import annotations

import json
import uuid
from typing import Any

from playwright.sync_api import Browser, expect

from testkit.receivers import Receivers
from testkit.stack import Stack, wait_until
from tests.browser.harness import portal_link, session
from tests.browser.pages import check_view, error_of, text_of

HOSTILE = "<img src=x onerror=alert(1)><script>alert(2)</script>"


def _ok(reply: Any, status: int) -> Any:
    assert reply.status == status, reply.body
    return reply.json()


def _publish(
    stack: Stack, payload: Any, *, application: str | None = None, event_type: str = "order.created"
) -> str:
    doc: dict[str, Any] = {"event_type": event_type, "payload": payload}
    if application:
        doc["application"] = application
    message_id = str(_ok(stack.request("POST", "/v1/messages", json_body=doc, admin=True), 202)["id"])
    wait_until(lambda: stack.request("GET", f"/v1/messages/{message_id}", admin=True).status == 200, 30)
    return message_id


def test_the_console_tests_a_pattern_live_against_a_recent_message_and_saves_it(
    browser: Browser, stack: Stack, receivers: Receivers
) -> None:
    # GIVEN a small and a big order among the recent messages, one with a hostile event type
    tag = uuid.uuid4().hex[:8]
    small = _publish(stack, {"total": 50, "note": HOSTILE}, event_type=f"order.{tag}")
    big = _publish(stack, {"total": 500}, event_type=f"order.{tag}")
    with session(browser, stack, "/console") as s:
        page = s.page
        s.open("/endpoints/new")
        page.get_by_label("URL").fill(receivers.url(f"/filtered-{tag}"))
        editor = page.get_by_test_id("endpoint-payload-filter")
        editor.fill(json.dumps({"payload": {"total": [{"numeric": [">", 100]}]}}))
        # WHEN the operator loads recent messages and picks the small order
        page.get_by_test_id("filter-test-load").click()
        chooser = page.get_by_test_id("filter-test-message")
        expect(chooser.locator(f"option[value='{small}']")).to_have_count(1)
        chooser.select_option(small)
        # THEN the result names the part that refused it, and the document is shown as text
        result = page.get_by_test_id("filter-test-result")
        expect(result).to_contain_text("Does not match: payload (payload.total)")
        expect(page.get_by_test_id("filter-test-document")).to_contain_text(HOSTILE)
        # ... the big one matches
        chooser.select_option(big)
        expect(result).to_contain_text("Matches")
        # ... and editing the pattern retests by itself (live)
        editor.fill(json.dumps({"payload": {"total": [{"numeric": [">", 1000]}]}}))
        expect(result).to_contain_text("Does not match")
        check_view(s, "endpoint-payload-filter")
        # WHEN the pattern is not JSON THEN saving shows it under the field, nothing is created
        editor.fill("{not json")
        page.get_by_test_id("endpoint-form-submit").click()
        expect(error_of(s, editor)).to_contain_text("not valid JSON")
        # ... an unknown operator is refused by the API under the same field, with its path
        editor.fill(json.dumps({"payload": {"total": [{"regex": ".*"}]}}))
        page.get_by_test_id("endpoint-form-submit").click()
        expect(error_of(s, editor)).to_contain_text("payload.payload.total[0].regex: unknown operator")
        # WHEN a valid pattern is saved THEN the endpoint has it
        pattern = {"payload": {"total": [{"numeric": [">", 100]}]}}
        editor.fill(json.dumps(pattern))
        page.get_by_test_id("endpoint-form-submit").click()
        expect(page.get_by_test_id("endpoint-created")).to_contain_text("Endpoint added")
        page.get_by_test_id("open-endpoint").click()
        s.wait_loaded()
        endpoint_id = page.url.rsplit("/", 1)[-1]
        saved = _ok(stack.request("GET", f"/v1/endpoints/{endpoint_id}", admin=True), 200)
        assert saved["filter"]["payload"] == pattern
        s.guard.check(page)


def test_a_customer_sets_a_payload_filter_on_its_own_endpoint_in_the_portal(
    browser: Browser, stack: Stack, receivers: Receivers
) -> None:
    # GIVEN two applications, each with a recent message
    mine = str(
        _ok(stack.request("POST", "/v1/applications", json_body={"name": "Acme"}, admin=True), 201)["id"]
    )
    theirs = str(
        _ok(stack.request("POST", "/v1/applications", json_body={"name": "Globex"}, admin=True), 201)["id"]
    )
    my_message = _publish(stack, {"total": 500}, application=mine)
    their_message = _publish(stack, {"total": 500}, application=theirs)
    path = f"/acme-filter-{uuid.uuid4().hex[:8]}"
    with session(browser, stack, "/portal") as s:
        page = s.page
        page.goto(portal_link(stack, mine))
        s.wait_loaded()
        # WHEN the customer adds an endpoint with a payload filter, testing it on its own message first
        page.get_by_test_id("new-endpoint").click()
        s.wait_loaded()
        page.get_by_label("URL").fill(receivers.url(path))
        pattern = {"payload": {"total": [{"numeric": [">=", 100]}]}}
        page.get_by_test_id("endpoint-payload-filter").fill(json.dumps(pattern))
        page.get_by_test_id("filter-test-load").click()
        chooser = page.get_by_test_id("filter-test-message")
        expect(chooser.locator(f"option[value='{my_message}']")).to_have_count(1)
        # ... the other application's message is not offered
        assert chooser.locator(f"option[value='{their_message}']").count() == 0
        chooser.select_option(my_message)
        expect(page.get_by_test_id("filter-test-result")).to_contain_text("Matches")
        check_view(s, "portal-endpoint-payload-filter")
        page.get_by_test_id("endpoint-form-submit").click()
        expect(page.get_by_test_id("endpoint-created")).to_contain_text("Endpoint added")
        # THEN the endpoint is the customer's, with the pattern
        page.get_by_test_id("open-endpoint").click()
        s.wait_loaded()
        endpoint_id = page.url.rsplit("/", 1)[-1]
        saved = _ok(stack.request("GET", f"/v1/endpoints/{endpoint_id}", admin=True), 200)
        assert saved["application_id"] == mine and saved["filter"]["payload"] == pattern
        assert their_message not in text_of(s)
        s.guard.check(page)
