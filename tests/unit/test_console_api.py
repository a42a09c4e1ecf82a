"""What the console and the portal read, on fakes: hourly counters, attention, health, test events, branding."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.api import access
from chalicelib.api.applications import parse_create as parse_create_application
from chalicelib.api.applications import parse_update as parse_update_application
from chalicelib.api.console import overview_of, parse_overview
from chalicelib.api.endpoints import health_of, parse_recover, parse_send_test
from chalicelib.api.endpoints import parse_create as parse_create_endpoint
from chalicelib.api.messages import parse_publish, parse_resend, parse_search
from chalicelib.branding import Branding, BrandingError, check_accent
from chalicelib.config import Settings
from chalicelib.errors import ConfigError, ConflictError, ForbiddenError, StorageError, ValidationError
from chalicelib.models import Attempt
from chalicelib.outbound import egress
from chalicelib.outbound.tasks import Task
from chalicelib.scope import OPERATOR, Scope
from chalicelib.tally import Tally, hour_of
from testkit.fakes import FakeClock, MemoryStore
from tests.conftest import Services, github_headers, inbound, make_services


class Receiver:
    """Answers each POST with its URL's status in ``by_url``, else the next status of its script (then 200).

    A batch goes out concurrently, so a test with several endpoints answers by URL, not by order."""

    def __init__(self) -> None:
        self.script: list[int] = []
        self.by_url: dict[str, int] = {}
        self.urls: list[str] = []

    def __call__(self, request: egress.OutboundRequest) -> egress.OutboundResponse:
        self.urls.append(request.url)
        if request.url in self.by_url:
            status = self.by_url[request.url]
        else:
            status = self.script.pop(0) if self.script else 200
        return egress.OutboundResponse(
            status=status, headers={}, body=b"nope" if status >= 300 else b"ok", duration=0.01, address="x"
        )


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def s(receiver: Receiver) -> Services:
    return make_services(
        parts={
            "transport": egress.FunctionTransport(receiver),
            "rand": lambda: 0.5,
            "resolver": lambda host, port: ["93.184.215.14"],
        },
        stage="test",
        # These tests drive the sender through the deliveries queue (_route_batch, then _send_batch).
        router_first_attempt=False,
    )


def _endpoint(s: Services, url: str, **doc: Any) -> str:
    return s.api.endpoints.create(parse_create_endpoint({"url": url, **doc}), OPERATOR)[0].id


def _route_batch(s: Services) -> None:
    assert s.router.route_many(list(s.queue.sent)) == [None] * len(s.queue.sent)
    s.queue.sent.clear()


def _send_batch(s: Services) -> list[BaseException | None]:
    """Handle what the deliveries queue holds as one batch, moving the clock to the latest due time."""
    tasks = list(s.deliveries.sent)
    s.deliveries.sent.clear()
    s.deliveries.delays.clear()
    s.clock.now = max([s.clock.now, *(Task.decode(t).not_before for t in tasks)])
    return s.worker.sender.handle_many(tasks)


def _hour(s: Services) -> int:
    return hour_of(s.clock())


# ------------------------------------------------------------------------------------ hourly counters


def test_received_delivered_failed_and_rejected_are_counted_once_per_batch(
    s: Services, receiver: Receiver
) -> None:
    # GIVEN an endpoint that succeeds twice, then fails for good (one attempt only)
    _endpoint(s, "https://hooks.example.com/in", retry_schedule=[0])
    receiver.script = [200, 200, 500]
    sid = s.github_source()
    for i in range(3):
        body = b'{"n": %d}' % i
        s.ingest.receive(inbound(sid, body, github_headers(body, delivery=f"d-{i}")))
    # ... and two requests that fail verification
    for _ in range(2):
        with pytest.raises(Exception, match="signature"):
            s.ingest.receive(inbound(sid, b"{}", github_headers(b"{}", secret="wrong-secret-value")))
    s.api.rejection_log.settle()  # rejections are written in aggregate, at most once a second
    writes = s.store.writes
    # WHEN the router and the sender each handle their batch
    _route_batch(s)
    s.clock.advance(1.0)  # a container writes its counters at most once a second (chalicelib.tally)
    assert _send_batch(s) == [None] * 3
    # THEN the hour holds every outcome, and each batch cost one counter write (3 messages, their
    # batch's packed listing, 3 claims,
    # 2 results: the failure's and one result item for the batch's two successes, 1 failure clock,
    # 1 count of the circuit breaker's consecutive failures, 2 counter writes)
    assert s.store.get_counts([_hour(s)])[_hour(s)] == {
        "received": 3,
        "delivered": 2,
        "failed": 1,
        "rejected": 2,
    }
    assert s.store.writes - writes == 3 + 1 + 3 + 2 + 1 + 1 + 2
    overview = overview_of(s.api.stats.overview(parse_overview({"hours": "2"}), OPERATOR))
    assert [h["start"] for h in overview["hours"]] == [_hour(s) - 3600, _hour(s)]
    assert overview["hours"][0] == {
        "start": _hour(s) - 3600,
        "received": 0,
        "delivered": 0,
        "failed": 0,
        "rejected": 0,
    }
    assert overview["totals"] == {"received": 3, "delivered": 2, "failed": 1, "rejected": 2}


def test_a_counter_write_that_fails_never_fails_a_delivery(s: Services) -> None:
    # GIVEN a store whose counter writes fail
    _endpoint(s, "https://hooks.example.com/in")
    s.api.publisher.publish(parse_publish({"event_type": "a.b", "payload": {}}), OPERATOR)

    def broken(hour: int, counts: Any) -> None:
        raise StorageError("DynamoDB update_item failed: ProvisionedThroughputExceededException")

    s.store.add_counts = broken  # type: ignore[method-assign]
    # WHEN the batches run THEN every message is stored and delivered, nothing raised or retried
    _route_batch(s)
    assert _send_batch(s) == [None]
    assert s.deliveries.sent == []
    [attempt] = s.store.attempts.values()
    assert attempt.delivery_status == "succeeded"


def test_the_tally_writes_at_most_once_a_second_and_a_timer_writes_the_rest() -> None:
    # GIVEN a tally whose timer is held by the test
    clock = FakeClock(7200.0 * 1000)
    store = MemoryStore(clock)
    timers: list[tuple[float, Any]] = []
    tally = Tally(store, clock, timer=lambda delay, action: timers.append((delay, action)))
    # WHEN ten batches of a busy container end within 0.9 s, each flushing
    for _ in range(10):
        tally.add("received", clock())
        tally.flush()
        clock.advance(0.1)
    # THEN the first batch's counts were written at once, the other nine wait for one timer
    assert store.writes == 1
    assert [round(delay, 3) for delay, _ in timers] == [0.9]
    # AND the timer writes them, in one write
    timers[0][1]()
    assert store.writes == 2
    assert store.get_counts([int(clock())])[int(clock())]["received"] == 10


def test_the_tally_writes_one_update_per_hour_touched() -> None:
    clock = FakeClock(7200.0 * 1000)
    store = MemoryStore(clock)
    tally = Tally(store, clock)
    for at in (clock(), clock() + 10, clock() + 3600, clock() + 3601):
        tally.add("received", at)
    tally.add("failed", clock(), 3)
    tally.flush()
    tally.flush()  # nothing new: no write
    assert store.writes == 2
    assert store.get_counts([int(clock()), int(clock()) + 3600]) == {
        int(clock()): {"received": 2, "delivered": 0, "failed": 3, "rejected": 0},
        int(clock()) + 3600: {"received": 2, "delivered": 0, "failed": 0, "rejected": 0},
    }


@pytest.mark.parametrize("hours", ["0", "169", "x", "-1", "1.5", ""])
def test_a_window_out_of_range_is_a_stable_400(s: Services, hours: str) -> None:
    with pytest.raises(Exception) as err:
        s.api.stats.overview(parse_overview({"hours": hours}), OPERATOR)
    assert getattr(err.value, "code", None) == "invalid_hours"


def test_the_overview_is_the_operators_only(s: Services) -> None:
    app = s.api.applications.create(parse_create_application({"name": "A"}), OPERATOR)
    with pytest.raises(ForbiddenError):
        access.check(Scope(application_id=app.id), "GET", "/v1/stats")
    assert len(overview_of(s.api.stats.overview(parse_overview({"hours": "168"}), OPERATOR))["hours"]) == 168


# ------------------------------------------------------------------------------------------ attention


def test_failing_and_disabled_endpoints_of_every_owner_need_attention_newest_first(
    s: Services, receiver: Receiver
) -> None:
    c = s.api
    app = c.applications.create(parse_create_application({"name": "A"}), OPERATOR)
    healthy = _endpoint(s, "https://hooks.example.com/ok")
    failing = _endpoint(s, "https://hooks.example.com/fail", application=app.id)
    s.clock.advance(10)
    disabled = _endpoint(s, "https://hooks.example.com/off")
    c.endpoints.set_enabled(disabled, False, OPERATOR)
    # WHEN the application's endpoint starts failing (its first failed attempt)
    s.clock.advance(10)
    receiver.script = [500]
    c.publisher.publish(parse_publish({"event_type": "a.b", "payload": {}, "application": app.id}), OPERATOR)
    _route_batch(s)
    _send_batch(s)
    # THEN both unhealthy endpoints are listed, the most recent change first; the healthy one is not
    listed = overview_of(c.stats.overview(parse_overview({}), OPERATOR))["attention"]
    assert [(e["id"], e["application_id"], e["enabled"]) for e in listed] == [
        (failing, app.id, True),
        (disabled, None, False),
    ]
    assert (
        listed[0]["failing_since"] == s.clock() and listed[1]["disabled_reason"] == "disabled by an operator"
    )
    assert healthy not in {e["id"] for e in listed}
    # WHEN the failing one succeeds again and the disabled one is enabled THEN nothing needs attention
    _send_batch(s)  # its retry: 200
    c.endpoints.set_enabled(disabled, True, OPERATOR)
    assert overview_of(c.stats.overview(parse_overview({}), OPERATOR))["attention"] == []


def test_an_endpoint_disabled_by_the_sender_stays_listed_until_it_is_enabled(s: Services) -> None:
    c = s.api
    endpoint_id = _endpoint(s, "https://hooks.example.com/gone")
    s.store.disable_endpoint(endpoint_id, "the endpoint answered 410 Gone", s.clock())
    s.store.set_endpoint_failing(endpoint_id, s.clock())
    s.store.set_endpoint_failing(endpoint_id, None)  # a stale success: still disabled
    [entry] = overview_of(c.stats.overview(parse_overview({}), OPERATOR))["attention"]
    assert (entry["id"], entry["enabled"], entry["failing_since"]) == (endpoint_id, False, None)
    c.endpoints.delete(endpoint_id, OPERATOR)
    assert overview_of(c.stats.overview(parse_overview({}), OPERATOR))["attention"] == []


# --------------------------------------------------------------------------------------------- health


def _attempt(endpoint_id: str, n: int, at: float, status: str, **fields: Any) -> Attempt:
    return Attempt(
        message_id=f"msg_{n}",
        endpoint_id=endpoint_id,
        number=1,
        claim_id=f"clm_{n}",
        started_at=at,
        status=status,  # type: ignore[arg-type]
        delivery_status="pending" if status == "in_flight" else status,  # type: ignore[arg-type]
        generation="g",
        **fields,
    )


def test_health_is_judged_on_the_most_recent_fifty_attempts(s: Services) -> None:
    endpoint_id = _endpoint(s, "https://hooks.example.com/h")
    now = s.clock()
    # 60 old successes, then 20 failures, 29 successes and one in flight: the newest 50
    for n in range(60):
        s.store.attempts[(f"msg_{n}", endpoint_id, "g", 1)] = _attempt(endpoint_id, n, now + n, "succeeded")
    for n in range(60, 80):
        s.store.attempts[(f"msg_{n}", endpoint_id, "g", 1)] = _attempt(
            endpoint_id, n, now + n, "failed", response_status=503, response_body="x" * 500
        )
    for n in range(80, 109):
        s.store.attempts[(f"msg_{n}", endpoint_id, "g", 1)] = _attempt(endpoint_id, n, now + n, "succeeded")
    s.store.attempts[("msg_109", endpoint_id, "g", 1)] = _attempt(endpoint_id, 109, now + 109, "in_flight")
    health = health_of(s.api.endpoints.health(endpoint_id, OPERATOR))
    assert health["window"] == 50
    assert (health["attempts"], health["succeeded"], health["success_rate"]) == (49, 29, round(29 / 49, 4))
    assert health["last_attempt_at"] == health["last_success_at"] == now + 108
    assert health["last_error"] == {
        "at": now + 79,
        "status_code": 503,
        "error_class": None,
        "error": "HTTP 503",
        "response_excerpt": "x" * 200,
    }
    assert (health["enabled"], health["disabled_reason"], health["failing_since"]) == (True, None, None)


def test_health_of_an_endpoint_without_attempts_has_no_rate(s: Services) -> None:
    endpoint_id = _endpoint(s, "https://hooks.example.com/new")
    health = health_of(s.api.endpoints.health(endpoint_id, OPERATOR))
    assert (health["window"], health["success_rate"], health["last_error"]) == (0, None, None)


# ---------------------------------------------------------------------------------------- test events


def test_a_test_event_reaches_its_endpoint_only_whatever_its_filter(s: Services, receiver: Receiver) -> None:
    c = s.api
    app = c.applications.create(parse_create_application({"name": "A"}), OPERATOR)
    # GIVEN two endpoints of one application, the target filtering on a type the test event is not
    target = _endpoint(
        s, "https://hooks.example.com/target", application=app.id, filter={"event_types": ["x.*"]}
    )
    _endpoint(s, "https://hooks.example.com/sibling", application=app.id)
    _endpoint(s, "https://hooks.example.com/operator")
    token = Scope(application_id=app.id)
    # WHEN the application's token sends a test event to the target
    message_id, _ = c.publisher.send_test(target, parse_send_test({}), token)
    _route_batch(s)
    assert _send_batch(s) == [None]
    # THEN only the target got it, as an ordinary message of the application
    assert receiver.urls == ["https://hooks.example.com/target"]
    message = s.store.get_message(message_id)
    assert (message.application_id, message.event_type, message.endpoints) == (
        app.id,
        "hookway.test",
        (target,),
    )
    sent = json.loads(message.body or b"")
    assert (sent["type"], sent["data"]) == (
        "hookway.test",
        {"test": True, "endpoint_id": target, "sent_at": s.clock()},
    )
    found = c.messages.search(parse_search({}), token, _page()).items
    assert [m.id for m in found] == [message_id]
    assert [a.message_id for a in c.endpoints.attempts(target, token, _page()).items] == [message_id]


def test_a_test_event_to_a_disabled_endpoint_is_a_409(s: Services) -> None:
    endpoint_id = _endpoint(s, "https://hooks.example.com/off", enabled=False)
    with pytest.raises(ConflictError) as err:
        s.api.publisher.send_test(endpoint_id, parse_send_test({}), OPERATOR)
    assert err.value.code == "endpoint_disabled"
    assert s.queue.sent == []


def test_a_test_event_skips_a_strict_catalog_only_for_its_own_type() -> None:
    s = make_services(strict_event_types=True, allow_private_destinations=True, allow_http=True)
    endpoint_id = s.api.endpoints.create(parse_create_endpoint({"url": "http://127.0.0.1:9/x"}), OPERATOR)[
        0
    ].id
    s.api.publisher.send_test(endpoint_id, parse_send_test({}), OPERATOR)
    with pytest.raises(Exception) as err:
        s.api.publisher.send_test(endpoint_id, parse_send_test({"event_type": "not.in.catalog"}), OPERATOR)
    assert getattr(err.value, "code", None) == "unknown_event_type"


@pytest.mark.parametrize(
    "body", [{"event_type": ""}, {"event_type": 0}, {"event_type": "a b"}, {"to": "x"}, []]
)
def test_a_malformed_test_event_is_a_400(s: Services, body: Any) -> None:
    endpoint_id = _endpoint(s, "https://hooks.example.com/x")
    with pytest.raises(ValidationError):
        s.api.publisher.send_test(endpoint_id, parse_send_test(body), OPERATOR)
    assert s.queue.sent == []


def test_another_applications_endpoint_cannot_be_tested(s: Services) -> None:
    c = s.api
    a = c.applications.create(parse_create_application({"name": "A"}), OPERATOR)
    b = c.applications.create(parse_create_application({"name": "B"}), OPERATOR)
    theirs = _endpoint(s, "https://hooks.example.com/b", application=b.id)
    with pytest.raises(Exception) as err:
        c.publisher.send_test(theirs, parse_send_test({}), Scope(application_id=a.id))
    assert getattr(err.value, "code", None) == "endpoint_not_found"
    # ... and a read-only token of its own application may not send one (the route's declared access)
    with pytest.raises(ForbiddenError):
        access.check(Scope(application_id=b.id, read_only=True), "POST", "/v1/endpoints/{endpoint_id}/test")


def _page() -> Any:
    from chalicelib.ports import PageRequest

    return PageRequest(50)


# ------------------------------------------------------------------------------------------- branding


def test_an_applications_branding_is_validated_stored_and_laid_over_the_deployments() -> None:
    s = make_services(
        portal_name="Platform", portal_accent="#111111", portal_logo_url="https://p.example/l.png"
    )
    c = s.api
    app = c.applications.create(
        parse_create_application({"name": "A", "branding": {"name": "Acme", "accent": "#8A1C7C"}}), OPERATOR
    )
    assert s.store.get_application(app.id).branding == Branding("Acme", None, "#8a1c7c")
    token = Scope(application_id=app.id)
    assert c.applications.branding(token) == Branding("Acme", "https://p.example/l.png", "#8a1c7c")
    assert c.applications.branding(OPERATOR) == Branding("Platform", "https://p.example/l.png", "#111111")
    c.applications.update(app.id, parse_update_application({"branding": None}), OPERATOR)
    assert c.applications.branding(token) == Branding("Platform", "https://p.example/l.png", "#111111")


@pytest.mark.parametrize(
    ("branding", "field"),
    [
        ({"name": "x" * 81}, "branding.name"),
        ({"name": "   "}, "branding.name"),
        ({"logo_url": "http://acme.example/logo.png"}, "branding.logo_url"),
        ({"logo_url": "javascript:alert(1)"}, "branding.logo_url"),
        ({"logo_url": "https://" + "a" * 2048}, "branding.logo_url"),
        ({"logo_url": 'https://acme.example/"onerror="x'}, "branding.logo_url"),
        ({"accent": "red"}, "branding.accent"),
        ({"accent": "#12345"}, "branding.accent"),
        ({"accent": "#1234567"}, "branding.accent"),
        ({"accent": "#abcdef"}, "branding.accent"),  # 1.6:1 with white: unreadable buttons and links
        ({"accent": "#2f8cff"}, "branding.accent"),
        ({"font": "Comic Sans"}, "branding.font"),
        ("Acme", "branding"),
    ],
)
def test_bad_branding_is_a_400_naming_the_field(s: Services, branding: Any, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        s.api.applications.create(parse_create_application({"name": "A", "branding": branding}), OPERATOR)
    assert (err.value.code, err.value.field) == ("invalid_branding", field)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HOOKWAY_PORTAL_LOGO_URL", "http://p.example/l.png"),
        ("HOOKWAY_PORTAL_ACCENT", "blue"),
        ("HOOKWAY_PORTAL_ACCENT", "#ffee00"),  # white text on it cannot be read
        ("HOOKWAY_PORTAL_NAME", "n" * 81),
        ("HOOKWAY_PORTAL_FRAME_ANCESTORS", "http://app.example.com"),
        ("HOOKWAY_PORTAL_FRAME_ANCESTORS", "https://app.example.com/path"),
        ("HOOKWAY_PORTAL_FRAME_ANCESTORS", "*"),
        ("HOOKWAY_PORTAL_FRAME_ANCESTORS", "'unsafe-inline'"),
    ],
)
def test_unusable_portal_settings_are_clear_startup_errors(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env({name: value})
    assert name in err.value.message


def test_portal_settings_and_their_defaults() -> None:
    defaults = Settings.from_env({})
    assert (defaults.portal_name, defaults.portal_logo_url, defaults.portal_accent) == (
        "Webhooks",
        "",
        "#2563eb",
    )
    assert (defaults.portal_frame_ancestors, defaults.portal_frame_ancestors_csp) == ("", "'none'")
    s = Settings.from_env(
        {
            "HOOKWAY_PORTAL_NAME": "Acme Platform",
            "HOOKWAY_PORTAL_LOGO_URL": "https://acme.example/logo.svg",
            "HOOKWAY_PORTAL_ACCENT": "#0F766E",
            "HOOKWAY_PORTAL_FRAME_ANCESTORS": "  https://app.example.com 'self'   https://*.acme.example:8443 ",
        }
    )
    assert s.portal_branding == Branding("Acme Platform", "https://acme.example/logo.svg", "#0f766e")
    assert s.portal_frame_ancestors == "https://app.example.com 'self' https://*.acme.example:8443"
    assert s.portal_frame_ancestors_csp == s.portal_frame_ancestors


def test_an_accent_is_judged_by_its_contrast_with_white() -> None:
    from chalicelib.branding import contrast_with_white

    assert contrast_with_white("#ffffff") == pytest.approx(1.0)
    assert contrast_with_white("#000000") == pytest.approx(21.0)
    assert contrast_with_white("#767676") == pytest.approx(4.54, abs=0.01)  # the lightest AA grey
    assert check_accent("#767676") == "#767676"
    with pytest.raises(BrandingError) as caught:
        check_accent("#777777")
    assert caught.value.field == "accent" and "4.5:1" in str(caught.value)


# ------------------------------------------------------------------------------ delivery summaries


def test_a_message_and_the_list_say_how_many_deliveries_are_in_each_status(
    s: Services, receiver: Receiver
) -> None:
    c = s.api
    # GIVEN three endpoints: one succeeds, one fails for good, one is disabled after the message matched
    _endpoint(s, "https://hooks.example.com/ok", retry_schedule=[0])
    _endpoint(s, "https://hooks.example.com/bad", retry_schedule=[0])
    waiting = _endpoint(s, "https://hooks.example.com/later", retry_schedule=[0, 3600])
    receiver.by_url = {
        "https://hooks.example.com/ok": 200,
        "https://hooks.example.com/bad": 500,
        "https://hooks.example.com/later": 500,
    }
    message_id = c.publisher.publish(parse_publish({"event_type": "a.b", "payload": {}}), OPERATOR)
    _route_batch(s)
    _send_batch(s)
    writes = s.store.writes
    # WHEN the message and the list are read
    shown = c.messages.get(message_id, OPERATOR)
    listed = c.messages.listing(parse_search({}), OPERATOR, _page()).items
    # THEN each says what its deliveries are, counted from the attempts, without a write
    expected = {"pending": 1, "succeeded": 1, "failed": 1, "skipped": 0}
    assert shown.summary == expected
    assert [(m.message.id, m.summary) for m in listed] == [(message_id, expected)]
    assert waiting in [d.endpoint_id for d in shown.deliveries if d.status == "pending"]
    assert s.store.writes == writes
    # ... and the status filter's page carries the same summary
    failed = c.messages.listing(parse_search({"status": "failed"}), OPERATOR, _page()).items
    assert [m.summary for m in failed] == [expected]


def test_a_message_that_matched_nothing_has_an_empty_summary(s: Services) -> None:
    message_id = s.api.publisher.publish(parse_publish({"event_type": "a.b", "payload": {}}), OPERATOR)
    _route_batch(s)
    shown = s.api.messages.get(message_id, OPERATOR)
    assert shown.summary == {"pending": 0, "succeeded": 0, "failed": 0, "skipped": 0}


# ------------------------------------------------------------------- messages that matched nothing


def test_a_message_that_matched_nothing_can_be_resent_to_a_chosen_endpoint(
    s: Services, receiver: Receiver
) -> None:
    c = s.api
    # GIVEN a message that matched no endpoint, then an endpoint added
    message_id = c.publisher.publish(parse_publish({"event_type": "a.b", "payload": {}}), OPERATOR)
    _route_batch(s)
    assert s.store.get_message(message_id).endpoints == ()
    endpoint_id = _endpoint(s, "https://hooks.example.com/new")
    # WHEN it is resent to that endpoint
    assert c.recovery.resend(message_id, parse_resend({"endpoint_ids": [endpoint_id]}), OPERATOR) == [
        endpoint_id
    ]
    assert _send_batch(s) == [None]
    # THEN it is delivered there, and the message shows the delivery
    assert receiver.urls == ["https://hooks.example.com/new"]
    shown = c.messages.get(message_id, OPERATOR)
    assert [(d.endpoint_id, d.status) for d in shown.deliveries] == [(endpoint_id, "succeeded")]


def test_recover_can_include_the_messages_that_matched_nothing_in_its_window_and_filter(
    s: Services, receiver: Receiver
) -> None:
    c = s.api
    app = c.applications.create(parse_create_application({"name": "A"}), OPERATOR)
    # GIVEN messages that matched nothing: one before the window, two in it (one of another type),
    # one of an application, and one that matched an endpoint
    old = c.publisher.publish(parse_publish({"event_type": "order.paid", "payload": {}}), OPERATOR)
    s.clock.advance(600)
    since = s.clock()
    wanted = c.publisher.publish(parse_publish({"event_type": "order.paid", "payload": {}}), OPERATOR)
    other_type = c.publisher.publish(parse_publish({"event_type": "user.new", "payload": {}}), OPERATOR)
    tenants = c.publisher.publish(
        parse_publish({"event_type": "order.paid", "payload": {}, "application": app.id}), OPERATOR
    )
    _route_batch(s)
    listener = _endpoint(s, "https://hooks.example.com/first", filter={"event_types": ["order.*"]})
    matched = c.publisher.publish(parse_publish({"event_type": "order.paid", "payload": {}}), OPERATOR)
    _route_batch(s)
    assert _send_batch(s) == [None]
    receiver.urls.clear()
    # ... and a new endpoint for order.* events
    endpoint_id = _endpoint(s, "https://hooks.example.com/new", filter={"event_types": ["order.*"]})
    # WHEN recover runs on the new endpoint without, then with include_unmatched
    assert c.recovery.recover(endpoint_id, parse_recover({"since": since}), OPERATOR) == []
    found = c.recovery.recover(
        endpoint_id, parse_recover({"since": since, "include_unmatched": True}), OPERATOR
    )
    # THEN only the unmatched message in the window, of its owner and filter, is sent to it, once
    assert found == [wanted]
    assert _send_batch(s) == [None]
    assert receiver.urls == ["https://hooks.example.com/new"]
    shown = c.messages.get(wanted, OPERATOR)
    assert [(d.endpoint_id, d.status) for d in shown.deliveries] == [(endpoint_id, "succeeded")]
    # ... and running it again finds nothing new (it was attempted there)
    assert (
        c.recovery.recover(endpoint_id, parse_recover({"since": since, "include_unmatched": True}), OPERATOR)
        == []
    )
    assert {old, other_type, tenants, matched}.isdisjoint(found) and listener != endpoint_id


@pytest.mark.parametrize("flag", ["yes", 1, None, []])
def test_include_unmatched_must_be_a_boolean(s: Services, flag: Any) -> None:
    endpoint_id = _endpoint(s, "https://hooks.example.com/new")
    with pytest.raises(ValidationError) as err:
        s.api.recovery.recover(endpoint_id, parse_recover({"since": 0, "include_unmatched": flag}), OPERATOR)
    assert err.value.field == "include_unmatched"
