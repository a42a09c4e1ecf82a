"""Official vectors from providers' docs and SDK suites, and cross-checks with the installed SDKs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pytest

from chalicelib.verification import VerificationError, verify

from . import vectors as v


def call(scheme: str, secret: str | list[str], headers: dict[str, Any], body: bytes, **kw: Any) -> Any:
    kw.setdefault("url", "https://example.com/hook")
    kw.setdefault("method", "POST")
    secrets = [secret] if isinstance(secret, str) else secret
    return verify(scheme, secrets=secrets, headers=headers, body=body, **kw)


# --- GitHub ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", [v.GITHUB_DOCS, v.OCTOKIT_FOO_BAR, v.OCTOKIT_ISSUE_71, v.OCTOKIT_ESCAPED])
def test_github_official_vectors(vector: dict[str, Any]) -> None:
    # GIVEN the documented secret, body and signature WHEN verified THEN it passes
    headers = {
        "X-Hub-Signature-256": vector["signature"],
        "X-GitHub-Delivery": "d-1",
        "X-GitHub-Event": "ping",
    }
    result = call("github", vector["secret"], headers, vector["body"])
    assert (result.delivery_id, result.event_type, result.timestamp) == ("d-1", "ping", None)


def test_github_issue_71_requires_the_bytes_as_received() -> None:
    # GIVEN the issue-71 body with the \u001B escapes lower-cased (what a re-serialiser would produce)
    lowered = v.OCTOKIT_ISSUE_71["body"].replace(b"\\u001B", b"\\u001b")
    headers = {"X-Hub-Signature-256": v.OCTOKIT_ISSUE_71["signature"]}
    # THEN the signature over the uppercase original does not match
    with pytest.raises(VerificationError) as err:
        call("github", "development", headers, lowered)
    assert err.value.reason == "signature_mismatch"


def test_jenkins_sha1_vector_only_with_allow_sha1() -> None:
    headers = {"X-Hub-Signature": v.JENKINS_SHA1["signature"]}
    call("github", "bar", headers, b"foo", options={"allow_sha1": True})
    with pytest.raises(VerificationError) as err:
        call("github", "bar", headers, b"foo")
    assert err.value.reason == "missing_header"


# --- Stripe ---------------------------------------------------------------------------------------


def test_stripe_vector_and_sdk_agree() -> None:
    import stripe

    header = f"t={v.STRIPE['timestamp']},v1={v.STRIPE['v1']}"
    # GIVEN the SDK with its clock frozen at t: it accepts the same header
    with mock.patch("time.time", return_value=float(v.STRIPE["timestamp"])):
        assert stripe.WebhookSignature.verify_header(
            v.STRIPE["body"].decode(), header, v.STRIPE["secret"], tolerance=300
        )
        assert (
            stripe.WebhookSignature.generate_signature_header(
                v.STRIPE["body"].decode(), v.STRIPE["secret"], timestamp=v.STRIPE["timestamp"]
            )
            == header.split(",")[0] + "," + header.split(",")[1]
        )
    result = call(
        "stripe",
        v.STRIPE["secret"],
        {"Stripe-Signature": header},
        v.STRIPE["body"],
        now=v.STRIPE["timestamp"],
    )
    assert result.delivery_id == "evt_test_webhook"
    assert result.event_type == "payment_intent.succeeded"
    assert result.timestamp == v.STRIPE["timestamp"]


def test_stripe_key_is_the_whole_whsec_string() -> None:
    header = f"t={v.STRIPE['timestamp']},v1={v.STRIPE['v1']}"
    with pytest.raises(VerificationError) as err:
        call(
            "stripe",
            v.STRIPE["secret"].removeprefix("whsec_"),
            {"Stripe-Signature": header},
            v.STRIPE["body"],
            now=v.STRIPE["timestamp"],
        )
    assert err.value.reason == "signature_mismatch"


# --- Standard Webhooks / Svix ---------------------------------------------------------------------


def _std_headers(vector: dict[str, Any], prefix: str = "webhook") -> dict[str, str]:
    return {
        f"{prefix}-id": vector["id"],
        f"{prefix}-timestamp": str(vector["timestamp"]),
        f"{prefix}-signature": vector["signature"],
    }


@pytest.mark.parametrize("vector", [v.STANDARD, v.STANDARD_RUST])
@pytest.mark.parametrize("prefix", ["webhook", "svix"])
def test_standard_sign_vectors(vector: dict[str, Any], prefix: str) -> None:
    result = call(
        "standard", vector["secret"], _std_headers(vector, prefix), vector["body"], now=vector["timestamp"]
    )
    assert (result.delivery_id, result.timestamp) == (vector["id"], vector["timestamp"])


@pytest.mark.parametrize("vector", [v.STANDARD, v.STANDARD_RUST])
def test_standard_vectors_match_the_reference_libraries(vector: dict[str, Any]) -> None:
    import standardwebhooks
    import svix

    when = datetime.fromtimestamp(vector["timestamp"], tz=UTC)
    body = vector["body"].decode()
    assert standardwebhooks.Webhook(vector["secret"]).sign(vector["id"], when, body) == vector["signature"]
    assert svix.Webhook(vector["secret"]).sign(vector["id"], when, body) == vector["signature"]


def test_standard_secret_without_prefix_or_padding() -> None:
    bare = v.STANDARD["secret"].removeprefix("whsec_").rstrip("=")
    call("svix", bare, _std_headers(v.STANDARD), v.STANDARD["body"], now=v.STANDARD["timestamp"])


def test_standard_v1a_vector() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    # GIVEN svix's ed25519 key pair: the seed half derives the published whpk_ key
    keypair = base64.b64decode(v.STANDARD_V1A["keypair"])
    private = Ed25519PrivateKey.from_private_bytes(keypair[:32])
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert v.STANDARD_V1A["public"] == "whpk_" + base64.b64encode(public).decode()
    assert public == keypair[32:]
    # AND ed25519 is deterministic, so re-signing reproduces the published signature
    content = f"{v.STANDARD_V1A['id']}.{v.STANDARD_V1A['timestamp']}.".encode() + v.STANDARD_V1A["body"]
    assert "v1a," + base64.b64encode(private.sign(content)).decode() == v.STANDARD_V1A["signature"]
    # WHEN verified with the public key THEN it passes, also next to a v1 entry for another secret
    headers = _std_headers(v.STANDARD_V1A)
    call(
        "standard", v.STANDARD_V1A["public"], headers, v.STANDARD_V1A["body"], now=v.STANDARD_V1A["timestamp"]
    )
    headers["webhook-signature"] = v.STANDARD["signature"] + " " + v.STANDARD_V1A["signature"]
    call(
        "standard",
        [v.STANDARD_V1A["public"]],
        headers,
        v.STANDARD_V1A["body"],
        now=v.STANDARD_V1A["timestamp"],
    )
    # AND a tampered body fails
    with pytest.raises(VerificationError) as err:
        call(
            "standard",
            v.STANDARD_V1A["public"],
            headers,
            b'{"test": 2432232315}',
            now=v.STANDARD_V1A["timestamp"],
        )
    assert err.value.reason == "signature_mismatch"


# --- Slack ----------------------------------------------------------------------------------------


def test_slack_docs_vector() -> None:
    headers = {
        "X-Slack-Signature": v.SLACK["signature"],
        "X-Slack-Request-Timestamp": str(v.SLACK["timestamp"]),
    }
    result = call("slack", v.SLACK["secret"], headers, v.SLACK["body"], now=v.SLACK["timestamp"])
    assert result.timestamp == v.SLACK["timestamp"]
    assert result.delivery_id is None  # form-encoded slash command: no event id
    with pytest.raises(VerificationError) as err:
        call("slack", v.SLACK["secret"], headers, v.SLACK["body"] + b"------", now=v.SLACK["timestamp"])
    assert err.value.reason == "signature_mismatch"


# --- Twilio ---------------------------------------------------------------------------------------


def _form(params: dict[str, str]) -> bytes:
    from urllib.parse import urlencode

    return urlencode(params).encode()


@pytest.mark.parametrize(
    ("params", "signature"),
    [(v.TWILIO_SDK_PARAMS, v.TWILIO_SDK_SIGNATURE), (v.TWILIO_DOCS_PARAMS, v.TWILIO_DOCS_SIGNATURE)],
)
def test_twilio_sdk_and_docs_vectors(params: dict[str, str], signature: str) -> None:
    # The form body is percent-encoded (+1415... travels as %2B1415...); Twilio signs the decoded values.
    body = _form(params)
    assert b"%2B" in body
    headers = {"X-Twilio-Signature": signature, "I-Twilio-Idempotency-Token": "idem-1"}
    result = call("twilio", v.TWILIO_TOKEN, headers, body, url=v.TWILIO_URL)
    assert result.delivery_id == "idem-1"


@pytest.mark.parametrize(("url", "signature"), v.TWILIO_PORT_CASES)
def test_twilio_port_variants(url: str, signature: str) -> None:
    call("twilio", v.TWILIO_TOKEN, {"X-Twilio-Signature": signature}, _form(v.TWILIO_SDK_PARAMS), url=url)


def test_twilio_duplicate_parameters() -> None:
    headers = {"X-Twilio-Signature": v.TWILIO_DUPLICATES_SIGNATURE}
    call("twilio", v.TWILIO_TOKEN, headers, v.TWILIO_DUPLICATES_BODY, url=v.TWILIO_URL)
    # Order of the duplicates does not matter (values are sorted); an extra copy does not either (deduped).
    swapped = b"Digits=1234&Sid=CA123&Digits=5678&SidAccount=AC123&Digits=1234"
    call("twilio", v.TWILIO_TOKEN, headers, swapped, url=v.TWILIO_URL)


def test_twilio_json_body_sha256() -> None:
    assert hashlib.sha256(v.TWILIO_JSON_BODY).hexdigest() == v.TWILIO_JSON_HASH
    url = v.TWILIO_URL + "&bodySHA256=" + v.TWILIO_JSON_HASH
    headers = {"X-Twilio-Signature": v.TWILIO_JSON_SIGNATURE}
    call("twilio", v.TWILIO_TOKEN, headers, v.TWILIO_JSON_BODY, url=url)
    # A body that does not hash to bodySHA256 fails even though the URL signature is right.
    with pytest.raises(VerificationError) as err:
        call("twilio", v.TWILIO_TOKEN, headers, v.TWILIO_JSON_BODY + b" ", url=url)
    assert err.value.reason == "signature_mismatch"


# --- Shopify, Square, PagerDuty, Paddle -------------------------------------------------------------


def test_shopify_vector() -> None:
    call("shopify", v.SHOPIFY["secret"], {"X-Shopify-Hmac-Sha256": v.SHOPIFY["signature"]}, v.SHOPIFY["body"])
    call("shopify", v.SHOPIFY["secret"], {"Shopify-Hmac-Sha256": v.SHOPIFY["signature"]}, v.SHOPIFY["body"])
    hex_signature = hmac.new(v.SHOPIFY["secret"].encode(), v.SHOPIFY["body"], hashlib.sha256).hexdigest()
    with pytest.raises(VerificationError) as err:
        call("shopify", v.SHOPIFY["secret"], {"X-Shopify-Hmac-Sha256": hex_signature}, v.SHOPIFY["body"])
    assert err.value.reason in ("malformed_header", "signature_mismatch")


@pytest.mark.parametrize("vector", [v.SQUARE, v.SQUARE_ESCAPED])
def test_square_vectors(vector: dict[str, Any]) -> None:
    headers = {"x-square-hmacsha256-signature": vector["signature"]}
    call("square", vector["secret"], headers, vector["body"], url=vector["url"])
    # The configured notification URL wins over the URL the request arrived at (a proxy rewrote it).
    call(
        "square",
        vector["secret"],
        headers,
        vector["body"],
        url="https://internal/x",
        options={"notification_url": vector["url"]},
    )


@pytest.mark.parametrize(
    ("url", "secret", "signature"),
    [
        (
            "https://webhook.site/79a4f3a-dcfa-49ee-bac5-9d0edad886b9",
            v.SQUARE["secret"],
            v.SQUARE["signature"],
        ),
        (v.SQUARE["url"], "MCmhFRxGX82xMwg5FsaoQA", v.SQUARE["signature"]),
        (v.SQUARE["url"], v.SQUARE["secret"], "1z2n3DEJJiUPKcPzQo1ftvbxGdw="),
    ],
)
def test_square_sdk_negative_cases(url: str, secret: str, signature: str) -> None:
    with pytest.raises(VerificationError) as err:
        call("square", secret, {"x-square-hmacsha256-signature": signature}, v.SQUARE["body"], url=url)
    assert err.value.reason == "signature_mismatch"


def test_pagerduty_vector() -> None:
    result = call(
        "pagerduty",
        v.PAGERDUTY["secret"],
        {"X-PagerDuty-Signature": v.PAGERDUTY["signature"]},
        v.PAGERDUTY["body"],
    )
    assert (result.delivery_id, result.event_type) == (
        "01BWDWL3NYY7LUFPZCC28QUCMK",
        "incident.priority_updated",
    )
    # Rotation: one entry per secret, comma-separated; the valid one is second.
    both = v.PAGERDUTY["mismatch"] + "," + v.PAGERDUTY["signature"]
    call("pagerduty", v.PAGERDUTY["secret"], {"X-PagerDuty-Signature": both}, v.PAGERDUTY["body"])
    cases = [
        ({"X-PagerDuty-Signature": v.PAGERDUTY["mismatch"]}, v.PAGERDUTY["body"], "signature_mismatch"),
        ({}, v.PAGERDUTY["body"], "missing_header"),
        ({"X-PagerDuty-Signature": v.PAGERDUTY["signature"]}, b"", "signature_mismatch"),
    ]
    for headers, body, reason in cases:
        with pytest.raises(VerificationError) as err:
            call("pagerduty", v.PAGERDUTY["secret"], headers, body)
        assert err.value.reason == reason


@pytest.mark.parametrize("vector", [v.PADDLE, v.PADDLE_MULTI])
def test_paddle_vectors(vector: dict[str, Any]) -> None:
    result = call(
        "paddle", vector["secret"], {"Paddle-Signature": vector["header"]}, vector["body"], now=v.PADDLE_NOW
    )
    assert result.timestamp == v.PADDLE_NOW


@pytest.mark.parametrize(
    ("offset", "reason"), [(1, None), (5, None), (6, "timestamp_too_old"), (4 * 86400, "timestamp_too_old")]
)
def test_paddle_sdk_clock_cases(offset: int, reason: str | None) -> None:
    args = ("paddle", v.PADDLE["secret"], {"Paddle-Signature": v.PADDLE["header"]}, v.PADDLE["body"])
    if reason is None:
        call(*args, now=v.PADDLE_NOW + offset)
    else:
        with pytest.raises(VerificationError) as err:
            call(*args, now=v.PADDLE_NOW + offset)
        assert err.value.reason == reason


@pytest.mark.parametrize(
    ("secret", "header", "body", "reason"),
    [
        ("INVALID_VALID_SECRET", v.PADDLE["header"], v.PADDLE["body"], "signature_mismatch"),
        (
            "VALID_SECRET",
            v.PADDLE["header"].replace("1698796800", "9876"),
            v.PADDLE["body"],
            "signature_mismatch",
        ),
        ("VALID_SECRET", v.PADDLE["header"], b'{ "data": [ "1", "2" ]}', "signature_mismatch"),
        ("VALID_SECRET", "ts=1234;h1=invalid_signature", v.PADDLE["body"], "malformed_header"),
        ("VALID_SECRET", "invalid_header", v.PADDLE["body"], "malformed_header"),
        ("VALID_SECRET", "h1=invalid_header", v.PADDLE["body"], "malformed_header"),
        ("VALID_SECRET", "ts=1234;h2=invalid_header", v.PADDLE["body"], "signature_mismatch"),
    ],
)
def test_paddle_sdk_negative_cases(secret: str, header: str, body: bytes, reason: str) -> None:
    with pytest.raises(VerificationError) as err:
        call("paddle", secret, {"Paddle-Signature": header}, body, now=v.PADDLE_NOW)
    assert err.value.reason == reason


def test_paddle_rotation_third_secret_matches() -> None:
    call(
        "paddle",
        ["one", "two", "VALID_SECRET"],
        {"Paddle-Signature": v.PADDLE["header"]},
        v.PADDLE["body"],
        now=v.PADDLE_NOW,
    )


# --- SendGrid -------------------------------------------------------------------------------------


def _sendgrid_headers(signature: str, timestamp: str) -> dict[str, str]:
    return {
        "X-Twilio-Email-Event-Webhook-Signature": signature,
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }


def test_sendgrid_official_vector() -> None:
    headers = _sendgrid_headers(v.SENDGRID["signature"], v.SENDGRID["timestamp"])
    result = call("sendgrid", v.SENDGRID["public_key"], headers, v.SENDGRID["body"])
    assert result.delivery_id == "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA"
    assert (result.event_type, result.timestamp) == ("dropped", 1600112502)
    # Rotation: the right key second.
    call("sendgrid", [v.SENDGRID["other_key"], v.SENDGRID["public_key"]], headers, v.SENDGRID["body"])


@pytest.mark.parametrize(
    ("key", "signature", "timestamp", "body", "reason"),
    [
        (
            v.SENDGRID["other_key"],
            v.SENDGRID["signature"],
            v.SENDGRID["timestamp"],
            v.SENDGRID["body"],
            "signature_mismatch",
        ),
        (
            v.SENDGRID["public_key"],
            v.SENDGRID["signature"],
            v.SENDGRID["timestamp"],
            b"payload",
            "signature_mismatch",
        ),
        (
            v.SENDGRID["public_key"],
            v.SENDGRID["bad_signature"],
            v.SENDGRID["timestamp"],
            v.SENDGRID["body"],
            "signature_mismatch",
        ),
        (
            v.SENDGRID["public_key"],
            v.SENDGRID["signature"],
            "timestamp",
            v.SENDGRID["body"],
            "malformed_header",
        ),
        # The trailing CRLF is part of the signed bytes.
        (
            v.SENDGRID["public_key"],
            v.SENDGRID["signature"],
            v.SENDGRID["timestamp"],
            v.SENDGRID["body"].rstrip(),
            "signature_mismatch",
        ),
        (
            v.SENDGRID["public_key"],
            "bm90IGEgc2lnbmF0dXJl",
            v.SENDGRID["timestamp"],
            v.SENDGRID["body"],
            "signature_mismatch",
        ),
        (
            "bm90IGEga2V5",
            v.SENDGRID["signature"],
            v.SENDGRID["timestamp"],
            v.SENDGRID["body"],
            "invalid_secret",
        ),
    ],
)
def test_sendgrid_negative_cases(key: str, signature: str, timestamp: str, body: bytes, reason: str) -> None:
    with pytest.raises(VerificationError) as err:
        call("sendgrid", key, _sendgrid_headers(signature, timestamp), body)
    assert err.value.reason == reason


def test_sendgrid_window_only_when_asked() -> None:
    headers = _sendgrid_headers(v.SENDGRID["signature"], v.SENDGRID["timestamp"])
    call("sendgrid", v.SENDGRID["public_key"], headers, v.SENDGRID["body"], now=2_000_000_000)
    with pytest.raises(VerificationError) as err:
        call(
            "sendgrid",
            v.SENDGRID["public_key"],
            headers,
            v.SENDGRID["body"],
            now=2_000_000_000,
            tolerance=300,
        )
    assert err.value.reason == "timestamp_too_old"


# --- Mailgun --------------------------------------------------------------------------------------


def test_mailgun_sdk_inputs_json_and_form() -> None:
    m = v.MAILGUN
    signature = hmac.new(
        m["secret"].encode(), (m["timestamp"] + m["token"]).encode(), hashlib.sha256
    ).hexdigest()
    document = {
        "signature": {"timestamp": m["timestamp"], "token": m["token"], "signature": signature},
        "event-data": {"event": "delivered"},
    }
    now = int(m["timestamp"])
    result = call("mailgun", m["secret"], {}, json.dumps(document).encode(), now=now)
    assert (result.delivery_id, result.event_type, result.timestamp) == ("token", "delivered", now)
    form = f"timestamp={m['timestamp']}&token={m['token']}&signature={signature}&event=opened".encode()
    assert call("mailgun", m["secret"], {}, form, now=now).event_type == "opened"
