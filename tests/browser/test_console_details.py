"""The console's details a newcomer tripped on (issue 19): the navigation marks the page shown, notices
stay with their page, a first visit is not told to sign in "again", chart labels and the signing select
read whole at 1280 and 390 px, words do not break mid-word, a phone shows that the navigation scrolls and
folds the message filters; and the reads the issue asked for: delivery summaries with source and
application names, source-only filters, sending a message that matched nothing to a chosen endpoint."""

from __future__ import annotations

import json
import uuid
from typing import Any

from playwright.sync_api import Browser, Page, Route, expect

from testkit.receivers import Receivers
from testkit.stack import Stack, wait_until
from tests.browser.harness import DESKTOP, PHONE, session
from tests.browser.pages import shots

START = 1_700_000_000 - 1_700_000_000 % 3600
HOURS = [
    {"start": START + i * 3600, "received": i, "delivered": i, "failed": 35 if i == 23 else 0, "rejected": 0}
    for i in range(24)
]
STATS = {
    "hours": HOURS,
    "totals": {k: sum(int(hr[k]) for hr in HOURS) for k in ("received", "delivered", "failed", "rejected")},
    "attention": [],
}
SUMMARY = {"pending": 1, "succeeded": 2, "failed": 1, "skipped": 0}


def _message(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"msg_{n:026d}",
        "application_id": "app_acme",
        "source_id": "src_shop",
        "event_type": "order.paid",
        "status": "stored",
        "received_at": START,
        "size": 120,
        "delivery_summary": SUMMARY,
        **fields,
    }


def _listing(*items: Any) -> dict[str, Any]:
    return {"data": list(items), "next_cursor": None}


def _serve(page: Page, pattern: str, doc: Any) -> None:
    page.route(pattern, lambda route: route.fulfill(status=200, json=doc))


def _names(page: Page) -> None:
    """The applications and sources lists, so names can be shown for ids."""
    _serve(page, "**/v1/applications?*", _listing({"id": "app_acme", "uid": "acme", "name": "Acme Corp"}))
    _serve(page, "**/v1/applications/app_acme", {"id": "app_acme", "uid": "acme", "name": "Acme Corp"})
    _serve(page, "**/v1/sources?*", _listing({"id": "src_shop", "name": "Shopify store"}))
    _serve(page, "**/v1/sources/src_shop", {"id": "src_shop", "name": "Shopify store"})


def _nav_current(page: Page) -> list[str]:
    return [
        str(a.text_content())
        for a in page.locator("nav a").all()
        if a.get_attribute("aria-current") == "page"
    ]


# --------------------------------------------------------------------------------------- navigation


def test_the_navigation_marks_the_page_shown_never_a_slower_earlier_one(
    browser: Browser, stack: Stack
) -> None:
    with session(browser, stack, "/console") as s:
        page = s.page
        held: list[Route] = []
        page.route("**/v1/stats?*", lambda route: held.append(route))
        # GIVEN the overview whose figures are slow to come
        page.goto(f"{stack.base}/console#/")
        for _ in range(150):  # the handler runs while Playwright waits, not while Python sleeps
            if held:
                break
            page.wait_for_timeout(100)
        assert held
        # WHEN the reader moves on to the sources before it has loaded, and then it loads
        page.get_by_role("navigation").get_by_role("link", name="Sources").click()
        page.get_by_role("heading", name="Sources", exact=True).wait_for()
        held[0].fulfill(status=200, json=STATS)
        page.wait_for_timeout(500)
        # THEN the sources are shown and marked, and only they
        expect(page.get_by_role("heading", name="Sources", exact=True)).to_be_visible()
        assert _nav_current(page) == ["Sources"]
        # ... and a page that is not there marks nothing
        page.goto(f"{stack.base}/console#/no-such-page")
        page.get_by_role("heading", name="Not found").wait_for()
        assert _nav_current(page) == []
        s.guard.check(page)


def test_a_notice_stays_with_the_page_it_was_about(browser: Browser, stack: Stack) -> None:
    source_id = stack.github_source()
    with session(browser, stack, "/console") as s:
        page = s.page
        # GIVEN a notice said on a source's page (the copy button's)
        s.open(f"/sources/{source_id}")
        page.get_by_role("button", name="Copy").first.click()
        expect(page.locator("#status .notice")).to_have_count(1)
        # WHEN the reader goes to another page at once
        page.get_by_role("navigation").get_by_role("link", name="Endpoints").click()
        s.wait_loaded()
        # THEN the notice is gone: it was about the page left behind
        expect(page.locator("#status .notice")).to_have_count(0)
        # ... while a change that leads to a page keeps its notice there
        s.open("/event-types")
        name = f"details.{uuid.uuid4().hex[:8]}"
        page.get_by_label("Name").first.fill(name)
        page.get_by_role("button", name="Add event type").click()
        page.get_by_role("heading", name=name).wait_for()
        expect(page.locator("#status .notice")).to_contain_text(f"Event type {name} added.")
        s.guard.check(page)


def test_a_first_visit_is_asked_to_sign_in_not_to_sign_in_again(browser: Browser, stack: Stack) -> None:
    with session(browser, stack, "/console", sign_in=False) as s:
        page = s.page
        # WHEN someone opens the console for the first time
        page.goto(f"{stack.base}/console")
        page.get_by_role("heading", name="Sign in to Hookway").wait_for()
        # THEN it asks them to sign in, without an alert about signing in again
        assert "again" not in page.locator("main").inner_text()
        expect(page.locator("main [role=alert]")).to_have_count(0)
        s.guard.check(page)


# ----------------------------------------------------------------------------------- the overview


def test_the_failed_figure_and_the_failed_list_say_what_each_counts(browser: Browser, stack: Stack) -> None:
    with session(browser, stack, "/console") as s:
        page = s.page
        # GIVEN 35 deliveries ended failed in the last 24 hours, and all were recovered since
        _serve(page, "**/v1/stats?*", STATS)
        _serve(page, "**/v1/messages?*", _listing())
        # WHEN the overview opens
        s.open("/")
        s.wait_loaded()
        # THEN the figure says it counts deliveries that ended failed, resent since or not
        card = page.get_by_test_id("total-failed")
        expect(card.locator(".figure")).to_have_text("35")
        expect(card).to_contain_text("ended failed")
        expect(card).to_contain_text("even if resent since")
        # ... and the list says it shows those failed now, never that none has ended failed
        part = page.locator("section.part", has=page.get_by_role("heading", name="Deliveries failed now"))
        expect(part).to_contain_text("No delivery is failed now")
        expect(part).to_contain_text("the Failed figure above still counts it")
        assert "No delivery has ended failed" not in page.locator("main").inner_text()
        s.guard.check(page)


_LABEL_SIZES = """() => {
  const out = [];
  const chart = document.querySelector('.chart');
  for (const t of chart.querySelectorAll('svg text')) {
    const svg = t.ownerSVGElement;
    const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
    out.push({text: t.textContent, px: parseFloat(t.getAttribute('font-size') || '16') * scale});
  }
  const shown = (e) => e.textContent.trim() && getComputedStyle(e).visibility !== 'hidden';
  for (const e of chart.querySelectorAll('.tick, .peak')) {
    if (shown(e)) out.push({text: e.textContent, px: parseFloat(getComputedStyle(e).fontSize)});
  }
  const rects = Array.from(chart.querySelectorAll('.tick')).filter(shown).map((e) => {
    const r = document.createRange(); r.selectNodeContents(e); return r.getBoundingClientRect();
  });
  const overlaps = rects.some((a, i) => rects.some((b, j) => i < j && a.right > b.left && b.right > a.left));
  return {labels: out, overlaps};
}"""


def test_the_chart_labels_read_at_the_pages_own_size_on_a_desktop_and_a_phone(
    browser: Browser, stack: Stack
) -> None:
    for size in (DESKTOP, PHONE):
        with session(browser, stack, "/console", size) as s:
            page = s.page
            _serve(page, "**/v1/stats?*", STATS)
            # WHEN the overview draws a day of traffic
            s.open("/")
            s.wait_loaded()
            measured = page.evaluate(_LABEL_SIZES)
            # THEN the hour labels and the peak are there, each between 12 and 18 px, none over another
            labels = measured["labels"]
            assert len(labels) >= 4, labels
            assert all(12 <= label["px"] <= 18 for label in labels), (size, labels)
            assert not measured["overlaps"], size
            s.shot("console-overview-chart")
            s.guard.check(page)


# -------------------------------------------------------------------------- words, phones, selects


_BROKEN_WORDS = """() => {
  // Every word of a table cell or a badge (not ids and URLs: .mono) sits on one line, if it fits one.
  const broken = [];
  for (const el of document.querySelectorAll('main td, main .badge')) {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.parentElement.closest('.mono')) continue;
      const room = node.parentElement.closest('td, .badge').getBoundingClientRect().width;
      for (const m of node.textContent.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const tops = new Set(Array.from(range.getClientRects()).map((r) => Math.round(r.top)));
        if (tops.size > 1 && range.getBoundingClientRect().width < room) broken.push(m[0]);
      }
    }
  }
  return broken;
}"""


def test_badges_and_table_cells_never_break_a_word(browser: Browser, stack: Stack) -> None:
    endpoints = [
        {
            "id": f"ep_{n:032d}",
            "url": f"https://receiver-{n}.example.com/webhooks/incoming/" + "x" * 40,
            "description": "Fulfilment warehouse notifications",
            "enabled": n % 2 == 0,
            "disabled_reason": None if n % 2 == 0 else "auto_disabled",
            "application_id": None,
            "filter": {"sources": ["src_shop"], "event_types": ["order.paid", "order.refunded"]},
        }
        for n in range(3)
    ]
    health = {
        "attempts": 12,
        "succeeded": 11,
        "success_rate": 0.9167,
        "failing_since": None,
        "last_error": None,
    }
    for size in (DESKTOP, PHONE):
        with session(browser, stack, "/console", size) as s:
            page = s.page
            _names(page)
            _serve(page, "**/v1/endpoints?*", _listing(*endpoints))
            _serve(page, "**/v1/endpoints/*/health", health)
            _serve(page, "**/v1/messages?*", _listing(*[_message(n) for n in range(3)]))
            for route, testid in (("/endpoints", "endpoints"), ("/messages", "messages")):
                # WHEN a list with badges and words in its cells is shown
                s.open(route)
                s.wait_loaded()
                expect(page.get_by_test_id(testid).locator("tbody tr")).to_have_count(3)
                # THEN no word is split over two lines
                assert page.evaluate(_BROKEN_WORDS) == [], (route, size)
                s.shot(f"console-{testid}-words")
            s.guard.check(page)


def test_on_a_phone_the_navigation_shows_it_scrolls_and_the_filters_fold(
    browser: Browser, stack: Stack
) -> None:
    with session(browser, stack, "/console", PHONE) as s:
        page = s.page
        # WHEN the messages open on a phone
        s.open("/messages")
        nav = page.get_by_role("navigation")
        # THEN the navigation, wider than the screen, fades out at its edge
        assert nav.evaluate("n => n.scrollWidth > n.clientWidth")
        assert (
            nav.evaluate("n => getComputedStyle(n).maskImage || getComputedStyle(n).webkitMaskImage")
            != "none"
        )
        # ... until it is scrolled to its end
        nav.evaluate("n => { n.scrollLeft = n.scrollWidth; }")
        page.wait_for_function(  # the fade follows the scroll (was: a fixed 200 ms, then the check)
            "n => (getComputedStyle(n).maskImage || getComputedStyle(n).webkitMaskImage) === 'none'",
            arg=nav.element_handle(),
        )
        assert (
            nav.evaluate("n => getComputedStyle(n).maskImage || getComputedStyle(n).webkitMaskImage")
            == "none"
        )
        # ... and the filters are folded under their summary, open on request
        filters = page.get_by_test_id("message-filters")
        expect(page.get_by_test_id("filter-event-type")).to_be_hidden()
        filters.locator("summary").click()
        expect(page.get_by_test_id("filter-event-type")).to_be_visible()
        shots(s, "console-messages-filters")
        s.guard.check(page)
    with session(browser, stack, "/console", DESKTOP) as s:
        # ... while on a desktop they are open from the start
        s.open("/messages?event_type=order.paid")
        expect(s.page.get_by_test_id("filter-event-type")).to_be_visible()
        expect(s.page.get_by_test_id("message-filters").locator("summary")).to_have_text("Filters (1 set)")


_SELECT_FITS = """(select) => {
  const style = getComputedStyle(select);
  const ctx = document.createElement('canvas').getContext('2d');
  ctx.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
  const room = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 24;
  return Array.from(select.options).filter((o) => ctx.measureText(o.text).width > room).map((o) => o.text);
}"""


def test_the_signing_select_shows_each_choice_whole(browser: Browser, stack: Stack) -> None:
    for size in (DESKTOP, PHONE):
        with session(browser, stack, "/console", size) as s:
            s.open("/endpoints/new")
            select = s.page.get_by_test_id("endpoint-signing")
            assert select.evaluate(_SELECT_FITS) == [], size
            s.guard.check(s.page)


def test_health_of_one_attempt_is_said_in_the_singular(browser: Browser, stack: Stack) -> None:
    endpoint = {
        "id": "ep_" + "1" * 32,
        "url": "https://one.example.com/hook",
        "description": "",
        "enabled": True,
        "disabled_reason": None,
        "application_id": None,
        "filter": {"sources": [], "event_types": []},
    }
    one = {"attempts": 1, "succeeded": 1, "success_rate": 1.0, "failing_since": None, "last_error": None}
    with session(browser, stack, "/console") as s:
        _serve(s.page, "**/v1/endpoints?*", _listing(endpoint))
        _serve(s.page, "**/v1/endpoints/*/health", one)
        s.open("/endpoints")
        expect(s.page.get_by_test_id("endpoint-health")).to_have_text("100% of the last attempt succeeded")


# ------------------------------------------------------------------------- what the lists now show


def test_endpoints_list_shows_a_source_only_filter_by_name(browser: Browser, stack: Stack) -> None:
    endpoint = {
        "id": "ep_" + "2" * 32,
        "url": "https://only-shop.example.com/hook",
        "description": "",
        "enabled": True,
        "disabled_reason": None,
        "application_id": None,
        "filter": {"sources": ["src_shop"], "event_types": []},
    }
    with session(browser, stack, "/console") as s:
        _names(s.page)
        _serve(s.page, "**/v1/endpoints?*", _listing(endpoint))
        s.open("/endpoints")
        # THEN the filter shows: every event type, from the one source, by its name
        expect(s.page.get_by_test_id("endpoint-filter-sources")).to_have_text("Shopify store (src_shop)")
        s.guard.check(s.page)


def test_messages_show_their_delivery_summary_and_their_source_and_application_by_name(
    browser: Browser, stack: Stack
) -> None:
    unmatched = _message(2, delivery_summary={"pending": 0, "succeeded": 0, "failed": 0, "skipped": 0})
    with session(browser, stack, "/console") as s:
        page = s.page
        _names(page)
        _serve(page, "**/v1/messages?*", _listing(_message(1), unmatched))
        # WHEN the list opens
        s.open("/messages")
        rows = page.get_by_test_id("messages").locator("tbody tr")
        expect(rows).to_have_count(2)
        # THEN each row says where its deliveries stand, and names its source and application
        expect(rows.nth(0).get_by_test_id("delivery-summary")).to_have_text("2 succeeded1 failed1 pending")
        expect(rows.nth(1).get_by_test_id("delivery-summary")).to_have_text("No endpoint")
        expect(rows.nth(0).get_by_role("link", name="Shopify store")).to_be_visible()
        expect(rows.nth(0).get_by_role("link", name="Acme Corp")).to_be_visible()
        s.guard.check(page)


def test_a_message_that_matched_nothing_is_sent_to_an_endpoint_chosen_in_its_page(
    browser: Browser, stack: Stack, receivers: Receivers
) -> None:
    # GIVEN an application's message that matched no endpoint (it had none), then an endpoint added,
    # and another application's endpoint (never offered)
    apps = [
        stack.request("POST", "/v1/applications", json_body={"name": f"App {n}"}, admin=True).json()["id"]
        for n in range(2)
    ]
    event_type = f"unmatched.{uuid.uuid4().hex[:8]}"
    sent = stack.request(
        "POST",
        "/v1/messages",
        json_body={"event_type": event_type, "payload": {"n": 1}, "application": apps[0]},
        admin=True,
    )
    assert sent.status == 202, sent.body
    message_id = sent.json()["id"]
    wait_until(lambda: stack.request("GET", f"/v1/messages/{message_id}", admin=True).status == 200)
    path = f"/chosen-{uuid.uuid4().hex[:8]}"
    mine = stack.request(
        "POST", "/v1/endpoints", json_body={"url": receivers.url(path), "application": apps[0]}, admin=True
    )
    theirs = stack.request(
        "POST",
        "/v1/endpoints",
        json_body={"url": receivers.url("/theirs"), "application": apps[1]},
        admin=True,
    )
    assert mine.status == theirs.status == 201, (mine.body, theirs.body)
    with session(browser, stack, "/console") as s:
        page = s.page
        # WHEN the operator opens the message
        s.open(f"/messages/{message_id}")
        expect(page.get_by_test_id("deliveries")).to_contain_text("Send it to an endpoint below")
        expect(page.get_by_test_id("delivery-summary")).to_have_text("No endpoint")
        choice = page.get_by_test_id("send-to-endpoint")
        # THEN only the owner's endpoint is offered (the chooser is drawn once the owner's endpoints load)
        expect(choice.locator("option")).to_have_count(1)
        assert [o.get_attribute("value") for o in choice.locator("option").all()] == [mine.json()["id"]]
        shots(s, "console-message-send-to")
        # WHEN they send it there
        page.get_by_test_id("send-to-submit").click()
        # THEN it is delivered, and the page shows the delivery
        delivery = page.locator(f"[data-testid=delivery][data-endpoint='{mine.json()['id']}']")
        expect(delivery.locator(".badge").first).to_have_text("succeeded", timeout=30_000)
        assert wait_until(lambda: receivers.at(path), timeout=10)
        s.guard.check(page)


def test_the_signing_choices_are_the_served_signing_modes(browser: Browser, stack: Stack) -> None:
    # GIVEN the served metadata with one signing mode relabelled as markup (a new mode module's label)
    served = stack.request("GET", "/v1/schemes").json()
    served["signing_modes"][-1]["label"] = "<i>Relay</i>"
    with session(browser, stack, "/console") as s:
        s.page.route(
            "**/v1/schemes",
            lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(served)),
        )
        # WHEN the new-endpoint form opens
        s.open("/endpoints/new")
        select = s.page.get_by_test_id("endpoint-signing")
        # THEN its choices are the served modes, in order, shown as text
        expect(select.locator("option")).to_have_count(len(served["signing_modes"]))
        assert select.locator("option").all_text_contents() == [m["label"] for m in served["signing_modes"]]
        assert select.input_value() == served["signing_modes"][0]["name"]
        assert s.page.locator("main i").count() == 0
        s.guard.check(s.page)
