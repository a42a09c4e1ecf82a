"""Each function's IAM policy against the AWS calls its handler really makes, on moto over HTTP.

Each handler of ``app.py`` runs in this process on its own composition root, whose boto3 session records
every call (service and operation). The calls, as IAM actions, must all be allowed by that function's
policy (a missing one would fail in production), and for the queue consumers, whose paths the test drives
completely, the policy must allow nothing more (no unused action) apart from what the event source mapping
itself calls (ReceiveMessage, DeleteMessage, GetQueueAttributes) and CloudWatch Logs. The sessions load the
package's trimmed botocore models (``infra/botomodels.py``), so every call is also proven to be in them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chalicelib import wiring
from chalicelib.api.applications import parse_create as parse_create_application
from chalicelib.api.console import parse_overview
from chalicelib.api.endpoints import parse_create as parse_create_endpoint
from chalicelib.api.endpoints import parse_recover, parse_send_test
from chalicelib.api.messages import parse_publish, parse_search
from chalicelib.api.sources import parse_create as parse_create_source
from chalicelib.aws.botomodels import use_packaged_models
from chalicelib.config import Settings
from chalicelib.names import names
from chalicelib.wiring.api import ApiRoot
from chalicelib.wiring.base import Shared
from infra import botomodels, iam
from local import emulator
from local.worker import sqs_event
from testkit import aws
from tests.conftest import GITHUB_SECRET

pytestmark = pytest.mark.integration

# botocore operation -> the IAM action it needs (the batch forms are authorized by the single ones).
ACTION = {
    "SendMessageBatch": "sqs:SendMessage",
    "DeleteMessageBatch": "sqs:DeleteMessage",
    "ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
    "HeadObject": "s3:GetObject",
}
TRANSACT = {"Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem", "Delete": "dynamodb:DeleteItem"}
ESM_AND_LOGS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "logs:CreateLogStream"}
# Allowed without being called: S3 answers a missing object 404 (not 403) only with ListBucket.
PERMISSION_ONLY = {"s3:ListBucket", "logs:PutLogEvents"}
# Called only when a record fails, to bring it back after a short backoff (tests/unit/test_batch.py,
# tests/e2e/test_throttling.py): the paths driven here all succeed.
ON_FAILURE = {"sqs:ChangeMessageVisibility"}
# Called only around an open circuit (its held tasks: the release job's batch deletes on the router, the
# carrier of the next probe on the sender; tests/unit/test_parking.py drives them on the fakes, the
# breaker's e2e on the local stack): this world's endpoints never open one.
OPEN_CIRCUIT = {
    "route_ingest": {"dynamodb:BatchWriteItem"},
    "deliver": {"dynamodb:Query", "dynamodb:BatchWriteItem"},
}


class Recorder:
    """Collects the IAM actions of every call a boto3 session makes."""

    def __init__(self) -> None:
        self.actions: set[str] = set()
        self.operations: set[tuple[str, str]] = set()  # (botocore service name, operation)
        self.lock = threading.Lock()

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        service = model.service_model.signing_name or model.service_model.endpoint_prefix
        if model.name == "TransactWriteItems":
            found = {TRANSACT[k] for item in params.get("TransactItems", []) for k in item if k in TRANSACT}
        else:
            found = {ACTION.get(model.name, f"{service}:{model.name}")}
        with self.lock:
            self.actions |= found
            self.operations.add((model.service_model.service_name, model.name))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    models = tmp_path_factory.mktemp("botocore-data")
    botomodels.write(models)  # as the package ships them
    with aws.moto_server() as endpoint:
        env = emulator.deploy(endpoint)
        emulator.start_release_here(env)  # the sweep's release reads from now, not a day of empty buckets
        yield {"endpoint": endpoint, "env": env, "models": str(models)}


def _container(world: dict[str, Any], recorder: Recorder, **extra: str) -> ApiRoot:
    import botocore.session

    environ = {
        # The sender's queue path unless a test says otherwise (the policies it checks are the setting
        # off's; the router's with it on, the default: test_a_router_that_makes_first_attempts_...).
        "HOOKWAY_ROUTER_FIRST_ATTEMPT": "false",
        **extra,
        **world["env"],
        "HOOKWAY_STAGE": "local",
        "HOOKWAY_ADMIN_KEY": "hk_iam_test",
        "HOOKWAY_ALLOW_PRIVATE_DESTINATIONS": "true",
        "HOOKWAY_ALLOW_HTTP": "true",
        "HOOKWAY_ENDPOINT_CACHE_SECONDS": "0",
        "HOOKWAY_FIFO_SETTLE_SECONDS": "0",  # a fifo endpoint's deliveries go as soon as they are drained
    }
    # A botocore session, as the composition root makes (``Shared.client``).
    session = botocore.session.get_session()
    session.set_credentials(
        emulator.AWS_ENV["AWS_ACCESS_KEY_ID"],
        emulator.AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        emulator.AWS_ENV["AWS_SESSION_TOKEN"],
    )
    assert use_packaged_models(session, world["models"])
    session.register("before-parameter-build.*.*", _capture(recorder))
    shared = Shared(Settings.from_env(environ))
    shared._session = session  # every client of both roles through the recording session
    return ApiRoot(shared)


def _capture(recorder: Recorder) -> Any:
    def handler(params: dict[str, Any], model: Any, **_: Any) -> None:
        recorder(model, params)

    return handler


def _policy_actions(key: str, *, router_sends: bool = False) -> set[str]:
    n = names("local")
    arns = iam.for_template(n)
    policy = iam.policies(n, arns, router_sends=router_sends)[key]
    return {a for s in policy["Statement"] for a in s["Action"]}


class Receiver:
    """A loopback receiver: 200 on /ok and /fifo, 500 on anything else."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.send_response(200 if self.path in ("/ok", "/fifo") else 500)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"


def _drain(world: dict[str, Any], env_name: str) -> dict[str, Any] | None:
    sqs = aws.client("sqs", world["endpoint"])
    url = world["env"][env_name]
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"])
    messages = got.get("Messages", [])
    if not messages:
        return None
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return sqs_event(messages, arn, emulator.REGION)


def _run(handler_name: str, container: ApiRoot, event: Any) -> Any:
    from chalice.local import LambdaContext

    import app as app_module

    wiring._shared, wiring._api = container.shared, container  # the queue handlers' worker root follows
    try:
        return getattr(app_module, handler_name)(
            event, LambdaContext(handler_name, 512, max_runtime_ms=60_000)
        )
    finally:
        wiring.reset()


def test_every_function_calls_only_what_its_policy_allows_and_the_consumers_nothing_less(
    world: dict[str, Any],
) -> None:
    from bench.fixtures import ingest_event

    receiver = Receiver()
    # GIVEN the API used as an operator would: a source, two endpoints (one failing), webhooks and a publish
    api_calls = Recorder()
    api = _container(world, api_calls)
    every_call = [api_calls]
    source = api.sources.create(
        parse_create_source({"name": "gh", "verification": {"scheme": "github", "secrets": [GITHUB_SECRET]}})
    )
    from chalicelib.scope import OPERATOR

    for path in ("/ok", "/fail"):
        api.endpoints.create(
            parse_create_endpoint({"url": receiver.base + path, "retry_schedule": [0, 1]}), OPERATOR
        )
    # (one of them delivered in order: its list and its turn)
    fifo = api.endpoints.create(
        parse_create_endpoint({"url": receiver.base + "/fifo", "ordering": "fifo"}), OPERATOR
    )[0]
    small = json.dumps({"zen": "iam"}).encode()
    parked = json.dumps({"blob": "x" * 300_000}).encode()  # inline, too big for an item: the router parks it
    big = json.dumps({"blob": "x" * 950_000}).encode()  # over the claim check: S3 first
    for i, body in enumerate((small, parked, big)):
        assert _run("app", api, ingest_event(source.id, body, f"iam-{i}"))["statusCode"] == 202
    api.publisher.publish(parse_publish({"event_type": "iam.test", "payload": {}}), OPERATOR)
    # ... a test event to one endpoint (the router reads that endpoint by id)
    ok = next(e for e in api.store.endpoints_of(None) if e.url.endswith("/ok"))
    api.publisher.send_test(ok.id, parse_send_test({}), OPERATOR)
    # ... and the console's reads: the overview, an endpoint's health, the branding
    api.stats.overview(parse_overview({}), OPERATOR)
    api.endpoints.health(ok.id, OPERATOR)
    api.applications.branding(OPERATOR)
    # ... and the background jobs, whose steps the ingest queue's consumer runs: an application's
    # deletion (its endpoint deleted there) and a recovery
    doomed = api.applications.create(parse_create_application({"name": "doomed"}), OPERATOR)
    api.endpoints.create(
        parse_create_endpoint({"url": receiver.base + "/doomed", "application": doomed.id}), OPERATOR
    )
    api.applications.delete(doomed.id, OPERATOR)
    api.jobs.start(api.recovery.plan_recover(ok.id, parse_recover({"since": 0}), OPERATOR))

    # WHEN each consumer handles what reached its queue, as its event source mapping would hand it over
    recorded: dict[str, set[str]] = {"api_handler": api_calls.actions}
    for handler, queue, key in (
        ("route_ingest", "HOOKWAY_INGEST_QUEUE_URL", "route_ingest"),
        ("deliver", "HOOKWAY_DELIVERIES_QUEUE_URL", "deliver"),
    ):
        calls = Recorder()
        every_call.append(calls)
        container = _container(world, calls)
        while (event := _drain(world, queue)) is not None:
            _run(handler, container, event)
        recorded[key] = calls.actions
    # ... a task that reached the dead-letter queue (sent there by hand: moto would take 5 receives)
    import time

    sqs = aws.client("sqs", world["endpoint"])
    from chalicelib.outbound.tasks import Task

    message_id = api.messages.search(parse_search({"source": source.id}), OPERATOR, _page()).items[0].id
    endpoint_id = api.store.endpoints_of(None)[0].id
    sqs.send_message(
        QueueUrl=world["env"]["HOOKWAY_DELIVERIES_DLQ_URL"],
        MessageBody=Task(message_id, endpoint_id, 9).encode(),
    )
    # ... and one of the fifo endpoint's, holding its turn with another delivery waiting behind it
    assert api.store.fifo_head(fifo.id, limit=10) == []  # every fifo delivery went, one after another
    from chalicelib.outbound.fifo import entry_key

    held, waiting = (
        api.store.get_message(m.id)
        for m in api.messages.search(parse_search({"source": source.id}), OPERATOR, _page()).items[:2]
    )
    keys = [entry_key(m) for m in (held, waiting)]
    for message, key in zip((held, waiting), keys, strict=True):
        api.store.fifo_enter(fifo.id, key, Task(message.id, fifo.id, 1, fifo=key).encode())
    api.store.fifo_give(fifo.id, api.store.fifo_turn(fifo.id), keys[0], time.time() + 300)
    sqs.send_message(
        QueueUrl=world["env"]["HOOKWAY_DELIVERIES_DLQ_URL"],
        MessageBody=Task(held.id, fifo.id, 9, fifo=keys[0]).encode(),
    )
    calls = Recorder()
    every_call.append(calls)
    container = _container(world, calls)
    event = _drain(world, "HOOKWAY_DELIVERIES_DLQ_URL")
    assert event is not None and len(event["Records"]) == 2
    _run("dead_letters", container, event)
    recorded["dead_letters"] = calls.actions
    assert api.store.fifo_turn(fifo.id).holder == keys[1]  # the turn went on past the dead letter
    # ... and the hourly sweep, with work to do: an endpoint failing for 6 days (it reads the attention
    # index and its checkpoint; expired claims are the dead-letter handler's, not the sweep's)

    failing = next(e for e in api.store.endpoints_of(None) if e.url.endswith("/fail"))
    api.store.set_endpoint_failing(failing.id, None)
    api.store.set_endpoint_failing(failing.id, time.time() - 6 * 86400)
    # (and a parked delivery task coming due, which it releases to the deliveries queue)
    from chalicelib.outbound.parking import bucket_of, park_shard, parked_key

    parked = Task(message_id, endpoint_id, 5, not_before=time.time() + 60)
    api.store.park(bucket_of(parked.not_before), park_shard(parked), parked_key(parked), parked.encode())
    calls = Recorder()
    every_call.append(calls)
    schedule = {
        "version": "0",
        "id": "e-1",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-12-01T00:00:00Z",
        "region": emulator.REGION,
        "resources": [],
        "detail": {},
    }
    report = _run("sweep", _container(world, calls), schedule)
    assert report["endpoints_disabled"] == [failing.id] and report["caught_up"]
    assert report["release"]["released"] == 1
    recorded["sweep"] = calls.actions
    receiver.server.shutdown()

    # THEN no function calls anything its policy does not allow
    for key, actions in recorded.items():
        allowed = _policy_actions(key)
        assert actions, key
        assert actions <= allowed, (key, sorted(actions - allowed))
    # ... every call is an operation the package's trimmed models keep (they served it here)
    made = {op for calls in every_call for op in calls.operations}
    assert {service for service, _ in made} <= set(botomodels.SERVICES)
    assert all(op in botomodels.OPERATIONS[service] for service, op in made), sorted(made)
    # ... and the consumers' policies hold nothing they did not use (but the ESM's and the logs' own)
    for key in ("route_ingest", "dead_letters", "sweep"):
        unused = _policy_actions(key) - recorded[key] - ESM_AND_LOGS - PERMISSION_ONLY - ON_FAILURE
        unused -= OPEN_CIRCUIT.get(key, set())
        assert unused == set(), (key, sorted(unused))
    # The sender's certificate reads (Secrets Manager, SSM) happen only for endpoints with a client
    # certificate, which test_outbound_mtls drives end to end; everything else it may do, it did here.
    unused = _policy_actions("deliver") - recorded["deliver"] - ESM_AND_LOGS - PERMISSION_ONLY - ON_FAILURE
    unused -= OPEN_CIRCUIT["deliver"]
    assert unused == {"secretsmanager:GetSecretValue", "ssm:GetParameter"}, sorted(unused)


def _page() -> Any:
    from chalicelib.ports import PageRequest

    return PageRequest(50)


def test_a_router_that_makes_first_attempts_calls_only_what_its_policy_allows(world: dict[str, Any]) -> None:
    # GIVEN a stage with router_first_attempt on, and endpoints that answer 200 and 500
    receiver = Receiver()
    api = _container(world, Recorder())
    from chalicelib.scope import OPERATOR

    mine = {
        path: api.endpoints.create(
            parse_create_endpoint({"url": receiver.base + path, "retry_schedule": [0, 1]}), OPERATOR
        )[0].id
        for path in ("/ok", "/fail")
    }
    while _drain(world, "HOOKWAY_INGEST_QUEUE_URL") or _drain(world, "HOOKWAY_DELIVERIES_QUEUE_URL"):
        pass  # what the test before left
    api.publisher.publish(parse_publish({"event_type": "iam.first", "payload": {}}), OPERATOR)
    # WHEN the ingest queue's consumer handles it (claims, POSTs, records, queues the failure's retry)
    calls = Recorder()
    container = _container(world, calls, HOOKWAY_ROUTER_FIRST_ATTEMPT="true")
    event = _drain(world, "HOOKWAY_INGEST_QUEUE_URL")
    assert event is not None
    _run("route_ingest", container, event)
    receiver.server.shutdown()
    # THEN it called nothing its policy with the option does not allow (and needed more than without it)
    allowed = _policy_actions("route_ingest", router_sends=True)
    assert calls.actions <= allowed, sorted(calls.actions - allowed)
    assert allowed > _policy_actions("route_ingest")
    # AND of its endpoints' deliveries only the failure's retry went on the deliveries queue (endpoints
    # the test before left, such as a fifo one, keep the queue for their first attempts)
    from chalicelib.outbound.tasks import Task

    tasks: list[Task] = []
    time.sleep(2)  # the retry's delay (its schedule's first step) has passed
    while (queued := _drain(world, "HOOKWAY_DELIVERIES_QUEUE_URL")) is not None:
        tasks += [Task.decode(r["body"]) for r in queued["Records"]]
    assert [(t.endpoint_id, t.attempt) for t in tasks if t.endpoint_id in mine.values()] == [
        (mine["/fail"], 2)
    ]
