"""Publishing: events from applications (``POST /v1/messages``) and Hookway's own operational events.

A published message takes the same path as an inbound webhook: one envelope on the ingest queue, then
the router stores it and fans it out. A test event (``POST /v1/endpoints/{id}/test``) is a published
message of the endpoint's owner whose envelope names that one endpoint: the router delivers it there
only, whatever the endpoint's filter, through the same claim, attempts and retries as any message. With an ``Idempotency-Key`` the message id is derived from the key,
so a retried publish is the same message (the router's conditional write drops the copy), and the key is
remembered for 24 hours with a hash of the request so a different body under the same key is a 409.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalicelib.commands import Publish, SendTest
from chalicelib.envelope import Envelope
from chalicelib.errors import ConflictError, PayloadTooLargeError, ValidationError
from chalicelib.ids import MessageIds, new_id
from chalicelib.models import API_SOURCE, OPS_SOURCE, Endpoint
from chalicelib.ports import CachedApplicationResolver, EndpointLookup, IdempotencyStore, PayloadCheck, Queue
from chalicelib.scope import Scope

IDEMPOTENCY_TTL = 24 * 3600
MAX_PAYLOAD_BYTES = 512 * 1024
MAX_ENVELOPE_BYTES = 1000 * 1024  # SQS takes 1 MiB per message
# What a published event type and an Idempotency-Key may be (checked in chalicelib.api.messages).
EVENT_TYPE = re.compile(r"[A-Za-z0-9_.:/-]{1,200}")
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")
TEST_EVENT_TYPE = "hookway.test"


def _body(event_type: str, payload: Any, now: float) -> bytes:
    """The bytes every endpoint receives, fixed once so every attempt carries the same body."""
    stamp = datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z")
    return json.dumps(
        {"type": event_type, "timestamp": stamp, "data": payload}, separators=(",", ":"), ensure_ascii=False
    ).encode()


class Publisher:
    """Puts published messages on the ingest queue."""

    def __init__(
        self,
        *,
        store: IdempotencyStore,
        queue: Queue,
        clock: Callable[[], float],
        ids: MessageIds,
        applications: CachedApplicationResolver | None = None,
        event_types: PayloadCheck | None = None,
        endpoints: EndpointLookup | None = None,
    ) -> None:
        self._endpoints = endpoints
        self._store = store
        self._queue = queue
        self._clock = clock
        self._ids = ids
        self._applications = applications
        self._event_types = event_types

    def _check(self, event_type: str, payload: Any) -> None:
        if self._event_types is not None:
            self._event_types.check_payload(event_type, payload)

    def publish(self, command: Publish, scope: Scope) -> str:
        """Enqueue a message (the operator's: ``chalicelib.api.messages``); returns the message id.

        With ``application`` (id or uid) the message fans out to that application's endpoints only;
        without, to the operator's own endpoints.
        """
        event_type, payload, idempotency_key = command.event_type, command.payload, command.idempotency_key
        application_id = None
        if command.application is not None:
            if self._applications is None:
                raise ValidationError("application is an application id or uid", field="application")
            application_id = self._applications.resolve_cached(command.application, scope)
        self._check(event_type, payload)
        now = self._clock()
        request_hash = hashlib.sha256(
            json.dumps([event_type, payload, application_id], sort_keys=True).encode()
        ).hexdigest()
        if idempotency_key is None:
            message_id, dedupe = self._ids.random(), None
        else:
            # Keys are per application: two customers' producers may both use "order-42".
            scoped_key = f"{application_id}:{idempotency_key}" if application_id else idempotency_key
            dedupe = f"idem:{scoped_key}"
            message_id = self._ids.derived(API_SOURCE, dedupe)
            held_id, held_hash = self._store.remember_idempotency_key(
                scoped_key,
                request_hash,
                message_id,
                now,
                IDEMPOTENCY_TTL,
            )
            if held_hash != request_hash:
                raise ConflictError(
                    "this Idempotency-Key was used with a different request in the last 24 h",
                    code="idempotency_key_reused",
                )
            message_id = held_id
        # Sent again even for a remembered key: a first try may have failed to enqueue; the router
        # drops the copy if the first one got through.
        return self.enqueue(
            API_SOURCE,
            event_type,
            payload,
            message_id,
            dedupe,
            now,
            replay_window=IDEMPOTENCY_TTL,
            application_id=application_id,
        )

    def send_test(self, endpoint_id: str, command: SendTest, scope: Scope) -> tuple[str, Endpoint]:
        """A test event to one endpoint only; returns its message id.

        The default type ``hookway.test`` is Hookway's own and skips the catalog (strict or not); another
        type is checked against the catalog as a publish would be. 409 ``endpoint_disabled`` for a
        disabled endpoint (or a listen session that has ended): it would only be skipped.
        """
        if self._endpoints is None:
            raise ValidationError("test events are not available here")
        endpoint = self._endpoints.get(endpoint_id, scope)
        now = self._clock()
        if not endpoint.enabled or endpoint.session_over(now):
            raise ConflictError(
                "the endpoint is disabled: enable it to send it a test event", code="endpoint_disabled"
            )
        event_type = command.event_type if command.event_type is not None else TEST_EVENT_TYPE
        if command.payload is not None:
            payload = command.payload
        else:
            payload = {"test": True, "endpoint_id": endpoint.id, "sent_at": now}
        if event_type != TEST_EVENT_TYPE:
            self._check(event_type, payload)
        message_id = self.enqueue(
            API_SOURCE,
            event_type,
            payload,
            self._ids.random(),
            None,
            now,
            replay_window=IDEMPOTENCY_TTL,
            application_id=endpoint.application_id,
            endpoint_id=endpoint.id,
        )
        return message_id, endpoint

    def enqueue(
        self,
        source_id: str,
        event_type: str,
        payload: Any,
        message_id: str,
        dedupe: str | None,
        now: float,
        *,
        replay_window: int,
        application_id: str | None = None,
        endpoint_id: str | None = None,
    ) -> str:
        """Put one published message on the ingest queue (``endpoint_id``: for that endpoint only)."""
        body = _body(event_type, payload, now)
        if len(body) > MAX_PAYLOAD_BYTES:
            raise PayloadTooLargeError(f"the payload is {len(body)} bytes; at most {MAX_PAYLOAD_BYTES}")
        envelope = Envelope(
            id=message_id,
            receipt_id=new_id("rcpt"),
            source_id=source_id,
            received_at=now,
            content_type="application/json",
            size=len(body),
            sha256=hashlib.sha256(body).hexdigest(),
            replay_window=replay_window,
            kind="published",
            event_type=event_type,
            dedupe_key=dedupe,
            body=body,
            application_id=application_id,
            endpoint_id=endpoint_id,
        )
        text = envelope.encode()
        if len(text) > MAX_ENVELOPE_BYTES:  # ASCII-only: characters are bytes
            # JSON escaping can grow a payload up to 12 bytes per character (emoji): refuse it clearly
            # instead of letting SQS refuse it as a 503 the client would retry forever.
            raise PayloadTooLargeError(
                f"the payload needs {len(text)} bytes once escaped for the queue; at most {MAX_ENVELOPE_BYTES}"
            )
        self._queue.send(text)
        return message_id

    def operational(
        self, event_type: str, data: dict[str, Any], dedupe: str, *, application_id: str | None = None
    ) -> str:
        """Publish one of Hookway's operational events (``endpoint.disabled``, ``message.attempt.*``).

        ``dedupe`` names the fact (e.g. the delivery and attempt), so a retried task emits it once.
        """
        now = self._clock()
        return self.enqueue(
            OPS_SOURCE,
            event_type,
            data,
            self._ids.derived(OPS_SOURCE, dedupe),
            dedupe,
            now,
            replay_window=7 * 86400,
            application_id=application_id,
        )
