"""The handler convention, pure: ``function handler(webhook) { ...; return webhook; }``.

``webhook`` is ``{"method", "url", "headers", "payload" | "body", "cancel": false}``: ``payload`` is the
parsed body when it is JSON, else ``body`` holds it as text. The handler may change the body (``payload``,
or ``body`` when it sets no ``payload``), add, change or remove headers but the reserved ones, change the
path and query of the endpoint's own URL (never its scheme, host or port), or set ``cancel`` to true. Any
other change, or a return that is not such an object, is a ``Failed`` outcome with a one-line reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MAX_CODE_CHARS = 16 * 1024  # an endpoint's stored code (the router's and sender's caches hold it too)
MAX_BODY_BYTES = 1024 * 1024  # a transformed body, unless the original was larger
MAX_HEADERS = 50
MAX_HEADER_VALUE = 4096
MAX_URL_CHARS = 2048
MAX_REASON_CHARS = 300
CANCELLED = "cancelled_by_transformation"
ERROR_CLASS = "transformation_error"
# Headers a transformation may neither set nor change: Hookway signs and frames the request after it,
# and the endpoint's own credentials are added after it too.
RESERVED_HEADERS = frozenset(
    {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "svix-id",
        "svix-timestamp",
        "svix-signature",
        "x-hub-signature",
        "x-hub-signature-256",
        "content-length",
        "host",
        "connection",
        "transfer-encoding",
        "te",
        "upgrade",
        "expect",
        "keep-alive",
        "trailer",
        "authorization",
        "proxy-authorization",
        "cookie",
        "user-agent",
    }
)
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True)
class Request:
    """A request as a transformation sees and returns it (before signing)."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Cancelled:
    """The handler set ``cancel``: nothing is sent, the delivery ends ``skipped``."""


@dataclass(frozen=True)
class Failed:
    """The handler threw, ran out of time or memory, or returned something unusable."""

    reason: str


Outcome = Request | Cancelled | Failed


def is_json(content_type: str | None) -> bool:
    """Whether a content type is JSON (``application/json``, ``*/*+json``)."""
    media = (content_type or "application/json").split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def webhook_of(request: Request) -> dict[str, Any] | Failed:
    """The ``webhook`` object a handler is given."""
    webhook: dict[str, Any] = {
        "method": request.method,
        "url": request.url,
        "headers": dict(request.headers),
        "cancel": False,
    }
    content_type = next((v for k, v in request.headers.items() if k.lower() == "content-type"), None)
    if is_json(content_type):
        try:
            webhook["payload"] = json.loads(request.body or b"null")
            return webhook
        except ValueError:
            pass  # labelled JSON but not: handed over as text
    try:
        webhook["body"] = request.body.decode("utf-8")
    except UnicodeDecodeError:
        return Failed("the body is not UTF-8 text, which a transformation cannot read")
    return webhook


def one_line(text: str) -> str:
    """A reason on one line, bounded."""
    line = " ".join(str(text).split())
    return line[:MAX_REASON_CHARS] or "no reason given"


def outcome_of(returned: Any, original: Request) -> Outcome:
    """What a handler's return value means for the request, checked against the convention."""
    if not isinstance(returned, dict):
        kind = "nothing" if returned is None else type(returned).__name__
        return Failed(f"the handler must return the webhook object, it returned {kind}")
    cancel = returned.get("cancel", False)
    if cancel is True:
        return Cancelled()
    if cancel is not False:
        return Failed("webhook.cancel must be true or false")
    method = returned.get("method", original.method)
    if method != original.method:
        return Failed(f"webhook.method cannot be changed (it is {original.method})")
    url = _url(returned.get("url", original.url), original.url)
    if isinstance(url, Failed):
        return url
    headers = _headers(returned.get("headers", original.headers), original.headers)
    if isinstance(headers, Failed):
        return headers
    body = _body(returned, original)
    if isinstance(body, Failed):
        return body
    return Request(method, url, headers, body)


def _url(given: Any, original: str) -> str | Failed:
    if not isinstance(given, str) or len(given) > MAX_URL_CHARS:
        return Failed(f"webhook.url must be a string of at most {MAX_URL_CHARS} characters")
    if _BAD_VALUE.search(given) or " " in given:
        return Failed("webhook.url holds a space or a control character")
    before, after = urlsplit(original), urlsplit(given)
    if (after.scheme.lower(), after.netloc.lower()) != (before.scheme.lower(), before.netloc.lower()):
        return Failed(
            "webhook.url may change only the path and query: its scheme, host and port stay the endpoint's"
        )
    if after.path and not after.path.startswith("/"):
        return Failed("webhook.url's path must start with /")
    return urlunsplit((before.scheme, before.netloc, after.path or "/", after.query, ""))


def _headers(given: Any, original: dict[str, str]) -> dict[str, str] | Failed:
    if not isinstance(given, dict):
        return Failed("webhook.headers must be an object of header names to strings")
    if len(given) > MAX_HEADERS:
        return Failed(f"webhook.headers holds at most {MAX_HEADERS} headers")
    seen: set[str] = set()
    out: dict[str, str] = {}
    was = {k.lower(): v for k, v in original.items()}
    for name, value in given.items():
        lower = name.lower()
        if not _HEADER_NAME.fullmatch(name):
            return Failed(f"webhook.headers: {name[:100]!r} is not a header name")
        if lower in seen:
            return Failed(f"webhook.headers names {name} twice")
        seen.add(lower)
        if not isinstance(value, str) or len(value) > MAX_HEADER_VALUE or _BAD_VALUE.search(value):
            return Failed(f"webhook.headers: {name} must be a string on one line")
        if lower in RESERVED_HEADERS and was.get(lower) != value:
            return Failed(f"webhook.headers: {name} is reserved (Hookway sets it)")
        out[name] = value
    return out


def _body(returned: dict[str, Any], original: Request) -> bytes | Failed:
    limit = max(MAX_BODY_BYTES, len(original.body))
    if "payload" in returned:
        try:
            body = json.dumps(returned["payload"], ensure_ascii=False, separators=(",", ":")).encode()
        except ValueError:  # a lone surrogate in a string, which UTF-8 cannot carry
            return Failed("webhook.payload holds a string that is not valid Unicode")
    elif isinstance(returned.get("body"), str):
        body = returned["body"].encode("utf-8", "replace")
    else:
        return Failed("the webhook has neither a payload nor a body (a string)")
    if len(body) > limit:
        return Failed(f"the transformed body is larger than {limit} bytes")
    return body
