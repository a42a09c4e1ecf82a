"""The overview: traffic per hour as a chart with a table behind it, totals that open their lists, the
endpoints that need attention and the failed deliveries; with no stats API (404) the rest still shows."""

from __future__ import annotations

import json
import uuid

from playwright.sync_api import Browser, expect

from testkit.stack import Stack, github_headers, wait_until
from tests.browser.harness import session
from tests.browser.pages import shots


def totals(stack: Stack) -> dict[str, int] | None:
    reply = stack.request("GET", "/v1/stats?hours=24", admin=True)
    if reply.status == 404:
        return None
    assert reply.status == 200, reply.body
    return dict(reply.json()["totals"])


def test_the_overview_counts_the_traffic_and_links_each_figure_to_its_list(
    browser: Browser, stack: Stack
) -> None:
    # GIVEN some traffic: a webhook accepted and one refused
    source_id = stack.github_source()
    body = json.dumps({"ref": "refs/heads/main"}).encode()
    before = totals(stack)
    accepted = stack.request(
        "POST", f"/in/{source_id}", body=body, headers=github_headers(body, uuid.uuid4().hex)
    )
    assert accepted.status == 202, accepted.body
    refused = github_headers(body, uuid.uuid4().hex, secret="wrong-secret")
    assert stack.request("POST", f"/in/{source_id}", body=body, headers=refused).status == 401
    if before is not None:
        wait_until(
            lambda: (now := totals(stack))
            and now["received"] > before["received"]
            and now["rejected"] > before["rejected"]
        )
    with session(browser, stack, "/console") as s:
        page = s.page
        # WHEN the overview opens
        s.open("/")
        page.get_by_role("heading", name="Deliveries failed now").wait_for()
        s.wait_loaded()
        shots(s, "console-overview")
        if before is None:
            # THEN without the stats API the page says where the figures will be and shows the rest
            expect(
                page.get_by_text("Traffic figures appear here once this deployment has the stats API.")
            ).to_be_visible()
        else:
            # THEN each total is the API's, and opens its list
            now = totals(stack)
            assert now is not None
            for key, href in (
                ("received", "#/messages"),
                ("failed", "#/messages?status=failed"),
                ("rejected", "#/sources"),
            ):
                card = page.get_by_test_id(f"total-{key}")
                expect(card.locator(".figure")).to_have_text(str(now[key]))
                assert card.get_attribute("href") == href
            # ... the chart has its text alternative and each hour's figures in a table
            expect(page.get_by_test_id("chart").locator("title")).to_contain_text("over the last 24 hours")
            page.get_by_text("Show the figures per hour").click()
            expect(page.get_by_test_id("hours").locator("tbody tr")).to_have_count(24)
            shots(s, "console-overview-hours")
            # ... and the rejected card leads to the sources
            page.get_by_test_id("total-rejected").click()
            page.get_by_role("heading", name="Sources", exact=True).wait_for()
        s.guard.check(page)


def test_the_chart_cards_and_attention_list_draw_what_the_stats_api_says(
    browser: Browser, stack: Stack
) -> None:
    # GIVEN the stats API's answer (its contract, served in the browser so the test holds on any stack),
    # with an endpoint whose URL carries markup
    start = 1_700_000_000 - 1_700_000_000 % 3600
    hours = [
        {
            "start": start + i * 3600,
            "received": i,
            "delivered": max(0, i - 2),
            "failed": i % 3,
            "rejected": i % 2,
        }
        for i in range(24)
    ]
    sums = {k: sum(int(hr[k]) for hr in hours) for k in ("received", "delivered", "failed", "rejected")}
    attention = [
        {
            "id": "ep_" + "a" * 32,
            "application_id": None,
            "url": "https://x.example/<img src=x onerror=alert(1)>",
            "enabled": False,
            "disabled_reason": "auto_disabled",
            "failing_since": None,
            "updated_at": start,
            "kind": "http",
        },
        {
            "id": "ep_" + "b" * 32,
            "application_id": "app_" + "c" * 32,
            "url": "https://y.example/hook",
            "enabled": True,
            "disabled_reason": None,
            "failing_since": start,
            "updated_at": start,
            "kind": "http",
        },
    ]
    doc = {"hours": hours, "totals": sums, "attention": attention}
    with session(browser, stack, "/console") as s:
        page = s.page
        page.route("**/v1/stats?*", lambda route: route.fulfill(status=200, json=doc))
        # WHEN the overview opens
        s.open("/")
        s.wait_loaded()
        # THEN the totals are the API's, one bar per hour and series, the figures in a table
        for key, value in sums.items():
            expect(page.get_by_test_id(f"total-{key}").locator(".figure")).to_have_text(str(value))
        expect(page.get_by_test_id("chart").locator("rect")).to_have_count(24 * 4)
        expect(page.get_by_test_id("hours").locator("tbody tr")).to_have_count(24)
        # ... and the endpoints that need attention, their URLs as text, each linking to its page
        table = page.get_by_test_id("attention")
        first = table.get_by_role("link", name="https://x.example/<img src=x onerror=alert(1)>")
        assert first.get_attribute("href") == f"#/endpoints/ep_{'a' * 32}"
        expect(table).to_contain_text("auto_disabled")
        expect(table.locator("tbody tr").nth(1)).to_contain_text("failing")
        assert page.locator("main img").count() == 0
        shots(s, "console-overview-traffic")
        s.guard.check(page)
