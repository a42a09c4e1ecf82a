"""Derived cases per scheme: headers missing, malformed or duplicated; tampering; rotation; windows."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.verification import VerificationError, verify

from . import signers as s
from .signers import NOW, Signed

BODY = b'{"id":"evt_1","type":"thing.created","event":{"id":"ev-9","type":"message","event_type":"x.y"}}'


def reason_of(call: Callable[[], Any]) -> str:
    with pytest.raises(VerificationError) as err:
        call()
    return err.value.reason


def signed(scheme: str) -> Signed:
    signer = s.BODY_SIGNERS.get(scheme) or s.TIMESTAMPED[scheme][0]
    return signer(s.secret_for(scheme), BODY)


def signature_header(req: Signed) -> str:
    """The name of the header holding the signature (the first header the signer set)."""
    return next(iter(req.headers))


# --- every body-signing scheme ----------------------------------------------------------------------


@pytest.mark.parametrize("scheme", sorted(s.BODY_SIGNERS))
def test_signed_request_verifies_and_wrong_secret_fails(scheme: str) -> None:
    req = signed(scheme)
    req.verify()
    assert reason_of(lambda: req.verify(secrets=["wrong-secret"])) == "signature_mismatch"


@pytest.mark.parametrize("scheme", sorted(s.BODY_SIGNERS))
def test_rotation_second_secret_matches(scheme: str) -> None:
    req = signed(scheme)
    req.verify(secrets=["old-secret", req.secret])


@pytest.mark.parametrize("scheme", sorted(s.BODY_SIGNERS))
def test_tampered_body_fails(scheme: str) -> None:
    req = signed(scheme)
    assert reason_of(lambda: req.verify(body=req.body + b" ")) == "signature_mismatch"


@pytest.mark.parametrize("scheme", sorted(s.BODY_SIGNERS))
def test_missing_signature_header(scheme: str) -> None:
    req = signed(scheme)
    stripped = req.with_headers(**{signature_header(req): None})
    assert reason_of(stripped.verify) == "missing_header"


@pytest.mark.parametrize("scheme", sorted(s.BODY_SIGNERS))
def test_duplicated_signature_header_values(scheme: str) -> None:
    # GIVEN the valid value twice (multiValueHeaders): never silently pick one
    req = signed(scheme)
    name = signature_header(req)
    value = req.headers[name]
    assert reason_of(req.with_headers(**{name: [value, value]}).verify) == "malformed_header"
    # A list with one value is just that value.
    req.with_headers(**{name: [value]}).verify()


@pytest.mark.parametrize("scheme", sorted(s.BODY_SIGNERS))
def test_header_names_differing_in_case_are_duplicates(scheme: str) -> None:
    req = signed(scheme)
    name = signature_header(req)
    headers = {**req.headers, name.upper(): req.headers[name]}
    assert reason_of(lambda: req.verify(headers=headers)) == "malformed_header"
    lowered = {key.lower(): value for key, value in req.headers.items()}
    req.verify(headers=lowered)


@pytest.mark.parametrize("scheme", sorted(s.BODY_SIGNERS))
@pytest.mark.parametrize("junk", ["sha256=é", "v1=\u2665", "\x00\x01", "%%%", "=" * 9000])
def test_junk_signature_header_is_malformed_or_mismatch(scheme: str, junk: str) -> None:
    req = signed(scheme)
    reason = reason_of(req.with_headers(**{signature_header(req): junk}).verify)
    assert reason in ("malformed_header", "signature_mismatch")


@pytest.mark.parametrize("scheme", sorted(s.BODY_SIGNERS))
def test_non_ascii_signature_header_is_malformed(scheme: str) -> None:
    req = signed(scheme)
    name = signature_header(req)
    value = req.headers[name]
    assert reason_of(req.with_headers(**{name: value + "\u00e9"}).verify) == "malformed_header"


def test_bad_base64_is_not_silently_cleaned() -> None:
    # b64decode without validate=True drops "$": the signature with junk inside must not verify.
    req = s.shopify("k", BODY)
    value = req.headers["X-Shopify-Hmac-Sha256"]
    dirty = value[:4] + "$$" + value[4:]
    assert reason_of(req.with_headers(X_Shopify_Hmac_Sha256=dirty).verify) == "malformed_header"


# --- GitHub family ----------------------------------------------------------------------------------


def test_github_wrong_prefix_is_malformed() -> None:
    req = s.github("k", BODY)
    value = req.headers["X-Hub-Signature-256"]
    assert reason_of(req.with_headers(X_Hub_Signature_256="sha1=" + value[7:]).verify) == "malformed_header"
    assert reason_of(req.with_headers(X_Hub_Signature_256=value[7:]).verify) == "malformed_header"


def test_github_sha1_is_never_a_fallback() -> None:
    sha1 = "sha1=" + s.hexmac("k", BODY, hashlib.sha1)
    req = s.github("k", BODY)
    wrong256 = "sha256=" + "0" * 64
    # GIVEN a valid SHA-1 and a wrong SHA-256 WHEN allow_sha1 THEN still a mismatch (SHA-256 present wins)
    both = req.with_headers(X_Hub_Signature_256=wrong256, X_Hub_Signature=sha1)
    assert reason_of(lambda: both.verify(options={"allow_sha1": True})) == "signature_mismatch"
    # AND SHA-1 alone passes only with the option, whose value must be exactly True
    only_sha1 = req.with_headers(X_Hub_Signature_256=None, X_Hub_Signature=sha1)
    only_sha1.verify(options={"allow_sha1": True})
    assert reason_of(lambda: only_sha1.verify(options={"allow_sha1": "yes"})) == "missing_header"
    assert reason_of(only_sha1.verify) == "missing_header"


def test_github_metadata() -> None:
    result = s.github("k", BODY).verify()
    assert result.delivery_id == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert result.event_type == "push"


def test_meta_escaped_vs_unescaped_body() -> None:
    # Meta sends non-ASCII as \u00e4 escapes; hashing a re-serialised UTF-8 body fails.
    escaped = b'{"object":"page","entry":[{"msg":"\\u00e4\\u00f6\\u00e5"}]}'
    req = s.meta("app-secret", escaped)
    assert req.verify().event_type == "page"
    unescaped = json.dumps(json.loads(escaped), ensure_ascii=False, separators=(",", ":")).encode()
    assert reason_of(lambda: req.verify(body=unescaped)) == "signature_mismatch"


def test_bitbucket_and_jira_metadata() -> None:
    bb = s.bitbucket("k", BODY).verify()
    assert (bb.delivery_id, bb.event_type) == ("req-1", "repo:push")
    jira_body = b'{"webhookEvent":"jira:issue_created"}'
    result = s.jira("k", jira_body).verify()
    assert (result.delivery_id, result.event_type) == ("wh-1", "jira:issue_created")


def test_bitbucket_rejects_sha1_prefix() -> None:
    req = s.bitbucket("k", BODY)
    sha1 = "sha1=" + s.hexmac("k", BODY, hashlib.sha1)
    assert reason_of(req.with_headers(X_Hub_Signature=sha1).verify) == "malformed_header"


# --- Stripe -----------------------------------------------------------------------------------------


def _stripe_header(*entries: str) -> dict[str, str]:
    return {"Stripe-Signature": ",".join(entries)}


def test_stripe_rotation_several_v1_and_v0_ignored() -> None:
    good = s.stripe("whsec_new", BODY).headers["Stripe-Signature"].split(",")[1]
    req = s.stripe("whsec_new", BODY)
    header = _stripe_header(f"t={NOW}", "v1=" + "ab" * 32, good, "v0=" + "cd" * 32, "v9=whatever")
    result = req.verify(headers=header)
    assert (result.delivery_id, result.event_type, result.timestamp) == ("evt_1", "thing.created", NOW)


def test_stripe_only_v0_fails() -> None:
    v0 = "v0=" + s.hexmac("whsec_k", f"{NOW}.".encode() + BODY)
    req = s.stripe("whsec_k", BODY)
    assert reason_of(lambda: req.verify(headers=_stripe_header(f"t={NOW}", v0))) == "signature_mismatch"


@pytest.mark.parametrize(
    "header",
    [
        "v1=" + "ab" * 32,  # no t
        f"t={NOW},t={NOW},v1=" + "ab" * 32,  # duplicated t
        "t=abc,v1=" + "ab" * 32,
        "t=1e9,v1=" + "ab" * 32,
        "t=-5,v1=" + "ab" * 32,
        "t=" + "9" * 40 + ",v1=" + "ab" * 32,
        f"t={NOW},v1=zz",
        f"t={NOW},garbage",
        ",".join([f"t={NOW}"] + ["v1=" + "ab" * 32] * 40),  # too many entries
    ],
)
def test_stripe_malformed_headers(header: str) -> None:
    req = s.stripe("whsec_k", BODY)
    assert reason_of(lambda: req.verify(headers={"Stripe-Signature": header})) == "malformed_header"


# --- Timestamp windows ------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", sorted(s.TIMESTAMPED))
def test_window_boundaries_both_sides(scheme: str) -> None:
    signer, tolerance = s.TIMESTAMPED[scheme]
    req = signer(s.secret_for(scheme), BODY, NOW)
    # Exactly the tolerance away passes on both sides; one second more fails with the side's reason.
    req.verify(now=NOW + tolerance)
    req.verify(now=NOW - tolerance)
    assert reason_of(lambda: req.verify(now=NOW + tolerance + 1)) == "timestamp_too_old"
    assert reason_of(lambda: req.verify(now=NOW - tolerance - 1)) == "timestamp_too_new"


@pytest.mark.parametrize("scheme", sorted(s.TIMESTAMPED))
def test_tolerance_override(scheme: str) -> None:
    signer, _ = s.TIMESTAMPED[scheme]
    req = signer(s.secret_for(scheme), BODY, NOW)
    req.verify(now=NOW + 3600, tolerance=3600)
    assert reason_of(lambda: req.verify(now=NOW + 2, tolerance=1)) == "timestamp_too_old"
    assert reason_of(lambda: req.verify(now=NOW, tolerance=-1)) == "invalid_options"


def test_future_tolerance_option_narrows_the_future_side() -> None:
    req = s.stripe("whsec_k", BODY)
    req.verify(now=NOW - 60)
    assert (
        reason_of(lambda: req.verify(now=NOW - 60, options={"future_tolerance": 30})) == "timestamp_too_new"
    )


def test_signature_is_checked_before_the_timestamp() -> None:
    req = s.slack("k", BODY)
    assert reason_of(lambda: req.verify(now=NOW + 10_000, secrets=["wrong"])) == "signature_mismatch"


# --- Standard Webhooks -------------------------------------------------------------------------------


def test_standard_unknown_versions_and_rotation() -> None:
    req = s.standard(s.STANDARD_SECRET, BODY)
    good = req.headers["webhook-signature"]
    noisy = (
        f"v2,abc v1,{base64.b64encode(b'x' * 32).decode()} {good} v1a,{base64.b64encode(b'y' * 64).decode()}"
    )
    assert req.with_headers(webhook_signature=noisy).verify().delivery_id == "msg_1"
    only_unknown = req.with_headers(webhook_signature="v2," + good[3:])
    assert reason_of(only_unknown.verify) == "signature_mismatch"


def test_standard_event_type_and_svix_headers() -> None:
    req = s.standard(s.STANDARD_SECRET, b'{"eventType":"invoice.paid"}')
    svix_headers = {key.replace("webhook-", "svix-"): value for key, value in req.headers.items()}
    result = req.verify(headers=svix_headers)
    assert (result.delivery_id, result.event_type, result.timestamp) == ("msg_1", "invoice.paid", NOW)


@pytest.mark.parametrize(
    ("signature", "reason"),
    [("v1", "malformed_header"), ("v1,not base64!", "malformed_header"), ("v1,", "malformed_header")],
)
def test_standard_malformed_signature_entries(signature: str, reason: str) -> None:
    req = s.standard(s.STANDARD_SECRET, BODY)
    assert reason_of(req.with_headers(webhook_signature=signature).verify) == reason


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        ("whsec_not*base64", "invalid_secret"),
        ("whpk_" + base64.b64encode(b"short").decode(), "invalid_secret"),
        ("whsk_" + base64.b64encode(b"k" * 64).decode(), "invalid_secret"),
    ],
)
def test_standard_invalid_secrets(secret: str, reason: str) -> None:
    req = s.standard(s.STANDARD_SECRET, BODY)
    assert reason_of(lambda: req.verify(secrets=[secret])) == reason


def test_standard_id_with_dot_is_malformed() -> None:
    req = s.standard(s.STANDARD_SECRET, BODY, msg_id="msg.1")
    assert reason_of(req.verify) == "malformed_header"


@pytest.mark.parametrize("name", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_standard_missing_headers(name: str) -> None:
    req = s.standard(s.STANDARD_SECRET, BODY)
    assert reason_of(req.with_headers(**{name: None}).verify) == "missing_header"


# --- Slack, Zoom, Paddle, PagerDuty ------------------------------------------------------------------


def test_slack_event_metadata() -> None:
    body = b'{"event_id":"Ev123","type":"event_callback","event":{"type":"app_mention"}}'
    result = s.slack("k", body).verify()
    assert (result.delivery_id, result.event_type) == ("Ev123", "app_mention")


@pytest.mark.parametrize("scheme", ["slack", "zoom"])
@pytest.mark.parametrize("stamp", ["", "abc", "1e9", "-1", "\uff11\uff12\uff13", "9" * 30])
def test_bad_timestamp_headers(scheme: str, stamp: str) -> None:
    req = signed(scheme)
    name = next(key for key in req.headers if "timestamp" in key.lower())
    reason = reason_of(req.with_headers(**{name: stamp}).verify)
    assert reason == ("missing_header" if stamp == "" else "malformed_header")


def test_zoom_event_type() -> None:
    assert s.zoom("k", b'{"event":"meeting.started"}').verify().event_type == "meeting.started"


def test_paddle_metadata_and_duplicate_ts() -> None:
    body = b'{"notification_id":"ntf_1","event_id":"evt_1","event_type":"transaction.paid"}'
    req = s.paddle("pdl_ntfset_k", body)
    assert req.verify().delivery_id == "ntf_1"
    assert req.verify().event_type == "transaction.paid"
    header = req.headers["Paddle-Signature"]
    assert reason_of(req.with_headers(Paddle_Signature=header + f";ts={NOW}").verify) == "malformed_header"


def test_pagerduty_ignores_other_versions() -> None:
    req = s.pagerduty("k", BODY)
    header = "v2=abc," + req.headers["X-PagerDuty-Signature"]
    assert req.with_headers(X_PagerDuty_Signature=header).verify().delivery_id == "ev-9"
    assert reason_of(req.with_headers(X_PagerDuty_Signature="v2=abc").verify) == "signature_mismatch"


# --- Linear -----------------------------------------------------------------------------------------


def test_linear_timestamp_in_milliseconds() -> None:
    req = s.linear("k", BODY)
    result = req.verify(now=NOW + 60)
    assert (result.timestamp, result.delivery_id, result.event_type) == (NOW, "d-1", "Issue")
    assert reason_of(lambda: req.verify(now=NOW + 60.001)) == "timestamp_too_old"


@pytest.mark.parametrize(
    "body", [b"not json", b'{"webhookTimestamp":"1700000000000"}', b'{"webhookTimestamp":true}', b"{}"]
)
def test_linear_body_without_timestamp(body: bytes) -> None:
    req = Signed("linear", "k", {"Linear-Signature": s.hexmac("k", body)}, body)
    assert reason_of(req.verify) == "malformed_body"


# --- Twilio -----------------------------------------------------------------------------------------


def test_twilio_sha256_option() -> None:
    url = s.URL
    body = b"From=%2B14158675309&To=%2B18005551212"
    data = url + "From+14158675309To+18005551212"
    headers = {"X-Twilio-Signature": s.b64mac("k", data.encode(), hashlib.sha256)}
    req = Signed("twilio", "k", headers, body, url=url)
    req.verify(options={"algorithm": "sha256"})
    assert reason_of(req.verify) == "signature_mismatch"
    assert reason_of(lambda: req.verify(options={"algorithm": "md5"})) == "invalid_options"


def test_twilio_get_signs_url_only() -> None:
    url = s.URL + "&CallSid=CA1"
    req = Signed(
        "twilio",
        "k",
        {"X-Twilio-Signature": s.b64mac("k", url.encode(), hashlib.sha1)},
        b"",
        url=url,
        method="GET",
    )
    req.verify()
    assert reason_of(lambda: req.verify(url=url + "2")) == "signature_mismatch"


def test_twilio_duplicate_body_sha256_is_malformed() -> None:
    req = s.twilio_json("k", BODY)
    assert reason_of(lambda: req.verify(url=req.url + "&bodySHA256=00")) == "malformed_header"


def test_twilio_non_utf8_form_body() -> None:
    req = Signed(
        "twilio", "k", {"X-Twilio-Signature": s.b64mac("k", s.URL.encode(), hashlib.sha1)}, b"a=\xff"
    )
    assert reason_of(req.verify) == "malformed_body"


# --- DocuSign -----------------------------------------------------------------------------------------


def test_docusign_every_header_is_compared() -> None:
    # GIVEN two keys active at DocuSign: -1 signed with the old key, -2 with the new one
    headers = {
        "X-DocuSign-Signature-1": s.b64mac("old", BODY),
        "X-DocuSign-Signature-2": s.b64mac("new", BODY),
    }
    req = Signed("docusign", "new", headers, BODY)
    req.verify()
    req.verify(secrets=["old"])
    assert reason_of(lambda: req.verify(secrets=["other"])) == "signature_mismatch"
    assert (
        reason_of(lambda: req.verify(headers={"X-DocuSign-Signature": headers["X-DocuSign-Signature-1"]}))
        == "missing_header"
    )


# --- GitLab, token, basic --------------------------------------------------------------------------


def test_gitlab_token() -> None:
    headers = {"X-Gitlab-Token": "tok-1", "Idempotency-Key": "idem-1", "X-Gitlab-Event": "Push Hook"}
    req = Signed("gitlab", "tok-1", headers, BODY)
    result = req.verify(secrets=["tok-0", "tok-1"])
    assert (result.delivery_id, result.event_type) == ("idem-1", "Push Hook")
    assert reason_of(lambda: req.verify(secrets=["tok-2"])) == "bad_credentials"
    assert reason_of(lambda: req.verify(secrets=["tok-1x"])) == "bad_credentials"
    assert reason_of(req.with_headers(X_Gitlab_Token=None).verify) == "missing_header"
    uuid_only = req.with_headers(Idempotency_Key=None, X_Gitlab_Event_UUID="uuid-1")
    assert uuid_only.verify().delivery_id == "uuid-1"


def test_token_scheme_with_prefix() -> None:
    req = Signed("token", "abc", {"Authorization": "Bearer abc"}, BODY, options={"prefix": "Bearer "})
    req.verify()
    req.with_headers(Authorization="bearer abc").verify()
    assert reason_of(req.with_headers(Authorization="Bearer abd").verify) == "bad_credentials"
    assert reason_of(req.with_headers(Authorization="Basic abc").verify) == "malformed_header"
    assert reason_of(req.with_headers(Authorization="Bearer ").verify) == "malformed_header"
    custom = Signed("token", "abc", {"X-Api-Key": "abc"}, BODY, options={"header": "X-Api-Key"})
    custom.verify()
    assert reason_of(lambda: custom.verify(headers={})) == "missing_header"


def _basic(user: bytes, password: bytes) -> str:
    return "Basic " + base64.b64encode(user + b":" + password).decode()


def test_basic_auth() -> None:
    req = Signed("basic", "user:pa:ss", {"Authorization": _basic(b"user", b"pa:ss")}, BODY)
    req.verify()
    req.verify(secrets=["other:x", "user:pa:ss"])
    req.with_headers(Authorization=_basic(b"user", b"pa:ss").replace("Basic", "bAsIc")).verify()
    assert reason_of(req.with_headers(Authorization=_basic(b"user", b"pa:sS")).verify) == "bad_credentials"
    assert reason_of(req.with_headers(Authorization=_basic(b"usr", b"pa:ss")).verify) == "bad_credentials"
    assert reason_of(req.with_headers(Authorization=None).verify) == "missing_header"
    for bad in [
        "Basic",
        "Basic !!!",
        "Bearer dXNlcjpwYXNz",
        "Basic " + base64.b64encode(b"nocolon").decode(),
    ]:
        assert reason_of(req.with_headers(Authorization=bad).verify) == "malformed_header", bad
    assert reason_of(lambda: req.verify(secrets=["nocolon"])) == "invalid_secret"


# --- Generic hmac ------------------------------------------------------------------------------------


def test_hmac_defaults_and_options() -> None:
    req = Signed("hmac", "k", {"X-Sig": s.hexmac("k", BODY)}, BODY, options={"header": "X-Sig"})
    assert req.verify().timestamp is None
    # No timestamp header: no window, whatever the clock says.
    req.verify(now=0)
    assert reason_of(lambda: req.verify(options={})) == "invalid_options"
    assert (
        reason_of(lambda: req.verify(options={"header": "X-Sig", "algorithm": "sha3"})) == "invalid_options"
    )
    assert (
        reason_of(lambda: req.verify(options={"header": "X-Sig", "template": "{nope}{body}"}))
        == "invalid_options"
    )
    assert (
        reason_of(lambda: req.verify(options={"header": "X-Sig", "template": "{id}.{body}"}))
        == "invalid_options"
    )


def test_hmac_template_with_url_and_separator() -> None:
    message = s.URL.encode() + b"|" + BODY
    good = "v1=" + s.hexmac("k", message, hashlib.sha1)
    options = {
        "header": "X-Sig",
        "algorithm": "sha1",
        "prefix": "v1=",
        "template": "{url}|{body}",
        "separator": ",",
    }
    req = Signed("hmac", "k", {"X-Sig": "v0=abcd, " + good}, BODY, options=options)
    req.verify()
    assert reason_of(req.with_headers(X_Sig="v0=abcd").verify) == "malformed_header"


def test_hmac_generic_metadata() -> None:
    result = s.generic_hmac("k", BODY).verify()
    assert (result.delivery_id, result.timestamp, result.event_type) == ("id-1", NOW, "thing.created")


# --- Mailgun -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"{}",
        b'{"signature": {"timestamp": "1", "token": "t"}}',
        b'{"signature": "x"}',
        b"timestamp=1&token=t",
        b"timestamp=1&timestamp=2&token=t&signature=00",
        b"\xff\xfe",
        b'{"signature": {"timestamp": "abc", "token": "t", "signature": "00"}}',
        b'{"signature": {"timestamp": "1", "token": "t", "signature": "zz"}}',
    ],
)
def test_mailgun_malformed_body(body: bytes) -> None:
    assert reason_of(lambda: Signed("mailgun", "k", {}, body).verify()) == "malformed_body"


def test_mailgun_wrong_key_and_stale() -> None:
    req = s.mailgun("k", BODY)
    assert reason_of(lambda: req.verify(secrets=["other"])) == "signature_mismatch"
    assert req.verify().delivery_id.startswith("tok")


def test_direct_hmac_recipe_for_woocommerce_and_x() -> None:
    # Derived with hmac.new directly: WooCommerce is base64 of the body MAC, X adds "sha256=".
    digest = hmac.new(b"ck", BODY, hashlib.sha256).digest()
    verify(
        "woocommerce",
        secrets=["ck"],
        method="POST",
        url="",
        body=BODY,
        headers={
            "X-WC-Webhook-Signature": base64.b64encode(digest).decode(),
            "X-WC-Webhook-Topic": "order.created",
        },
    )
    verify(
        "x",
        secrets=["ck"],
        method="POST",
        url="",
        body=BODY,
        headers={"X-Twitter-Webhooks-Signature": "sha256=" + base64.b64encode(digest).decode()},
    )


def test_twilio_values_sorted_per_name() -> None:
    # Ten values of one name, sent in reverse: only sorting gives the signed order back.
    body = "&".join(f"Digits={d}" for d in "9876543210").encode()
    data = s.URL + "".join(f"Digits{d}" for d in "0123456789")
    req = Signed("twilio", "k", {"X-Twilio-Signature": s.b64mac("k", data.encode(), hashlib.sha1)}, body)
    req.verify()
