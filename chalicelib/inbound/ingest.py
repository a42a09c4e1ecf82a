"""The ingest service behind ``/in/{source_id}``: check, verify, make one durable write, answer.

Order of checks, cheapest and least revealing first: the source exists and is enabled, the body size,
the IP allowlist, the client certificate, Basic auth, then the provider signature. A rejected request
is never enqueued and costs no storage call of its own: it is counted in memory and written with the
others of its source at most once a second, off the request's thread (``chalicelib.inbound.rejections``),
so a burst of bad requests cannot slow the reply or anyone else's writes. An accepted one costs exactly one AWS call on the warm path (SQS SendMessage; S3
PutObject first when the claim check is needed).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NoReturn

from chalicelib.caches import SourceCache
from chalicelib.envelope import Envelope
from chalicelib.errors import (
    ConfigError,
    HookwayError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    RejectedError,
)
from chalicelib.ids import MessageIds, new_id
from chalicelib.inbound import access, credentials
from chalicelib.inbound.rejections import RejectionLog
from chalicelib.inbound.request import InboundRequest, Reply
from chalicelib.inbound_models import BodyRef, Rejection, Source
from chalicelib.verification import ChallengeReply, VerificationError, Verified, challenge_reply, verify

if TYPE_CHECKING:
    from chalicelib.ports import BlobStore, Queue, RejectionStore

log = logging.getLogger("hookway.ingest")
# A rejection keeps the names of at most this many of the request's headers.
MAX_HEADER_NAMES_KEPT = 60

_CONFIG_REASONS = frozenset({"missing_secret", "invalid_secret", "invalid_options", "unsupported_scheme"})
_HOP_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "upgrade", "te", "trailer"})
# What API Gateway and CloudFront add, or what only described the hop to us: not the provider's, and every
# stored byte counts (a message item over a 1 KB boundary costs another DynamoDB write unit).
_TRANSPORT_HEADERS = frozenset({"host", "content-length", "accept-encoding", "via", "expect"})
_TRANSPORT_PREFIXES = ("x-forwarded-", "x-amzn-", "x-amz-cf-", "cloudfront-")


#: What an inbound event type may be: the published charset (``[A-Za-z0-9_.:/-]``) plus single inner spaces
#: (GitLab's "Push Hook"), at most ``MAX_EVENT_TYPE`` characters. Linear to match: no nested quantifier.
MAX_EVENT_TYPE = 200
_EVENT_TYPE = re.compile(r"[A-Za-z0-9_.:/-]+(?: [A-Za-z0-9_.:/-]+)*")


def checked_event_type(value: str | None) -> tuple[str | None, bool]:
    """The event type to store, and whether the provider's was refused (``(None, True)``).

    A provider's event type ends up in an HTTP header of every attempt (``Hookway-Event-Type``,
    ``X-GitHub-Event``) and in every endpoint's filter match, so CR/LF, non-Latin-1 text or kilobytes of it
    would make each attempt fail, or slow the router. The request is authentic, though: refusing it would
    lose the provider's message (or have it retried forever) for a label. So the message is kept, with no
    event type and ``event_type_invalid`` set; the raw header stays in the stored headers for debugging.
    """
    if value is None:
        return None, False
    if len(value) <= MAX_EVENT_TYPE and _EVENT_TYPE.fullmatch(value):
        return value, False
    return None, True


def _json_reply(status: int, doc: dict[str, Any]) -> Reply:
    return Reply(status, json.dumps(doc, separators=(",", ":")).encode())


def _json_pointer(doc: Any, pointer: str) -> Any:
    if pointer in ("", "/"):
        return doc
    for raw in pointer.lstrip("/").split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(doc, dict):
            doc = doc.get(token)
        elif isinstance(doc, list) and token.isdigit() and int(token) < len(doc):
            doc = doc[int(token)]
        else:
            return None
    return doc


def dedupe_key(
    spec: str | None,
    *,
    delivery_id: str | None,
    request: InboundRequest,
    body_sha256: str,
    id_trusted: bool = True,
) -> str | None:
    """The key that makes a second copy of this webhook a duplicate, per the source's rule.

    ``None`` (the default) uses the provider's own delivery id when a replay cannot change it
    (``id_trusted``: the signature covers the id, or a signed timestamp bounds the replay to the tolerance),
    else the body's SHA-256. Body-only schemes (GitHub, Shopify, Bitbucket, GitLab, hmac without a signed id
    or timestamp, ...) thus dedupe on the body: a captured delivery sent again with a new delivery id header
    is still a duplicate. ``header:NAME`` and ``json:/pointer`` name the key (the operator's explicit
    choice, kept as given); ``body`` always uses the hash; ``none`` turns deduplication off.
    """
    if spec == "none":
        return None
    if spec is None:
        return f"id:{delivery_id}" if delivery_id and id_trusted else f"sha256:{body_sha256}"
    if spec == "body":
        return f"sha256:{body_sha256}"
    if spec.startswith("header:"):
        header = request.header(spec.removeprefix("header:"))
        return f"header:{header}" if header else f"sha256:{body_sha256}"
    if spec.startswith("json:"):
        try:
            found = _json_pointer(json.loads(request.body), spec.removeprefix("json:"))
        except (ValueError, RecursionError):
            found = None
        if found is None or isinstance(found, dict | list):
            return f"sha256:{body_sha256}"
        return "json:" + json.dumps(found)  # ASCII-escaped: any string the body holds can be hashed
    return f"sha256:{body_sha256}"


class IngestService:
    """Receives webhooks for sources; see the module docstring for the order of checks."""

    def __init__(
        self,
        *,
        sources: SourceCache,
        store: RejectionStore,
        queue: Queue,
        blobs: BlobStore,
        clock: Callable[[], float],
        max_body_bytes: int,
        claim_check_bytes: int,
        rejections_kept: int,
        ids: MessageIds,
        count: Callable[..., None] | None = None,
        rejections: RejectionLog | None = None,
    ) -> None:
        self._ids = ids
        self._sources = sources
        self._store = store
        self._queue = queue
        self._blobs = blobs
        self._clock = clock
        self._max_body = max_body_bytes
        self._claim_check = claim_check_bytes
        self._rejections = rejections or RejectionLog(store, clock, ring_size=rejections_kept)
        self._count = count or (lambda *a, **k: None)

    def receive(self, request: InboundRequest) -> Reply:
        """Handle one request to ``/in/{source_id}``; raises HookwayError subclasses for refusals."""
        now = self._clock()
        self._rejections.tick()  # rejections of earlier requests, written off this thread when due
        source = self._sources.get(request.source_id)
        if not source.enabled:
            raise NotFoundError(f"source {source.id!r} is disabled", code="source_disabled")
        limit = min(source.max_body_bytes or self._max_body, self._max_body)
        if len(request.body) > limit:
            self._reject(
                source,
                request,
                now,
                PayloadTooLargeError(
                    f"the body is {len(request.body)} bytes; this source accepts at most {limit}"
                ),
            )
        try:
            access.check(source, request, now)
            if request.method == "GET":
                return self._challenge(source, request)
            secrets = source.verification.live_secrets(now)
            verified = verify(
                source.verification.scheme,
                secrets=secrets,
                method=request.method,
                url=_signed_url(source, request),
                headers=request.headers,
                body=request.body,
                now=now,
                tolerance=source.verification.tolerance,
                options=source.verification.options,
            )
            reply = challenge_reply(
                source.verification.scheme,
                secrets=secrets,
                method=request.method,
                query=request.query,
                headers=request.headers,
                body=request.body,
                options=source.verification.options,
            )
        except VerificationError as exc:
            if exc.reason in _CONFIG_REASONS:
                # Our configuration is broken, not the request: 503 makes the provider retry, losing nothing.
                self._reject(source, request, now, ConfigError(str(exc), code=exc.reason))
            self._reject(
                source,
                request,
                now,
                RejectedError(
                    str(exc),
                    code=exc.reason,
                    status=source.rejection_status,
                    headers=access.challenge_headers(exc.reason, source),
                ),
            )
        except RejectedError as exc:
            self._reject(source, request, now, exc)
        if reply is not None:
            return _challenge_to_reply(reply)
        message_id = self._enqueue(source, request, now, verified)
        return _json_reply(202, {"id": message_id})

    def _challenge(self, source: Source, request: InboundRequest) -> Reply:
        try:
            reply = challenge_reply(
                source.verification.scheme,
                secrets=source.verification.live_secrets(self._clock()),
                method="GET",
                query=request.query,
                headers=request.headers,
                body=request.body,
                options=source.verification.options,
            )
        except VerificationError as exc:
            if exc.reason == "invalid_challenge":
                # A challenge no provider sends (an X crc_token that could sign a body): bad input, 400.
                error = RejectedError(str(exc), code=exc.reason, status=400)
            else:
                error = RejectedError("the verification token does not match", code=exc.reason, status=403)
            self._reject(source, request, self._clock(), error)
        if reply is None:
            raise MethodNotAllowedError(
                "this source answers no GET handshake; send webhooks with POST", headers={"Allow": "POST"}
            )
        return _challenge_to_reply(reply)

    def _enqueue(
        self,
        source: Source,
        request: InboundRequest,
        now: float,
        verified: Verified,
    ) -> str:
        body_sha256 = hashlib.sha256(request.body).hexdigest()
        # Nothing the source authenticates with is stored (or shown, or forwarded): see credentials.py.
        secrets = credentials.source_credentials(source, source.verification.live_secrets(now))
        delivery_id = verified.delivery_id
        signed_timestamp = verified.timestamp if verified.timestamp_signed else None
        event_type, event_type_invalid = checked_event_type(verified.event_type)
        key = dedupe_key(
            source.dedupe,
            delivery_id=delivery_id,
            request=request,
            body_sha256=body_sha256,
            id_trusted=verified.delivery_id_signed or signed_timestamp is not None,
        )
        message_id = self._ids.derived(source.id, key) if key else self._ids.random()
        receipt = new_id("rcpt")
        envelope = Envelope(
            id=message_id,
            receipt_id=receipt,
            source_id=source.id,
            received_at=now,
            content_type=request.header("content-type"),
            size=len(request.body),
            sha256=body_sha256,
            replay_window=source.replay_window,
            method=request.method,
            path=request.path,
            query=credentials.strip_query(request.query_string, secrets),
            headers=credentials.strip_headers(
                _stored_headers(request.headers), credentials.credential_header_names(source), secrets
            ),
            source_ip=request.source_ip,
            event_type=event_type,
            event_type_verified=None if event_type is None else verified.event_type_signed,
            event_type_invalid=event_type_invalid,
            delivery_id=delivery_id,
            dedupe_key=key,
            signed_timestamp=signed_timestamp,
            body=request.body,
            application_id=source.application_id,
        )
        text = envelope.encode()
        if len(text.encode()) > self._claim_check:
            object_key = f"ingest/{source.id}/{receipt}"
            bucket = self._blobs.put(object_key, request.body)
            ref = BodyRef(bucket=bucket, key=object_key, sha256=body_sha256, size=len(request.body))
            text = replace(envelope, body=None, body_ref=ref).encode()
        self._queue.send(text)
        log.debug(
            "accepted", extra={"source_id": source.id, "message_id": message_id, "size": len(request.body)}
        )
        return message_id

    def _reject(self, source: Source, request: InboundRequest, now: float, error: HookwayError) -> NoReturn:
        """Count and keep the rejection (in memory, written later off this thread), then raise it."""
        # The metric has no per-source dimension (one metric per tenant is a bill that grows with tenants):
        # the source id is in the log line the rejection log writes per source and flush.
        self._count("Rejected", reason=error.code)
        log.debug("rejected", extra={"source_id": source.id, "reason": error.code})
        self._rejections.record(
            Rejection(
                source_id=source.id,
                at=now,
                code=error.code,
                message=error.message,
                source_ip=request.source_ip,
                method=request.method,
                content_type=request.header("content-type")[:200],
                size=len(request.body),
                user_agent=request.header("user-agent")[:200],
                # The names say which signature headers arrived at all, the commonest answer to "why does
                # my signature fail?"; values are never kept.
                header_names=tuple(sorted(name[:100] for name in request.headers)[:MAX_HEADER_NAMES_KEPT]),
            )
        )
        raise error


def _signed_url(source: Source, request: InboundRequest) -> str:
    """The URL the provider signed: the source's ``signed_url`` option when set, else the one rebuilt.

    API Gateway hands over the query string decoded, so a rebuilt URL can differ from the one configured
    at the provider in its escaping or parameter order; Twilio and Square sign that exact text.
    """
    configured = source.verification.options.get("signed_url")
    return configured if isinstance(configured, str) and configured else request.url


def _challenge_to_reply(reply: ChallengeReply) -> Reply:
    return Reply(reply.status, reply.body, reply.content_type)


def _stored_headers(headers: Mapping[str, Sequence[str]]) -> dict[str, str]:
    return {
        name: ", ".join(values)
        for name, values in headers.items()
        if name not in credentials.CREDENTIAL_HEADERS
        and name not in _HOP_HEADERS
        and name not in _TRANSPORT_HEADERS
        and not name.startswith(_TRANSPORT_PREFIXES)
    }
