"""Every verification scheme end to end: a signed request is stored once, byte for byte; a copy is a replay;
a tampered copy is refused and stores nothing.

Each case creates its own source through the API, signs a request the way the provider documents it (the
recipes of ``tests/unit/verification/signers.py`` where one exists, ``hmac.new``/``cryptography`` directly
otherwise, never ``chalicelib.verification``) against the real clock and the real ingest URL, and sends it
over HTTP to the shared local stack.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chalicelib.verification import REGISTRY, SCHEMES, Scheme
from testkit.stack import Stack, wait_until
from tests.unit.verification import signers as s

#: The stable reason codes of chalicelib.verification (its module docstring).
REASONS = frozenset(
    {
        "missing_secret",
        "invalid_secret",
        "invalid_options",
        "unsupported_scheme",
        "missing_header",
        "malformed_header",
        "malformed_body",
        "signature_mismatch",
        "timestamp_too_old",
        "timestamp_too_new",
        "bad_credentials",
    }
)
#: Every canonical scheme of the registry; each one needs at least one case below.
CANONICAL = (
    "basic", "bitbucket", "docusign", "github", "gitlab", "google-code", "hmac", "jira", "linear", "mailgun",
    "meta", "paddle", "pagerduty", "sendgrid", "shopify", "slack", "square", "standard", "stripe", "token",
    "twilio", "woocommerce", "x", "zoom",
)  # fmt: skip

SECRET = s.secret_for("github")
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

# Asymmetric schemes: the source is configured with the public half, the test signs with the private one.
_ED25519 = Ed25519PrivateKey.generate()
WHPK = (
    "whpk_"
    + base64.b64encode(
        _ED25519.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    ).decode()
)
_P256 = ec.generate_private_key(ec.SECP256R1())
SENDGRID_KEY = base64.b64encode(
    _P256.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()


@dataclass(frozen=True)
class Delivery:
    """One signed request as the provider sends it, and the metadata Hookway should report for it."""

    headers: dict[str, str]
    body: bytes
    query: str = ""  # appended to the ingest path (Twilio signs the full URL)
    content_type: str = JSON
    delivery_id: str | None = None
    event_type: str | None = None
    timestamp: int | None = None
    # Credential schemes do not cover the body: the tampered copy carries one wrong credential byte instead.
    forged_headers: dict[str, str] | None = None


#: (ingest URL as the service verifies it, unix seconds, unique tag to put in the body) -> a signed request
Sign = Callable[[str, int, str], Delivery]


@dataclass(frozen=True)
class Case:
    """A scheme as a source configures it, with the signer of its requests."""

    id: str
    scheme: str
    secret: str
    sign: Sign
    options: dict[str, Any] = field(default_factory=dict)
    tolerance: int | None = None
    rejection: str = "signature_mismatch"


def _json(**doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def _hex() -> str:
    return uuid.uuid4().hex


def _flip_last(text: str) -> str:
    return text[:-1] + ("b" if text[-1] != "b" else "c")


# --- signers ----------------------------------------------------------------------------------------


def sign_github(url: str, ts: int, tag: str) -> Delivery:
    body = _json(ref="refs/heads/main", tag=tag)
    delivery = str(uuid.uuid4())
    req = s.github(SECRET, body, ts).with_headers(X_GitHub_Delivery=delivery)
    return Delivery(req.headers, body, delivery_id=delivery, event_type="push")


def sign_meta(url: str, ts: int, tag: str) -> Delivery:
    body = _json(object="whatsapp_business_account", entry=[{"id": tag}])
    return Delivery(s.meta(SECRET, body, ts).headers, body, event_type="whatsapp_business_account")


def sign_bitbucket(url: str, ts: int, tag: str) -> Delivery:
    body = _json(push={"tag": tag})
    delivery = str(uuid.uuid4())
    req = s.bitbucket(SECRET, body, ts).with_headers(X_Request_UUID=delivery)
    return Delivery(req.headers, body, delivery_id=delivery, event_type="repo:push")


def sign_jira(url: str, ts: int, tag: str) -> Delivery:
    body = _json(webhookEvent="jira:issue_created", issue={"key": tag})
    delivery = _hex()
    req = s.jira(SECRET, body, ts).with_headers(X_Atlassian_Webhook_Identifier=delivery)
    return Delivery(req.headers, body, delivery_id=delivery, event_type="jira:issue_created")


def sign_stripe(url: str, ts: int, tag: str) -> Delivery:
    event_id = "evt_" + _hex()
    body = _json(id=event_id, object="event", type="invoice.paid", data={"tag": tag})
    req = s.stripe(SECRET, body, ts)
    return Delivery(req.headers, body, delivery_id=event_id, event_type="invoice.paid", timestamp=ts)


def sign_standard_v1(url: str, ts: int, tag: str) -> Delivery:
    msg_id = "msg_" + _hex()
    body = _json(type="invoice.paid", data={"tag": tag})
    req = s.standard(s.STANDARD_SECRET, body, ts, msg_id=msg_id)
    return Delivery(req.headers, body, delivery_id=msg_id, event_type="invoice.paid", timestamp=ts)


def sign_standard_v1a(url: str, ts: int, tag: str) -> Delivery:
    msg_id = "msg_" + _hex()
    body = _json(eventType="user.created", data={"tag": tag})
    signature = base64.b64encode(_ED25519.sign(f"{msg_id}.{ts}.".encode() + body)).decode()
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": f"v1a,{signature}"}
    return Delivery(headers, body, delivery_id=msg_id, event_type="user.created", timestamp=ts)


def sign_svix(url: str, ts: int, tag: str) -> Delivery:
    msg_id = "msg_" + _hex()
    body = _json(eventType="invoice.paid", data={"tag": tag})
    req = s.standard(s.STANDARD_SECRET, body, ts, msg_id=msg_id)
    headers = {name.replace("webhook-", "svix-"): value for name, value in req.headers.items()}
    return Delivery(headers, body, delivery_id=msg_id, event_type="invoice.paid", timestamp=ts)


def sign_slack(url: str, ts: int, tag: str) -> Delivery:
    event_id = "Ev" + _hex()
    body = _json(type="event_callback", event_id=event_id, event={"type": "app_mention", "text": tag})
    req = s.slack(SECRET, body, ts)
    return Delivery(req.headers, body, delivery_id=event_id, event_type="app_mention", timestamp=ts)


def sign_zoom(url: str, ts: int, tag: str) -> Delivery:
    body = _json(event="meeting.started", payload={"tag": tag})
    return Delivery(s.zoom(SECRET, body, ts).headers, body, event_type="meeting.started", timestamp=ts)


def sign_shopify(url: str, ts: int, tag: str) -> Delivery:
    body = _json(id=1, note=tag)
    delivery = str(uuid.uuid4())
    req = s.shopify(SECRET, body, ts).with_headers(X_Shopify_Webhook_Id=delivery)
    return Delivery(req.headers, body, delivery_id=delivery, event_type="orders/create")


def sign_twilio_form(url: str, ts: int, tag: str) -> Delivery:
    # A form POST: the signed string is the full URL (query included) plus the sorted decoded parameters.
    query = "case=twilio-form"
    body = f"CallSid=CA{_hex()}&From=%2B14158675309&Body={tag}".encode()
    params = dict(pair.split("=", 1) for pair in body.decode().split("&"))
    params["From"] = "+14158675309"
    data = f"{url}?{query}" + "".join(name + params[name] for name in sorted(params))
    token = _hex()
    headers = {
        "X-Twilio-Signature": s.b64mac(SECRET, data.encode(), hashlib.sha1),
        "I-Twilio-Idempotency-Token": token,
    }
    return Delivery(headers, body, query=query, content_type=FORM, delivery_id=token)


def sign_twilio_json(url: str, ts: int, tag: str) -> Delivery:
    # A JSON POST: only the URL is signed, and it carries bodySHA256 of the body.
    body = _json(tag=tag, status="delivered")
    query = "bodySHA256=" + hashlib.sha256(body).hexdigest()
    token = _hex()
    headers = {
        "X-Twilio-Signature": s.b64mac(SECRET, f"{url}?{query}".encode(), hashlib.sha1),
        "I-Twilio-Idempotency-Token": token,
    }
    return Delivery(headers, body, query=query, delivery_id=token)


def sign_square(url: str, ts: int, tag: str) -> Delivery:
    event_id = str(uuid.uuid4())
    body = _json(merchant_id="M1", type="payment.created", event_id=event_id, data={"tag": tag})
    headers = {"x-square-hmacsha256-signature": s.b64mac(SECRET, url.encode() + body)}
    return Delivery(headers, body, delivery_id=event_id, event_type="payment.created")


def sign_pagerduty(url: str, ts: int, tag: str) -> Delivery:
    event_id = "01" + _hex().upper()
    body = _json(event={"id": event_id, "event_type": "incident.triggered", "data": {"tag": tag}})
    req = s.pagerduty(SECRET, body, ts)
    return Delivery(req.headers, body, delivery_id=event_id, event_type="incident.triggered")


def sign_paddle(url: str, ts: int, tag: str) -> Delivery:
    notification = "ntf_" + _hex()
    body = _json(
        event_id="evt_" + _hex(), event_type="transaction.paid", notification_id=notification, data=tag
    )
    req = s.paddle(SECRET, body, ts)
    return Delivery(req.headers, body, delivery_id=notification, event_type="transaction.paid", timestamp=ts)


def sign_linear(url: str, ts: int, tag: str) -> Delivery:
    req = s.linear(SECRET, tag.encode(), ts)  # wraps the tag in a body with webhookTimestamp (ms)
    delivery = str(uuid.uuid4())
    req = req.with_headers(Linear_Delivery=delivery)
    return Delivery(req.headers, req.body, delivery_id=delivery, event_type="Issue", timestamp=ts)


def sign_docusign(url: str, ts: int, tag: str) -> Delivery:
    body = _json(event="envelope-completed", data={"envelopeId": tag})
    return Delivery(s.docusign(SECRET, body, ts).headers, body, event_type="envelope-completed")


def sign_google_code(url: str, ts: int, tag: str) -> Delivery:
    body = _json(project_name="hookway", revisions=[{"message": tag}])
    return Delivery(s.google_code(SECRET, body, ts).headers, body)


def sign_woocommerce(url: str, ts: int, tag: str) -> Delivery:
    body = _json(id=42, note=tag)
    delivery = str(uuid.uuid4().int % 10**9)
    req = s.woocommerce(SECRET, body, ts).with_headers(
        X_WC_Webhook_Delivery_ID=delivery, X_WC_Webhook_Topic="order.created"
    )
    return Delivery(req.headers, body, delivery_id=delivery, event_type="order.created")


def sign_x(url: str, ts: int, tag: str) -> Delivery:
    body = _json(for_user_id="2244994945", tweet_create_events=[{"text": tag}])
    return Delivery(s.x(SECRET, body, ts).headers, body)


HMAC_OPTIONS = s.generic_hmac(SECRET, b"", 0).options


def sign_hmac(url: str, ts: int, tag: str) -> Delivery:
    body = _json(thing=tag)
    req = s.generic_hmac(SECRET, body, ts)
    return Delivery(req.headers, body, delivery_id="id-1", event_type="thing.created", timestamp=ts)


def sign_mailgun(url: str, ts: int, tag: str) -> Delivery:
    # The signature covers timestamp + token only; the tag is the token, so the tampered byte is signed.
    token = tag
    signature = s.hexmac(SECRET, f"{ts}{token}".encode())
    document = {
        "signature": {"timestamp": str(ts), "token": token, "signature": signature},
        "event-data": {"event": "delivered", "id": _hex()},
    }
    body = json.dumps(document).encode()
    return Delivery({}, body, delivery_id=token, event_type="delivered", timestamp=ts)


def sign_sendgrid(url: str, ts: int, tag: str) -> Delivery:
    event_id = "sg_" + _hex()
    events = [{"email": "a@example.com", "event": "delivered", "sg_event_id": event_id, "tag": tag}]
    body = json.dumps(events).encode() + b"\r\n"
    signature = _P256.sign(str(ts).encode() + body, ec.ECDSA(hashes.SHA256()))
    headers = {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": str(ts),
    }
    return Delivery(headers, body, delivery_id=event_id, event_type="delivered", timestamp=ts)


BASIC_SECRET = "hookway:pa:ss-" + "w0rd"


def sign_basic(url: str, ts: int, tag: str) -> Delivery:
    def header(credentials: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}

    body = _json(tag=tag)
    return Delivery(header(BASIC_SECRET), body, forged_headers=header(_flip_last(BASIC_SECRET)))


TOKEN_SECRET = "tok_" + "0123456789abcdef"


def sign_token(url: str, ts: int, tag: str) -> Delivery:
    body = _json(tag=tag)
    return Delivery(
        {"Authorization": f"Bearer {TOKEN_SECRET}"},
        body,
        forged_headers={"Authorization": f"Bearer {_flip_last(TOKEN_SECRET)}"},
    )


def sign_gitlab(url: str, ts: int, tag: str) -> Delivery:
    body = _json(object_kind="push", tag=tag)
    delivery = str(uuid.uuid4())
    headers = {"X-Gitlab-Event": "Push Hook", "Idempotency-Key": delivery}
    return Delivery(
        {**headers, "X-Gitlab-Token": TOKEN_SECRET},
        body,
        delivery_id=delivery,
        event_type="Push Hook",
        forged_headers={**headers, "X-Gitlab-Token": _flip_last(TOKEN_SECRET)},
    )


CASES = [
    Case("basic", "basic", BASIC_SECRET, sign_basic, rejection="bad_credentials"),
    Case("bitbucket", "bitbucket", SECRET, sign_bitbucket),
    Case("docusign", "docusign", SECRET, sign_docusign),
    Case("github", "github", SECRET, sign_github),
    Case("gitlab", "gitlab", TOKEN_SECRET, sign_gitlab, rejection="bad_credentials"),
    Case("google-code", "google-code", SECRET, sign_google_code),
    Case("hmac", "hmac", SECRET, sign_hmac, options=HMAC_OPTIONS),
    Case("jira", "jira", SECRET, sign_jira),
    Case("linear", "linear", SECRET, sign_linear),
    Case("mailgun", "mailgun", SECRET, sign_mailgun),
    Case("meta", "meta", SECRET, sign_meta),
    # Paddle's default window is 5 s; the replay step comes after the worker stored the first copy.
    Case("paddle", "paddle", SECRET, sign_paddle, tolerance=60),
    Case("pagerduty", "pagerduty", SECRET, sign_pagerduty),
    Case("sendgrid", "sendgrid", SENDGRID_KEY, sign_sendgrid),
    Case("shopify", "shopify", SECRET, sign_shopify),
    Case("slack", "slack", SECRET, sign_slack),
    Case("square", "square", SECRET, sign_square),
    Case("standard-v1", "standard", s.STANDARD_SECRET, sign_standard_v1),
    Case("standard-v1a", "standard", WHPK, sign_standard_v1a),
    Case("stripe", "stripe", SECRET, sign_stripe),
    Case(
        "token", "token", TOKEN_SECRET, sign_token, options={"prefix": "Bearer "}, rejection="bad_credentials"
    ),
    Case("twilio-form", "twilio", SECRET, sign_twilio_form),
    Case("twilio-json", "twilio", SECRET, sign_twilio_json),
    Case("woocommerce", "woocommerce", SECRET, sign_woocommerce),
    Case("x", "x", SECRET, sign_x),
    Case("zoom", "zoom", SECRET, sign_zoom),
    Case("svix", "svix", s.STANDARD_SECRET, sign_svix),
]


def _tamper(body: bytes, tag: str) -> bytes:
    """The body with one byte changed: the tag's last character, so JSON and forms stay well-formed."""
    at = body.index(tag.encode()) + len(tag) - 1
    return body[:at] + (b"b" if body[at : at + 1] != b"b" else b"c") + body[at + 1 :]


def test_every_registered_scheme_has_a_case() -> None:
    names = {case.scheme for case in CASES}
    assert set(CANONICAL) <= names
    assert names <= set(SCHEMES)
    # An alias added to the registry for a new verifier would show up here.
    assert {SCHEMES[name] for name in names} == set(SCHEMES.values())


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_signed_replayed_and_tampered(stack: Stack, case: Case) -> None:
    # GIVEN a source for the scheme, created through the API
    verification: dict[str, Any] = {"scheme": case.scheme, "secrets": [case.secret], "options": case.options}
    if case.tolerance is not None:
        verification["tolerance"] = case.tolerance
    created = stack.create_source({"name": f"e2e-{case.id}", "verification": verification})
    sid = str(created["id"])
    ingest_url = f"{stack.base}/in/{sid}"
    assert created["ingest_url"] == ingest_url
    tag = f"{case.id}-{uuid.uuid4().hex}"
    sent = case.sign(ingest_url, int(time.time()), tag)
    path = f"/in/{sid}" + (f"?{sent.query}" if sent.query else "")
    headers = {"Content-Type": sent.content_type, **sent.headers}

    # WHEN a correctly signed request arrives
    resp = stack.request("POST", path, body=sent.body, headers=headers)

    # THEN it is accepted, and stored once with the provider's metadata and the exact bytes
    assert resp.status == 202, resp.body
    message_id = resp.json()["id"]
    assert message_id
    [message] = wait_until(lambda: stack.messages(sid))
    assert message["id"] == message_id
    assert message["body_sha256"] == hashlib.sha256(sent.body).hexdigest()
    assert (message["delivery_id"], message["event_type"]) == (sent.delivery_id, sent.event_type)
    assert message["signed_timestamp"] == sent.timestamp
    assert not {"authorization", "x-gitlab-token"} & set(message["headers"])  # credentials are not kept
    stored = stack.request("GET", f"/v1/messages/{message_id}/body", admin=True, headers={"Accept": "*/*"})
    assert stored.status == 200
    assert stored.body == sent.body

    # WHEN the same request is sent again THEN it is the same message, stored once
    again = stack.request("POST", path, body=sent.body, headers=headers)
    assert again.status == 202, again.body
    assert again.json()["id"] == message_id
    wait_until(lambda: stack.queue_depth() == 0)
    assert [m["id"] for m in stack.messages(sid)] == [message_id]

    # WHEN a tampered copy is sent (one body byte changed; one credential byte for credential schemes)
    if sent.forged_headers is None:
        forged_body, forged_headers = _tamper(sent.body, tag), headers
    else:
        forged_body, forged_headers = sent.body, {"Content-Type": sent.content_type, **sent.forged_headers}
    assert forged_body != sent.body or forged_headers != headers
    refused = stack.request("POST", path, body=forged_body, headers=forged_headers)

    # THEN it is refused with the source's rejection status and a stable reason, and nothing is stored
    assert refused.status == 401, refused.body
    error = refused.json()["error"]
    assert error["code"] in REASONS
    assert error["code"] == case.rejection, error
    rejections = stack.request("GET", f"/v1/sources/{sid}/rejections", admin=True).json()
    assert rejections["counts"] == {"total": 1, case.rejection: 1}
    wait_until(lambda: stack.queue_depth() == 0)
    assert [m["id"] for m in stack.messages(sid)] == [message_id]


@pytest.mark.parametrize("spec", REGISTRY, ids=[spec.name for spec in REGISTRY])
def test_each_schemes_own_sample_is_accepted_end_to_end(stack: Stack, spec: Scheme) -> None:
    # GIVEN a source of the scheme, with the options its sample needs, created through the API
    signing, held = spec.sample_keys(spec.example_key)
    verification = {"scheme": spec.name, "secrets": [held], "options": dict(spec.sample_options)}
    created = stack.create_source({"name": f"e2e-sample-{spec.name}", "verification": verification})
    # WHEN the scheme's sample (what `hookway trigger` sends) is posted to its ingest URL
    sample = spec.sample(
        signing, spec.sample_event, int(time.time()), created["ingest_url"], spec.sample_options
    )
    resp = stack.request("POST", f"/in/{created['id']}", body=sample.body, headers=sample.headers)
    # THEN it is accepted and stored with the sample's delivery id
    assert resp.status == 202, resp.body
    [message] = wait_until(lambda: stack.messages(str(created["id"])))
    assert message["id"] == resp.json()["id"]
    assert sample.delivery_id is None or message["delivery_id"] == sample.delivery_id


def test_the_public_scheme_metadata_holds_no_secret(stack: Stack) -> None:
    # GIVEN sources whose secrets and secret-like options are configured
    secret = f"whsec_{base64.b64encode(uuid.uuid4().bytes * 2).decode()}"
    stack.create_source(
        {"name": "e2e-meta-secret", "verification": {"scheme": "standard", "secrets": [secret]}}
    )
    token = f"verify-{uuid.uuid4().hex}"
    stack.create_source(
        {
            "name": "e2e-meta-token",
            "verification": {"scheme": "meta", "secrets": ["app-secret"], "options": {"verify_token": token}},
        }
    )
    # WHEN anyone, without a credential, reads the scheme metadata
    resp = stack.request("GET", "/v1/schemes")
    # THEN it answers, lists every scheme and signing mode, and carries none of those values
    assert resp.status == 200, resp.body
    doc = resp.json()
    assert [spec["name"] for spec in doc["schemes"]] == [spec.name for spec in REGISTRY]
    assert {mode["name"] for mode in doc["signing_modes"]} >= {"standard", "github"}
    assert secret.encode() not in resp.body and token.encode() not in resp.body
