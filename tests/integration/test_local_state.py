"""The local stack's saved state (``local/state.py``) against moto over HTTP: what one emulator saved, a
fresh one gets back, byte for byte."""

from __future__ import annotations

import json
import stat
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from local import state
from testkit import aws

pytestmark = pytest.mark.integration


def _resources(endpoint: str) -> dict[str, str]:
    """A table, a bucket and the two saved queues, as one emulator run would have them."""
    sqs = aws.client("sqs", endpoint)
    bucket = f"b-{uuid.uuid4().hex[:12]}"
    aws.client("s3", endpoint).create_bucket(Bucket=bucket)
    return {
        "HOOKWAY_TABLE": aws.create_state_table(endpoint, upgraded=True),
        "HOOKWAY_BUCKET": bucket,
        **{
            name: sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:10]}")["QueueUrl"]
            for name in state.SAVED_QUEUES
        },
    }


def _kept(directory: Path, env: dict[str, str], endpoint: str) -> state.LocalState:
    return state.LocalState(directory, env, client=lambda service: aws.client(service, endpoint))


def test_table_bucket_and_ingest_queues_come_back_in_a_fresh_emulator(endpoint: str, tmp_path: Path) -> None:
    # GIVEN a run's table (a binary attribute, a nested map, an item past its TTL), bucket and queues
    before = _resources(endpoint)
    dynamodb, s3, sqs = (aws.client(name, endpoint) for name in ("dynamodb", "s3", "sqs"))
    live: dict[str, Any] = {
        "pk": {"S": "MSG#1"},
        "sk": {"S": "META"},
        "body": {"B": bytes(range(256))},
        "nested": {"M": {"list": {"L": [{"B": b"\x00\xff"}, {"N": "1.5"}]}, "flag": {"BOOL": True}}},
        "ttl": {"N": str(int(time.time()) + 3600)},
    }
    expired = {"pk": {"S": "IDEM#old"}, "sk": {"S": "META"}, "ttl": {"N": str(int(time.time()) - 10)}}
    for item in (live, expired):
        dynamodb.put_item(TableName=before["HOOKWAY_TABLE"], Item=item)
    s3.put_object(Bucket=before["HOOKWAY_BUCKET"], Key="ingest/src_1/rcp_1", Body=b"\x00big body\xff")
    sqs.send_message(QueueUrl=before["HOOKWAY_INGEST_QUEUE_URL"], MessageBody='{"envelope": 1}')
    sqs.send_message(QueueUrl=before["HOOKWAY_INGEST_DLQ_URL"], MessageBody='{"envelope": 2}')
    saving = _kept(tmp_path, before, endpoint)
    # WHEN it is saved, as at a clean stop
    assert saving.save_queues() == 2
    assert saving.save() == 2
    # THEN the saved table reads as the AWS CLI prints DynamoDB items
    lines = [json.loads(line) for line in (tmp_path / state.TABLE).read_text().splitlines()]
    assert {line["pk"]["S"] for line in lines} == {"MSG#1", "IDEM#old"}
    # WHEN a fresh emulator's resources are loaded from it
    after = _resources(endpoint)
    seen: list[list[dict[str, Any]]] = []

    def resume(items: list[dict[str, Any]]) -> int:
        seen.append(items)
        return 7  # as many deliveries as Recovery.resume would queue

    restored = _kept(tmp_path, after, endpoint).restore(resume)
    # THEN every live item, object and queued message is back, and the expired item is not
    assert restored == state.Restored(items=1, objects=1, queued=2, resumed=7)
    assert [item["pk"]["S"] for item in seen[0]] == ["MSG#1"]
    got = dynamodb.get_item(TableName=after["HOOKWAY_TABLE"], Key={"pk": live["pk"], "sk": live["sk"]})
    assert got["Item"] == live
    # ... and the dump, saved without a listing era (by a Hookway before it), gets an upgraded one: its
    # messages may hold the old per-message index entries, every one older than this start
    from chalicelib.aws.dynamodb.listing import ERA_KEY, Era

    era = Era.of_item(dynamodb.get_item(TableName=after["HOOKWAY_TABLE"], Key=ERA_KEY)["Item"])
    assert 0 < era.legacy_until <= time.time() and era.since == 0
    body = s3.get_object(Bucket=after["HOOKWAY_BUCKET"], Key="ingest/src_1/rcp_1")["Body"].read()
    assert body == b"\x00big body\xff"
    for name, text in (
        ("HOOKWAY_INGEST_QUEUE_URL", '{"envelope": 1}'),
        ("HOOKWAY_INGEST_DLQ_URL", '{"envelope": 2}'),
    ):
        messages = sqs.receive_message(QueueUrl=after[name], WaitTimeSeconds=1)["Messages"]
        assert [m["Body"] for m in messages] == [text]
    # AND the queued messages are loaded once: a second start does not queue them again
    assert not (tmp_path / state.QUEUES).exists()
    # AND make dev FRESH=1 forgets the data but not the keys
    kept_keys = state.keys(tmp_path, {})
    state.forget(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [state.KEYS]
    assert state.keys(tmp_path, {}) == kept_keys


def test_keys_are_made_once_kept_private_and_the_environment_wins(tmp_path: Path) -> None:
    made = state.keys(tmp_path, {})
    assert made["HOOKWAY_ADMIN_KEY"].startswith("hk_") and made["HOOKWAY_DEMO_SECRET"].startswith("whsec_")
    assert stat.S_IMODE((tmp_path / state.KEYS).stat().st_mode) == 0o600
    assert state.keys(tmp_path, {}) == made
    given = state.keys(tmp_path, {"HOOKWAY_ADMIN_KEY": "hk_mine"})
    assert given == {**made, "HOOKWAY_ADMIN_KEY": "hk_mine"}
    assert state.keys(tmp_path, {}) == made  # a key given once is not saved over the kept one


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_what_is_saved_only_its_owner_can_read(endpoint: str, tmp_path: Path) -> None:
    # GIVEN a state folder from before this rule: world-readable folder and files
    directory = tmp_path / "state"
    (directory / state.OBJECTS).mkdir(parents=True, mode=0o755)
    directory.chmod(0o755)
    old = directory / state.TABLE
    old.write_text("")
    old.chmod(0o644)
    # WHEN make dev opens it and saves a run holding a secret (table item, object, queued webhook)
    state.private_dir(directory)
    resources = _resources(endpoint)
    aws.client("dynamodb", endpoint).put_item(
        TableName=resources["HOOKWAY_TABLE"],
        Item={"pk": {"S": "EP#1"}, "sk": {"S": "META"}, "secrets": {"S": "whsec_x"}},
    )
    aws.client("s3", endpoint).put_object(Bucket=resources["HOOKWAY_BUCKET"], Key="k", Body=b"body")
    aws.client("sqs", endpoint).send_message(QueueUrl=resources["HOOKWAY_INGEST_QUEUE_URL"], MessageBody="{}")
    kept = _kept(directory, resources, endpoint)
    state.keys(directory, {})
    kept.save_queues()
    kept.save()
    # THEN every folder is 0700 and every file 0600 (the table dump and keys.json hold secrets)
    assert _mode(directory) == 0o700 and _mode(directory / state.OBJECTS) == 0o700
    files = [p for p in directory.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {state.KEYS, state.TABLE, state.QUEUES, "k"}
    assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}


def test_a_users_own_local_dir_keeps_its_mode(tmp_path: Path) -> None:
    # GIVEN HOOKWAY_LOCAL_DIR naming a folder of the user's own, with a file of ours and one of theirs
    (tmp_path / "env.json").write_text("{}")
    (tmp_path / "env.json").chmod(0o644)
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "notes.txt").chmod(0o644)
    tmp_path.chmod(0o755)
    # WHEN make dev makes its files private there
    state.private_dir(tmp_path, files=("env.json",), own_folder=False)
    # THEN only its own file changed
    assert (_mode(tmp_path), _mode(tmp_path / "env.json"), _mode(tmp_path / "notes.txt")) == (
        0o755,
        0o600,
        0o644,
    )


def test_sealed_secrets_open_after_a_restart_under_the_new_emulators_key(
    endpoint: str, tmp_path: Path
) -> None:
    from chalicelib.aws.dynamo import DynamoStore
    from chalicelib.aws.kms import KmsKeyring
    from chalicelib.models import Endpoint, Secret
    from chalicelib.sealing import SealedStore, Sealer

    kms = aws.client("kms", endpoint)

    def run() -> tuple[dict[str, str], SealedStore]:
        """One emulator run: its own table and its own KMS key (moto's is new at every start)."""
        env = {**_resources(endpoint), "HOOKWAY_KMS_KEY_ID": kms.create_key()["KeyMetadata"]["Arn"]}
        keyring = KmsKeyring(lambda: kms, env["HOOKWAY_KMS_KEY_ID"], "local")
        db = DynamoStore(aws.client("dynamodb", endpoint), env["HOOKWAY_TABLE"], time.time)
        return env, SealedStore(db, Sealer(keyring, time.time))

    # GIVEN a run that stored an endpoint with a sealed signing secret, saved
    before, store = run()
    endpoint_model = Endpoint(
        id="ep_restart",
        url="https://hooks.example.com/in",
        created_at=1.0,
        updated_at=1.0,
        secrets=(Secret("sec_1", "whsec_survives-a-restart", 1.0),),
        headers={"X-Key": "header-survives"},
    )
    store.put_endpoint(endpoint_model)
    _kept(tmp_path, before, endpoint).save()
    # THEN the files hold no secret in plaintext, and the data keys are private
    assert "survives" not in (tmp_path / state.TABLE).read_text()
    assert stat.S_IMODE((tmp_path / state.DATA_KEYS).stat().st_mode) == 0o600
    # WHEN the next run (a new table, a new KMS key) loads them
    after, fresh = run()
    _kept(tmp_path, after, endpoint).restore(lambda items: 0)
    # THEN the endpoint's secrets open under the new key, in a container that never saw the old one
    assert fresh.get_endpoint("ep_restart") == endpoint_model


def test_a_dump_from_before_subscription_pages_is_backfilled_and_routed(
    endpoint: str, tmp_path: Path
) -> None:
    from chalicelib.aws.dynamo import DynamoStore
    from chalicelib.aws.dynamodb import endpoints
    from chalicelib.caches import SubscriptionCache
    from chalicelib.models import Endpoint, Message
    from chalicelib.outbound.routing import EndpointFanout
    from testkit.fakes import MemoryQueue

    # GIVEN a saved table from an earlier Hookway: an endpoint item with no subscription page, no SUBS# item
    legacy = Endpoint(
        id="ep_legacy", url="https://example.com/hook", created_at=time.time(), updated_at=time.time()
    )
    item = endpoints.endpoint_to_item(legacy)
    assert "sub_page" not in item
    line = json.dumps({name: state._to_json(value) for name, value in item.items()})
    (tmp_path / state.TABLE).write_text(line + "\n")
    env = _resources(endpoint)
    store = DynamoStore(aws.client("dynamodb", endpoint), env["HOOKWAY_TABLE"], time.time)
    # WHEN make dev restores it (the backfill runs before any worker routes)
    restored = _kept(tmp_path, env, endpoint).restore(lambda items: 0, backfill=lambda: state.backfill(store))
    # THEN the endpoint is in its owner's page, the owner is complete, and a message is routed to it
    assert restored.joined == 1 and "joined to subscription pages: 1" in restored.describe()
    assert store.owner_state(None)[1:] == (1, True)
    cache = SubscriptionCache(store, time.time, check_seconds=0, max_endpoints=100)
    fanout = EndpointFanout(store, MemoryQueue(), subscriptions=cache, store=store, chunks=MemoryQueue())
    message = Message(
        id="msg_1",
        source_id="src_1",
        event_type="x",
        status="stored",
        received_at=time.time(),
        size=0,
        body_sha256="",
        content_type="",
        receipt_id="r1",
    )
    assert fanout.match(message).inline == ("ep_legacy",)
    assert cache.loads == 1  # through the page, not the fallback listing
