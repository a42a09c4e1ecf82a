"""The sender applies an endpoint's transformation before signing: cancel, failure and the signature."""

from __future__ import annotations

import json
import time

import pytest
from standardwebhooks.webhooks import Webhook

from chalicelib.messages import delivery_states
from chalicelib.models import Endpoint, Transformation
from tests.conftest import Services
from tests.unit.test_delivery import Receiver, World, _publish


def _transformed(world: World, code: str, *, enabled: bool = True) -> tuple[Endpoint, str]:
    endpoint, secret = world.endpoint()
    endpoint = endpoint.with_changes(transformation=Transformation(code, enabled))
    world.s.store.put_endpoint(endpoint)
    return endpoint, secret


def test_the_signature_covers_the_transformed_body_for_the_official_verifier(services: Services) -> None:
    world = World(services, Receiver())
    world.clock.now = time.time()  # the official library checks the timestamp against the real clock
    _endpoint, secret = _transformed(
        world,
        "function handler(w) { w.payload = {text: 'paid ' + w.payload.data.n}; w.headers['X-Kind'] = 'slack';"
        " w.url = 'https://hooks.example.com/services/T1?x=1'; return w; }",
    )
    message_id = _publish(world)
    assert world.run() == ["succeeded"]
    [request] = world.receiver.requests
    assert request.url == "https://hooks.example.com/services/T1?x=1"
    assert json.loads(request.body) == {"text": "paid 1"}
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["x-kind"] == "slack" and headers["webhook-id"] == message_id
    Webhook(secret).verify(
        request.body, {k: headers[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    )


def test_a_cancel_ends_the_delivery_skipped_and_sends_nothing(services: Services) -> None:
    world = World(services, Receiver())
    _transformed(world, "function handler(w) { w.cancel = true; return w; }")
    message_id = _publish(world)
    assert world.run() == ["cancelled"]
    assert world.receiver.requests == []
    [attempt] = world.s.store.list_attempts(message_id)
    assert (attempt.status, attempt.error_class) == ("skipped", "cancelled_by_transformation")
    [state] = delivery_states(world.s.store.get_message(message_id), world.s.store.list_attempts(message_id))
    assert state.status == "skipped"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("function handler(w) { throw new Error('no such field'); }", "Error: no such field"),
        ("function handler(w) { while (true) {} }", "the transformation ran past its time limit (50 ms)"),
        (
            "function handler(w) { let a = []; while (true) a.push({}); }",
            "the transformation ran past its memory",
        ),
        ("function handler(w) { return 'garbage'; }", "the handler must return the webhook object"),
    ],
)
def test_a_throwing_looping_or_garbage_transformation_fails_the_attempt_and_retries(
    services: Services, code: str, reason: str
) -> None:
    # GIVEN an endpoint whose transformation cannot produce a request
    world = World(services, Receiver())
    _transformed(world, code)
    message_id = _publish(world)
    # WHEN the sender meets it THEN nothing is sent, the attempt is failed with the reason, and retried
    assert world.sender.handle(_first_task(world)) == "retrying"
    assert world.receiver.requests == []
    [attempt] = world.s.store.list_attempts(message_id)
    assert attempt.status == "failed" and attempt.error_class == "transformation_error"
    assert attempt.error is not None and attempt.error.startswith(reason) and "\n" not in attempt.error
    assert world.deliveries.sent  # the next attempt is scheduled, as for any failure


def test_a_disabled_transformation_is_not_run(services: Services) -> None:
    world = World(services, Receiver())
    _transformed(world, "function handler(w) { w.cancel = true; return w; }", enabled=False)
    _publish(world)
    assert world.run() == ["succeeded"]
    assert json.loads(world.receiver.requests[0].body)["data"] == {"n": 1}


def _first_task(world: World) -> str:
    world.route_all()
    return world.deliveries.sent.pop(0)


def test_a_sender_that_meets_no_transformation_never_loads_the_engine() -> None:
    # GIVEN a fresh interpreter that delivers a message to an endpoint without a transformation
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from tests.conftest import make_services\n"
        "from tests.unit.test_delivery import Receiver, World, _publish\n"
        "world = World(make_services(), Receiver())\n"
        "world.endpoint()\n"
        "_publish(world)\n"
        "assert world.run() == ['succeeded']\n"
        "print('quickjs' in sys.modules, '_quickjs' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # THEN the native engine was never imported
    assert done.stdout.split() == ["False", "False"]
