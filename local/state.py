"""What survives stopping and starting ``make dev``: the local stack's state, kept as plain files.

moto keeps everything in memory, so ``make dev`` saves it under ``.local/state/`` (``HOOKWAY_LOCAL_DIR``
moves ``.local``) and loads it into the fresh emulator right after deploying the stack:

    keys.json     the admin key, the demo receiver's secret and the message-id key, so the key a
                  user exported, endpoints made with the demo secret and message ids already issued keep
                  working; a value set in the environment wins and is not saved
    table.jsonl   every DynamoDB item, one per line, in DynamoDB's JSON (as ``aws dynamodb scan`` prints
                  it, binary values in base64); items whose TTL has passed are not loaded again
    objects/      the payload bucket, one file per object (its key percent-encoded)
    queues.jsonl  the ingest queue's (and its DLQ's) messages that were left when ``make dev`` stopped
    datakeys.json the data keys the table's sealed secrets use (mode 0600): moto's KMS key is new at every
                  start, so a start wraps them again under the new key and rewrites the sealed values
                  (``chalicelib.sealing``); the table file itself holds no secret in plaintext

Every file is 0600 and every folder 0700 (``.local`` too): they hold the admin key and every secret the
table keeps.

The table and the bucket are saved a few seconds after a change (an API request, a worker's invoke) and
at a clean stop, so a ``kill -9`` loses only the last few seconds. The deliveries queue is not saved: its tasks are rebuilt from the attempts on
record (``Recovery.resume``), which say where every delivery stands, so a delivery that was due, waiting
for a retry or in flight when the stack stopped is sent when it starts again. A rebuilt task that meets a
copy (an attempt that finished after the last save) stops at the attempt's claim: nothing is sent twice
beyond what at-least-once delivery allows anyway. The ingest queue cannot be read without taking its
messages, so it is saved only at a clean stop, after the API stopped and the router had a moment to
drain it.
"""

from __future__ import annotations

import base64
import fcntl
import json
import logging
import os
import secrets
import shutil
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chalicelib.models import Attempt, Message

log = logging.getLogger("hookway.local.state")

KEYS = "keys.json"
LOCK = "dev.lock"
TABLE = "table.jsonl"
OBJECTS = "objects"
QUEUES = "queues.jsonl"
DATA_KEYS = "datakeys.json"
SAVE_EVERY_SECONDS = 5.0
DRAIN_SECONDS = 5.0
SAVED_QUEUES = ("HOOKWAY_INGEST_QUEUE_URL", "HOOKWAY_INGEST_DLQ_URL")

Item = dict[str, Any]


def private_dir(path: Path, *, files: Sequence[str] | None = None, own_folder: bool = True) -> Path:
    """Make ``path`` (and missing parents) a folder only its owner can enter (0700), and the files in it
    (only those named in ``files``, when given) private (0600): a checkout from before this rule had
    them readable by everyone. ``own_folder`` False: an existing folder keeps its mode (a user's own)."""
    if own_folder or not path.exists():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.chmod(0o700)
    for child in path.iterdir():
        if child.is_file() and not child.is_symlink() and (files is None or child.name in files):
            child.chmod(0o600)
    return path


class StateInUseError(Exception):
    """Another ``make dev`` holds the state folder; the message says which process."""


def lock(directory: Path) -> int:
    """Hold ``directory`` for this process (an ``fcntl`` lock on ``dev.lock`` in it, released when the
    process ends, however it ends); StateInUseError if another process holds it. Returns the descriptor."""
    fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise StateInUseError(
            f"{directory} is in use by another make dev (process {holder}): stop that one first, "
            "or give this one a folder of its own with HOOKWAY_LOCAL_DIR=..."
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def state_dir(root: Path, environ: Mapping[str, str]) -> Path:
    """Where the local stack keeps its files: ``HOOKWAY_LOCAL_DIR``, else ``.local`` in the repo."""
    return Path(environ.get("HOOKWAY_LOCAL_DIR") or root / ".local") / "state"


def keys(directory: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The admin key, demo secret and message-id key: the environment's, else the saved ones, else new."""
    path = directory / KEYS
    saved: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    made = {
        "HOOKWAY_ADMIN_KEY": saved.get("HOOKWAY_ADMIN_KEY") or "hk_" + secrets.token_urlsafe(24),
        "HOOKWAY_DEMO_SECRET": saved.get("HOOKWAY_DEMO_SECRET")
        or "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode(),
        # Message ids carry a tag under this key (chalicelib.ids); the table's name, the default, changes
        # with every start of the emulator.
        "HOOKWAY_ID_KEY": saved.get("HOOKWAY_ID_KEY") or "hookway-local-" + secrets.token_hex(8),
    }
    if made != saved:
        private_dir(directory)
        _write(path, json.dumps(made, indent=2).encode())
    return {name: environ.get(name) or value for name, value in made.items()}


def forget(directory: Path) -> None:
    """Drop the saved data (``make dev FRESH=1``); the keys stay, so an exported admin key still works."""
    for name in (TABLE, QUEUES, DATA_KEYS):
        (directory / name).unlink(missing_ok=True)
    shutil.rmtree(directory / OBJECTS, ignore_errors=True)


@dataclass(frozen=True)
class Restored:
    """What a start found on disk."""

    items: int = 0
    objects: int = 0
    queued: int = 0
    resumed: int = 0
    joined: int = 0  # endpoints of an older dump put in subscription pages (chalicelib.backfill)

    def describe(self) -> str:
        """One line for the banner."""
        if not (self.items or self.objects or self.queued):
            return "nothing saved yet"
        joined = f"; endpoints joined to subscription pages: {self.joined}" if self.joined else ""
        return (
            f"restored {self.items} items, {self.objects} objects, {self.queued} queued webhooks; "
            f"pending deliveries resumed: {self.resumed}{joined}"
        )


class LocalState:
    """Saves the emulator's table, bucket and ingest queues to a directory and loads them back."""

    def __init__(
        self,
        directory: Path,
        env: Mapping[str, str],
        *,
        client: Callable[[str], Any],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._dir = directory
        self._env = env
        self._dynamodb = client("dynamodb")
        self._s3 = client("s3")
        self._sqs = client("sqs")
        self._kms_client = client
        self._data_keys: dict[str, str] = {}  # wrapped (base64) -> plaintext (base64), this run's key
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._changed = threading.Event()
        self._saver: threading.Thread | None = None

    # -- loading ---------------------------------------------------------------------------------------

    def restore(
        self, resume: Callable[[list[Item]], int], backfill: Callable[[], int] | None = None
    ) -> Restored:
        """Load the saved table, objects and queued webhooks; ``backfill`` then puts endpoints of a dump
        from before subscription pages into them (returns how many; before any worker routes), and
        ``resume`` gets the table's items and queues the deliveries they show pending (returns how many)."""
        items = self._read_table()
        for start in range(0, len(items), 25):
            self._put(items[start : start + 25])
        joined = backfill() if backfill is not None and items else 0
        objects = self._load_objects()
        queued = self._load_queues()
        if (items or queued) and not any(_is_era(item) for item in items):
            self._put([_upgraded_era(self._clock())])
        resumed = resume(items) if items else 0
        return Restored(len(items), objects, queued, resumed, joined)

    def _read_table(self) -> list[Item]:
        path = self._dir / TABLE
        if not path.exists():
            return []
        now = self._clock()
        items = []
        rewrap = self._rewrapper()
        for saved in path.read_text().splitlines():
            line = rewrap(saved) if rewrap is not None else saved
            if line.strip():
                item = {name: _from_json(value) for name, value in json.loads(line).items()}
                if "ttl" not in item or float(item["ttl"]["N"]) >= now:  # else DynamoDB would have removed it
                    items.append(item)
        return items

    def _keyring(self) -> Any:
        from chalicelib.aws.kms import KmsKeyring

        kms = self._kms_client("kms")
        return KmsKeyring(
            lambda: kms, self._env["HOOKWAY_KMS_KEY_ID"], self._env.get("HOOKWAY_STAGE", "local")
        )

    def _rewrapper(self) -> Callable[[str], str] | None:
        """Rewrites a saved line's sealed values with their data keys wrapped under this run's KMS key."""
        path = self._dir / DATA_KEYS
        if not path.exists() or not self._env.get("HOOKWAY_KMS_KEY_ID"):
            return None
        from chalicelib import sealing

        saved: dict[str, str] = json.loads(path.read_text())
        keyring = self._keyring()
        new: dict[bytes, bytes] = {}

        def one(match: Any) -> str:
            wrapped, rest = sealing.split(match.group(0))
            plain = saved.get(base64.b64encode(wrapped).decode())
            if plain is None:
                return str(match.group(0))  # its key was not saved: it stays unreadable, as it was
            if wrapped not in new:
                new[wrapped] = keyring.wrap(base64.b64decode(plain))
                self._data_keys[base64.b64encode(new[wrapped]).decode()] = plain
            return sealing.join(new[wrapped], rest)

        return lambda line: sealing.TOKEN.sub(one, line)

    def _remember_data_keys(self, line: str) -> None:
        """Keep the plaintext of every data key a saved line's sealed values use (unwrapped once a run)."""
        from chalicelib import sealing

        for token in sealing.TOKEN.findall(line):
            wrapped, _ = sealing.split(token)
            name = base64.b64encode(wrapped).decode()
            if name not in self._data_keys:
                self._data_keys[name] = base64.b64encode(self._keyring().unwrap(wrapped)).decode()

    def _put(self, items: list[Item]) -> None:
        table = self._env["HOOKWAY_TABLE"]
        requests: dict[str, Any] = {table: [{"PutRequest": {"Item": item}} for item in items]}
        while requests:
            result = self._dynamodb.batch_write_item(RequestItems=requests)
            requests = result.get("UnprocessedItems") or {}

    def _load_objects(self) -> int:
        folder = self._dir / OBJECTS
        if not folder.is_dir():
            return 0
        count = 0
        for path in folder.iterdir():
            if path.name.startswith("."):
                continue  # a write that never finished
            key = urllib.parse.unquote(path.name)
            self._s3.put_object(Bucket=self._env["HOOKWAY_BUCKET"], Key=key, Body=path.read_bytes())
            count += 1
        return count

    def _load_queues(self) -> int:
        path = self._dir / QUEUES
        if not path.exists():
            return 0
        by_queue: dict[str, list[str]] = {}
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                by_queue.setdefault(row["queue"], []).append(row["body"])
        for name, bodies in by_queue.items():
            for start in range(0, len(bodies), 10):
                entries = [{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies[start : start + 10])]
                self._sqs.send_message_batch(QueueUrl=self._env[name], Entries=entries)
        # Queued again: a later start must not queue them a second time.
        path.unlink()
        return sum(len(bodies) for bodies in by_queue.values())

    # -- saving ----------------------------------------------------------------------------------------

    def save(self) -> int:
        """Save the table and the bucket now; returns how many items were saved."""
        with self._lock:
            count = 0
            with _Atomic(self._dir / TABLE) as out:
                for page in self._dynamodb.get_paginator("scan").paginate(
                    TableName=self._env["HOOKWAY_TABLE"]
                ):
                    for item in page["Items"]:
                        doc = {name: _to_json(value) for name, value in item.items()}
                        line = json.dumps(doc, separators=(",", ":"))
                        self._remember_data_keys(line)
                        out.write(line.encode() + b"\n")
                        count += 1
            if self._data_keys:
                _write(self._dir / DATA_KEYS, json.dumps(self._data_keys).encode(), mode=0o600)
            self._save_objects()
            return count

    def _save_objects(self) -> None:
        folder = private_dir(self._dir / OBJECTS)
        kept = {path.name for path in folder.iterdir()}
        seen = set()
        bucket = self._env["HOOKWAY_BUCKET"]
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for entry in page.get("Contents", []):
                name = urllib.parse.quote(entry["Key"], safe="")
                seen.add(name)
                if name not in kept:  # payload keys are never rewritten: each names one receipt
                    body = self._s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
                    _write(folder / name, body)
        for name in kept - seen:
            (folder / name).unlink(missing_ok=True)

    def save_queues(self) -> int:
        """Take what is left on the ingest queue and its DLQ into the directory (at a clean stop, once
        nothing consumes them); returns how many."""
        rows = []
        for name in SAVED_QUEUES:
            while True:
                got = self._sqs.receive_message(
                    QueueUrl=self._env[name], MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=600
                ).get("Messages", [])
                if not got:
                    break
                rows.extend(json.dumps({"queue": name, "body": m["Body"]}) for m in got)
        path = self._dir / QUEUES
        if rows:
            _write(path, ("\n".join(rows) + "\n").encode())
        return len(rows)

    def drain(self, queue_url: str, timeout: float = DRAIN_SECONDS) -> bool:
        """Wait until a queue is empty (its worker still running); False if it was not within ``timeout``."""
        names: Sequence[Any] = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        deadline = time.monotonic() + timeout
        while True:
            counts = self._sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
            if not any(int(counts.get(name, "0")) for name in names):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)

    def touch(self) -> None:
        """Note that the state may have changed (an API request, a worker's invoke): the next periodic
        save runs; an idle stack is not scanned over and over."""
        self._changed.set()

    def start_saving(self, every: float = SAVE_EVERY_SECONDS) -> None:
        """Save in a thread, until ``stop_saving``: ``every`` seconds after a change, and never for more
        than a fifth of the time (moto scans a few hundred items a second: a large table saves less often)."""

        def loop() -> None:
            pause = every
            while not self._stop.wait(pause):
                if not self._changed.is_set():
                    continue
                self._changed.clear()
                started = time.monotonic()
                try:
                    self.save()
                except Exception:
                    log.exception("saving the local state failed; trying again later")
                    self._changed.set()
                pause = max(every, 4 * (time.monotonic() - started))

        self._saver = threading.Thread(target=loop, name="state-saver", daemon=True)
        self._saver.start()

    def stop_saving(self) -> None:
        """Stop the periodic saves (the one under way finishes)."""
        self._stop.set()
        if self._saver is not None:
            self._saver.join(timeout=30)


def _is_era(item: Item) -> bool:
    from chalicelib.aws.dynamodb.listing import ERA_KEY

    return bool(item["pk"] == ERA_KEY["pk"] and item["sk"] == ERA_KEY["sk"])


def _upgraded_era(now: float) -> Item:
    """The listing era of a table restored from a dump without one (saved by a Hookway before it): its
    messages may have the index entries of the layouts before, all written before now, and its queued
    webhooks were received before this emulator's table was made."""
    from chalicelib.aws.dynamodb.listing import Era

    return Era(now, 0.0).to_item()


def backfill(store: Any) -> int:
    """Put the endpoints of a restored dump from before subscription pages into them
    (``chalicelib.backfill``, every owner again: a local table is small); returns how many joined."""
    from chalicelib.backfill import Backfill
    from chalicelib.sealing import unsealed

    return Backfill(unsealed(store)).run(again=True).joined


def pending(items: Sequence[Item]) -> list[tuple[Message, list[Attempt]]]:
    """The messages among a table's items, each with its attempts (what ``Recovery.resume`` reads)."""
    from chalicelib.aws.dynamodb import attempts as attempt_items
    from chalicelib.aws.dynamodb import messages as message_items

    messages: dict[str, Message] = {}
    attempts: dict[str, list[Attempt]] = {}
    for item in items:
        pk, sk = item["pk"]["S"], item["sk"]["S"]
        if not pk.startswith("MSG#"):
            continue
        if sk == "META":
            message = message_items.item_to_message(item)
            messages[message.id] = message
        elif sk.startswith("ATT#"):
            attempt = attempt_items.item_to_attempt(item)
            attempts.setdefault(attempt.message_id, []).append(attempt)
    return [(message, attempts.get(message.id, [])) for message in messages.values()]


class _Atomic:
    """A file written beside its target and renamed over it when complete: a crash keeps the old one."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._tmp = path.with_name(f".{path.name}.tmp")

    def __enter__(self) -> Any:
        self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._file = os.fdopen(os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")
        os.fchmod(self._file.fileno(), 0o600)  # a leftover temporary file keeps its mode otherwise
        return self._file

    def __exit__(self, kind: object, *rest: object) -> None:
        self._file.close()
        if kind is None:
            os.replace(self._tmp, self._path)
        else:
            self._tmp.unlink(missing_ok=True)


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read (0600), whole or not at all (renamed over the old one)."""
    _write(path, data)


def _write(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(fd, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)


def _to_json(value: Item) -> Item:
    """A DynamoDB attribute value as boto3 returns it, with bytes as base64 text (the CLI's JSON)."""
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64encode(inner).decode()}
    if kind == "BS":
        return {"BS": [base64.b64encode(b).decode() for b in inner]}
    if kind == "M":
        return {"M": {name: _to_json(v) for name, v in inner.items()}}
    if kind == "L":
        return {"L": [_to_json(v) for v in inner]}
    return value


def _from_json(value: Item) -> Item:
    """The inverse of ``_to_json``."""
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64decode(inner)}
    if kind == "BS":
        return {"BS": [base64.b64decode(b) for b in inner]}
    if kind == "M":
        return {"M": {name: _from_json(v) for name, v in inner.items()}}
    if kind == "L":
        return {"L": [_from_json(v) for v in inner]}
    return value
