"""Hypothesis properties: sign-then-verify, single-byte tampering, and junk headers."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.verification import SCHEMES, VerificationError, challenge_reply, verify

from . import signers as s
from .signers import NOW

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
secrets = st.text(min_size=1, max_size=40).filter(lambda text: text.strip() != "")
bodies = st.binary(max_size=512)
# X accepts JSON objects only (its CRC answer must never sign an acceptable body): its own properties below.
symmetric = st.sampled_from(sorted(set(s.BODY_SIGNERS) - {"x"}))
json_objects = st.dictionaries(st.text(max_size=10), st.text(max_size=20) | st.integers(), max_size=5)
crc_tokens = (
    st.from_regex(r"[A-Za-z0-9+/_-]{1,255}={0,2}", fullmatch=True)
    | st.text(max_size=300)
    | json_objects.map(json.dumps)
    | st.sampled_from(['{"a":1}', ' {"for_user_id":"1"}', "{}", "[]", "null", "1", '"x"'])
)


@SETTINGS
@given(scheme=symmetric, secret=secrets, body=bodies)
def test_sign_then_verify(scheme: str, secret: str, body: bytes) -> None:
    s.BODY_SIGNERS[scheme](secret, body).verify()


@SETTINGS
@given(secret=secrets, document=json_objects)
def test_x_sign_then_verify(secret: str, document: dict[str, Any]) -> None:
    s.x(secret, json.dumps(document).encode()).verify()


@SETTINGS
@given(secret=secrets, token=crc_tokens)
def test_no_x_crc_answer_signs_an_acceptable_delivery(secret: str, token: str) -> None:
    # GIVEN any crc_token an outsider may send WHEN the CRC answer is replayed as the signature of a POST
    # whose body is that token THEN the POST is refused: the handshake is no signing oracle.
    try:
        answer = challenge_reply(
            "x", secrets=[secret], method="GET", query={"crc_token": token}, headers={}, body=b""
        )
    except VerificationError as exc:
        assert exc.reason == "invalid_challenge"
        return
    assert answer is not None
    signature = json.loads(answer.body)["response_token"]
    body = token.encode("utf-8", "surrogatepass")
    signed = s.x(secret, body)
    assert (
        signed.headers["X-Twitter-Webhooks-Signature"] == signature
    )  # the same HMAC, so only the body shape
    try:
        signed.verify()
    except VerificationError as exc:
        assert exc.reason == "malformed_body"
    else:
        raise AssertionError(f"the CRC answer for {token!r} verified as a delivery")


@SETTINGS
@given(key=st.binary(min_size=1, max_size=64), body=bodies, unpadded=st.booleans())
def test_standard_sign_then_verify(key: bytes, body: bytes, unpadded: bool) -> None:
    secret = "whsec_" + base64.b64encode(key).decode()
    req = s.standard(secret, body)
    req.verify(secrets=[secret.rstrip("=") if unpadded else secret])


@SETTINGS
@given(secret=secrets, body=bodies)
def test_mailgun_sign_then_verify(secret: str, body: bytes) -> None:
    s.mailgun(secret, body).verify()


@SETTINGS
@given(scheme=symmetric, secret=secrets, body=bodies.filter(bool), data=st.data())
def test_single_byte_change_fails(scheme: str, secret: str, body: bytes, data: Any) -> None:
    req = s.BODY_SIGNERS[scheme](secret, body)
    index = data.draw(st.integers(0, len(req.body) - 1))
    delta = data.draw(st.integers(1, 255))
    tampered = bytearray(req.body)
    tampered[index] = (tampered[index] + delta) % 256
    try:
        req.verify(body=bytes(tampered))
    except VerificationError as err:
        assert err.reason == "signature_mismatch"
    else:
        raise AssertionError("tampered body verified")


@SETTINGS
@given(key=st.binary(min_size=1, max_size=64), body=bodies.filter(bool), data=st.data())
def test_standard_single_byte_change_fails(key: bytes, body: bytes, data: Any) -> None:
    secret = "whsec_" + base64.b64encode(key).decode()
    req = s.standard(secret, body)
    index = data.draw(st.integers(0, len(body) - 1))
    tampered = bytearray(body)
    tampered[index] ^= data.draw(st.integers(1, 255))
    try:
        req.verify(body=bytes(tampered))
    except VerificationError as err:
        assert err.reason == "signature_mismatch"
    else:
        raise AssertionError("tampered body verified")


junk_text = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200).map(lambda raw: raw.decode("latin-1")),
    st.lists(st.text(max_size=50), max_size=3),
)
HEADER_NAMES = [
    "X-Hub-Signature-256",
    "X-Hub-Signature",
    "Stripe-Signature",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-signature",
    "X-Slack-Signature",
    "X-Slack-Request-Timestamp",
    "X-Shopify-Hmac-Sha256",
    "X-Twilio-Signature",
    "x-square-hmacsha256-signature",
    "X-PagerDuty-Signature",
    "Paddle-Signature",
    "Linear-Signature",
    "X-Twilio-Email-Event-Webhook-Signature",
    "X-Twilio-Email-Event-Webhook-Timestamp",
    "x-zm-signature",
    "x-zm-request-timestamp",
    "X-DocuSign-Signature-1",
    "X-Gitlab-Token",
    "Google-Code-Project-Hosting-Hook-Hmac",
    "X-WC-Webhook-Signature",
    "X-Twitter-Webhooks-Signature",
    "Authorization",
    "X-Sig",
    "X-Ts",
]
OPTIONS = {
    "header": "X-Sig",
    "timestamp_header": "X-Ts",
    "template": "{timestamp}.{body}",
    "prefix": "Bearer ",
}
SECRETS = {
    "standard": [
        "whsec_" + base64.b64encode(b"k" * 24).decode(),
        "whpk_" + base64.b64encode(b"p" * 32).decode(),
    ],
    "svix": ["whsec_" + base64.b64encode(b"k" * 24).decode()],
    "standard-webhooks": ["whsec_" + base64.b64encode(b"k" * 24).decode()],
    "basic": ["user:pass"],
    "sendgrid": [
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRa"
        "INXvVpiglSI8eNEc6wEA3F+g=="
    ],
}


@settings(max_examples=100, deadline=None)
@given(
    scheme=st.sampled_from(sorted(SCHEMES)),
    headers=st.dictionaries(st.sampled_from(HEADER_NAMES), junk_text, max_size=6),
    body=st.one_of(
        bodies, st.sampled_from([b'{"signature": {"timestamp": "1", "token": "t", "signature": "\\u00e9"}}'])
    ),
    url=st.one_of(st.just(s.URL), st.text(max_size=80)),
    now=st.one_of(st.just(float(NOW)), st.floats(allow_nan=False, allow_infinity=False)),
)
def test_junk_never_raises_anything_but_verification_error(
    scheme: str, headers: dict[str, Any], body: bytes, url: str, now: float
) -> None:
    try:
        verify(
            scheme,
            secrets=SECRETS.get(scheme, ["s3cret"]),
            method="POST",
            url=url,
            headers=headers,
            body=body,
            now=now,
            options=OPTIONS,
        )
    except VerificationError as err:
        assert err.reason
