"""The operator's day in the console: sign in, add an endpoint, watch a webhook arrive and be delivered,
see a failing receiver in the attempts, fix it and recover since a time."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from playwright.sync_api import Browser, expect

from testkit.receivers import Receivers, Step
from testkit.stack import ADMIN_KEY, Stack, github_headers, wait_until
from tests.browser.harness import session
from tests.browser.pages import check_view


def _webhook(stack: Stack, source_id: str, ref: str) -> str:
    body = json.dumps({"ref": ref, "repository": {"full_name": "acme/api"}}).encode()
    reply = stack.request(
        "POST", f"/in/{source_id}", body=body, headers=github_headers(body, str(uuid.uuid4()))
    )
    assert reply.status == 202, reply.body
    return str(reply.json()["id"])


def test_operator_adds_an_endpoint_watches_delivery_sees_failure_and_recovers(
    browser: Browser, stack: Stack, receivers: Receivers
) -> None:
    path = f"/operator-{uuid.uuid4().hex[:8]}"
    source_id = stack.github_source()
    with session(browser, stack, "/console", sign_in=False) as s:
        page = s.page
        # GIVEN the operator signs in through the console
        page.goto(f"{stack.base}/console")
        page.get_by_label("Admin key").fill(ADMIN_KEY)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("navigation").get_by_role("link", name="Endpoints").click()
        s.wait_loaded()
        # WHEN they add an endpoint for the GitHub source, three attempts a second apart
        page.get_by_test_id("new-endpoint").click()
        s.wait_loaded()
        page.get_by_label("URL").fill(receivers.url(path))
        page.get_by_label("Description").fill("Deploy hook")
        page.get_by_test_id("endpoint-sources").get_by_label(f"gh ({source_id})").check()
        page.get_by_label("Retry schedule").fill("0, 1s, 1s")
        check_view(s, "endpoint-new")
        page.get_by_test_id("endpoint-form-submit").click()
        created = page.get_by_test_id("endpoint-created")
        expect(created).to_contain_text("Endpoint added")
        assert page.get_by_test_id("endpoint-secret").input_value().startswith("whsec_")
        page.get_by_test_id("open-endpoint").click()
        s.wait_loaded()
        expect(page.get_by_test_id("endpoint-url-shown")).to_have_text(receivers.url(path))
        endpoint_id = page.url.rsplit("/", 1)[-1]

        # WHEN a signed webhook arrives, THEN the operator sees it in the messages and delivered
        first = _webhook(stack, source_id, "refs/heads/main")
        s.open(f"/messages?source={source_id}")
        for _ in range(40):
            if page.get_by_role("link", name=first).count():
                break
            page.wait_for_timeout(500)
            page.get_by_role("button", name="Search").click()
            s.wait_loaded()
        check_view(s, "messages")
        page.get_by_role("link", name=first).click()
        s.wait_loaded()
        delivery = page.locator(f"[data-testid=delivery][data-endpoint='{endpoint_id}']")
        expect(delivery.locator(".badge").first).to_have_text("succeeded", timeout=30_000)
        expect(delivery.get_by_test_id("attempt-code").first).to_have_text("HTTP 200")
        expect(page.get_by_test_id("payload")).to_contain_text('"ref": "refs/heads/main"')
        expect(page.get_by_test_id("message-headers")).to_contain_text(re.compile("x-github-event", re.I))
        assert len(receivers.at(path)) == 1
        check_view(s, "message-detail")

        # WHEN the receiver fails every attempt of the next webhook
        receivers.script(path, Step(status=500), Step(status=500), Step(status=500))
        second = _webhook(stack, source_id, "refs/heads/broken")
        wait_until(
            lambda: stack.request("GET", f"/v1/messages/{second}", admin=True).status == 200, timeout=90
        )
        s.open(f"/messages/{second}")
        delivery = page.locator(f"[data-testid=delivery][data-endpoint='{endpoint_id}']")
        # THEN the attempts show the failure, status code included, as they happen
        expect(delivery.locator("h3 .badge")).to_have_text("failed", timeout=60_000)
        expect(delivery.get_by_test_id("attempt")).to_have_count(3)
        expect(delivery.get_by_test_id("attempt-code").first).to_have_text("HTTP 500")

        # WHEN the receiver is fixed and the operator recovers the last 10 minutes on the endpoint page
        receivers.script(path)
        s.open(f"/endpoints/{endpoint_id}")
        expect(page.get_by_test_id("endpoint-attempts")).to_contain_text("HTTP 500")
        page.get_by_label("How far back").fill("10m")
        page.get_by_test_id("recover-submit").click()
        # THEN the page follows the recovery job until it has queued the one failed delivery again
        expect(page.get_by_test_id("job-state")).to_have_text(
            "Done: 1 delivery queued again.", timeout=30_000
        )
        assert page.get_by_test_id("job-bar").evaluate("b => [b.value, b.max]") == [1, 1]
        # AND the delivery arrives (the attempts list shows it once refreshed)
        wait_until(lambda: len(receivers.at(path)) == 5, timeout=30)
        page.get_by_test_id("refresh-attempts").click()
        expect(page.get_by_test_id("endpoint-attempts")).to_contain_text("HTTP 200")
        check_view(s, "endpoint-detail")
        s.open(f"/messages/{second}")
        delivery = page.locator(f"[data-testid=delivery][data-endpoint='{endpoint_id}']")
        expect(delivery.locator("h3 .badge")).to_have_text("succeeded")
        assert len(receivers.at(path)) == 5
        s.open("/endpoints")
        expect(page.get_by_role("link", name=receivers.url(path))).to_be_visible()
        check_view(s, "endpoints")


def test_endpoint_controls_show_their_result_without_a_reload(
    browser: Browser, stack: Stack, receivers: Receivers
) -> None:
    # GIVEN an endpoint of the operator's, subscribed to nothing yet
    path = f"/controls-{uuid.uuid4().hex[:8]}"
    reply = stack.request(
        "POST",
        "/v1/endpoints",
        json_body={"url": receivers.url(path), "filter": {"event_types": ["nothing.yet"]}},
        admin=True,
    )
    assert reply.status == 201, reply.body
    endpoint = reply.json()
    with session(browser, stack, "/console") as s:
        page = s.page
        s.open(f"/endpoints/{endpoint['id']}")
        page.evaluate("window.__notReloaded = true")
        # WHEN the operator edits it, THEN the settings show the change
        page.get_by_test_id("edit-endpoint").click()
        page.get_by_label("Description").fill("Billing receiver")
        page.get_by_label("Other event types or prefixes").fill("invoice.*")
        page.get_by_label("Replace custom headers").fill("X-Team: billing")
        page.get_by_label("Timeout (seconds)").fill("5")
        page.get_by_role("button", name="Save changes").click()
        settings = page.locator("section.part", has=page.get_by_role("heading", name="Settings"))
        expect(settings).to_contain_text("Billing receiver")
        expect(settings).to_contain_text("invoice.*")
        expect(settings).to_contain_text("X-Team")
        expect(settings).to_contain_text("5 s")
        # ... its flow control: a throttle and its own breaker, shown with the circuit's state
        page.get_by_test_id("edit-endpoint").click()
        page.get_by_label("Throttle (attempts per second)").fill("3")
        page.get_by_label("Circuit breaker: failures in a row").fill("4")
        page.get_by_role("button", name="Save changes").click()
        expect(error_of_label(page, "Circuit breaker: probe every (seconds)")).to_have_text(
            "Give both numbers, or neither for the default."
        )
        page.get_by_label("Circuit breaker: probe every (seconds)").fill("30")
        page.get_by_label("Delivery order").select_option("fifo")
        page.get_by_role("button", name="Save changes").click()
        expect(settings).to_contain_text("at most 3 attempts a second")
        expect(settings).to_contain_text("FIFO: in the order accepted, one at a time")
        expect(settings).to_contain_text("opens after 4 failures in a row; a probe every 30 s")
        expect(page.get_by_test_id("endpoint-circuit")).to_contain_text("Closed")
        stored = stack.request("GET", f"/v1/endpoints/{endpoint['id']}", admin=True).json()
        assert stored["throttle_rate"] == 3
        assert stored["circuit_breaker"] == {"failures": 4, "probe_seconds": 30}
        assert stored["ordering"] == "fifo"
        # ... an invalid header is refused under its field, in the API's words
        page.get_by_test_id("edit-endpoint").click()
        page.get_by_label("Replace custom headers").fill("Authorization: Bearer x")
        page.get_by_role("button", name="Save changes").click()
        expect(page.locator(".field.textarea .field-error", has_text="reserved")).to_have_count(1)
        expect(page.get_by_test_id("endpoint-form").locator(".form-errors")).to_have_text(
            "Header 'Authorization' is reserved."
        )
        page.get_by_role("button", name="Cancel").click()
        # WHEN it is disabled and enabled again, THEN the status follows
        page.get_by_test_id("disable-endpoint").click()
        expect(page.get_by_test_id("endpoint-status")).to_contain_text("disabled")
        page.get_by_test_id("enable-endpoint").click()
        expect(page.get_by_test_id("endpoint-status")).to_contain_text("enabled")
        # WHEN the secret is revealed, then rotated, THEN each is shown in place
        page.get_by_test_id("reveal-secret").click()
        first = page.get_by_test_id("endpoint-secret").input_value()
        assert first == endpoint["secret"]
        page.get_by_test_id("rotate-secret").click()
        page.get_by_test_id("rotate-secret-yes").click()
        expect(page.get_by_test_id("endpoint-secret")).not_to_have_value(first)
        assert page.get_by_test_id("endpoint-secret").input_value().startswith("whsec_")
        # WHEN a test event is sent, THEN its attempt shows once the receiver answered
        # (POST .../test is merged from the console API's branch; until then this part has nothing to drive)
        if "/v1/endpoints/{endpoint_id}/test" in stack.request("GET", "/v1/openapi.json").json()["paths"]:
            page.get_by_role("button", name="Send test event").click()
            result = page.get_by_test_id("test-result")
            expect(result).to_contain_text("The receiver accepted the test event.", timeout=30_000)
            expect(result.get_by_test_id("attempt-code")).to_have_text("HTTP 200")
            assert receivers.at(path), "the receiver got the test event"
        assert page.evaluate("window.__notReloaded") is True
        s.guard.check(page)
        # WHEN it is deleted, THEN the list opens without it
        page.get_by_test_id("delete-endpoint").click()
        page.get_by_test_id("delete-endpoint-yes").click()
        expect(page.get_by_role("heading", name="Endpoints")).to_be_visible()
        s.wait_loaded()
        expect(page.get_by_role("link", name=receivers.url(path))).to_have_count(0)
        s.guard.check(page)


def error_of_label(page: Any, label: str) -> Any:
    """The inline error under the field with this label."""
    field = page.get_by_label(label)
    error_id = (field.get_attribute("aria-describedby") or "").split()[-1]
    return page.locator(f"[id='{error_id}']")
