"""Twilio: ``X-Twilio-Signature: <base64 HMAC-SHA1(auth token, url + sorted params)>``.

The signed string is the full URL Twilio requested (query string included) followed, for form-encoded
POSTs, by every parameter as ``name + value``: names sorted, each name's *decoded* values sorted and
de-duplicated (twilio-python's ``compute_signature``). JSON bodies are signed URL-only, with
``bodySHA256=<hex sha256(body)>`` in the query string; that hash must equal the body's or the request is a
``signature_mismatch``.

Twilio's own validators accept the URL as given, without its port, and with the scheme's default port
added, because "sig generation on back end is inconsistent"; so does this. Webhook rules signed with a
SharedKey may use HMAC-SHA256: ``options={"algorithm": "sha256"}``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

from . import _samples
from ._common import (
    Request,
    VerificationError,
    Verified,
    decode_base64,
    decode_hex,
    equal,
    mac_matches,
    mismatch,
)
from .options import Option
from .scheme import Sample, Scheme

#: Twilio posts a few dozen parameters; far more is an attack on the sort, not a webhook.
_MAX_PARAMS = 1000


def url_variants(url: str) -> list[str]:
    """The URL as given, without its port, and with the default port; duplicates removed."""
    variants = [url]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return variants
    host = parts.netloc.rpartition("@")[2]
    userinfo = parts.netloc[: len(parts.netloc) - len(host)]
    if port is not None:
        bare = host[: host.rindex(":")]
        variants.append(urlunsplit(parts._replace(netloc=userinfo + bare)))
    elif parts.scheme in ("http", "https") and host:
        default = 443 if parts.scheme == "https" else 80
        variants.append(urlunsplit(parts._replace(netloc=f"{userinfo}{host}:{default}")))
    return list(dict.fromkeys(variants))


def _form_string(body: bytes) -> str:
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=_MAX_PARAMS
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise VerificationError("malformed_body", "body is not a url-encoded form") from exc
    values: dict[str, set[str]] = {}
    for name, value in pairs:
        values.setdefault(name, set()).add(value)
    return "".join(name + value for name in sorted(values) for value in sorted(values[name]))


def _body_hash(url: str) -> str | None:
    try:
        query = parse_qs(urlsplit(url).query, keep_blank_values=True, max_num_fields=_MAX_PARAMS)
    except ValueError as exc:
        raise VerificationError("malformed_header", "URL query is not parseable") from exc
    hashes = query.get("bodySHA256")
    if hashes is None:
        return None
    if len(hashes) != 1:
        raise VerificationError("malformed_header", "bodySHA256 appears more than once")
    return hashes[0]


def verify_twilio(req: Request) -> Verified:
    """Verify a Twilio webhook (form POST, GET, or JSON with ``bodySHA256``)."""
    algorithm = req.option("algorithm", "sha1")
    if algorithm not in ("sha1", "sha256"):
        raise VerificationError("invalid_options", "algorithm must be sha1 or sha256")
    signature = decode_base64(req.require_header("X-Twilio-Signature"))
    body_hash = _body_hash(req.url)
    if body_hash is not None:
        claimed = decode_hex(body_hash.lower(), what="bodySHA256", reason="signature_mismatch")
        if not equal(hashlib.sha256(req.body).digest(), claimed):
            raise VerificationError("signature_mismatch", "bodySHA256 does not match the body")
        params = ""
    elif req.method.upper() == "POST" and req.body:
        params = _form_string(req.body)
    else:
        params = ""
    suffix = params.encode("utf-8")
    found = False
    for variant in url_variants(req.url):
        found |= mac_matches(req.secret_keys(), [signature], variant.encode("utf-8") + suffix, algorithm)
    if not found:
        raise mismatch()
    return Verified(delivery_id=req.header("I-Twilio-Idempotency-Token"), unsigned=("delivery_id",))


def sample(secret: str, event: str, now: int, url: str, options: Mapping[str, Any]) -> Sample:
    """A Twilio form POST: ``X-Twilio-Signature: <base64 HMAC of the URL + sorted name+value pairs>``."""
    algorithm = options.get("algorithm", "sha1")
    sid = "SM" + _samples.new_id()[:32]
    params = {"MessageSid": sid, "SmsStatus": event, "From": "+14158675309", "To": "+18005551212"}
    signed = url + "".join(name + params[name] for name in sorted(params))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": _samples.hmac_b64(secret, signed.encode("utf-8"), algorithm),
    }
    return Sample(headers, urlencode(params).encode("ascii"), None, event)


SCHEME = Scheme(
    name="twilio",
    label="Twilio",
    key_label="Auth token",
    verify=verify_twilio,
    signs="HMAC-SHA1 of the URL and the sorted form fields (or the URL with bodySHA256), base64",
    headers=("X-Twilio-Signature",),
    signs_url=True,
    options={
        "algorithm": Option(
            "choice",
            "Algorithm",
            "sha256 only for webhook rules signed with a SharedKey.",
            choices=("sha1", "sha256"),
        )
    },
    sample=sample,
    sample_event="delivered",
    example_key="12345",
)
