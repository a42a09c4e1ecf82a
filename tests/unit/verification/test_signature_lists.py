"""Signature lists: every entry of a known version is tried, malformed entries are skipped.

The rule for every scheme that carries several signatures (Stripe, Paddle, Standard Webhooks / Svix,
PagerDuty, DocuSign's numbered headers, the generic ``hmac`` with a separator): a malformed entry (not
hex or base64, the wrong length, not ``key=value``) never hides a valid one, and ``malformed_header`` is
the answer only when no entry is well formed. Cases follow the providers' own SDK suites (stripe-python's
``test_webhook.py``, standard-webhooks' and svix's ``test_webhooks.py``, paddle-python-sdk's verifier
tests), and the installed ``stripe``, ``standardwebhooks`` and ``svix`` packages act as oracles.
"""

from __future__ import annotations

import base64
import hashlib
import time

import pytest
import standardwebhooks
import stripe
import svix.webhooks
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.verification import VerificationError

from . import signers as s
from .signers import NOW, Signed

BODY = b'{"id":"evt_1","type":"invoice.paid","event":{"id":"ev-9"}}'
HEX_GARBAGE = ["bad_signature", "zz" * 32, "ab" * 16, "ab" * 33, "abc", "", "ab cd"]


def reason_of(call: object) -> str:
    with pytest.raises(VerificationError) as err:
        call()  # type: ignore[operator]
    return err.value.reason


# --- Stripe -------------------------------------------------------------------------------------------


def _stripe_good() -> str:
    return s.stripe("whsec_k", BODY).headers["Stripe-Signature"].split(",")[1]


@pytest.mark.parametrize("garbage", HEX_GARBAGE)
@pytest.mark.parametrize("good_first", [True, False])
def test_stripe_malformed_v1_next_to_a_good_one_verifies_as_the_sdk_does(
    garbage: str, good_first: bool
) -> None:
    # GIVEN stripe-python's "header contains valid signature" case: a good v1 and a bad one, either order
    entries = [_stripe_good(), f"v1={garbage}"]
    header = ",".join([f"t={NOW}", *(entries if good_first else entries[::-1])])
    # WHEN the official SDK and Hookway verify it THEN both accept
    assert stripe.WebhookSignature.verify_header(BODY, header, "whsec_k", tolerance=None)
    assert s.stripe("whsec_k", BODY).verify(headers={"Stripe-Signature": header}).delivery_id == "evt_1"


def test_stripe_entry_without_equals_is_skipped_like_the_sdk() -> None:
    # GIVEN a good header with a junk entry that is not key=value
    header = f"t={NOW},garbage,{_stripe_good()}"
    assert stripe.WebhookSignature.verify_header(BODY, header, "whsec_k", tolerance=None)
    # WHEN Hookway verifies it THEN it passes
    s.stripe("whsec_k", BODY).verify(headers={"Stripe-Signature": header})


@pytest.mark.parametrize(
    "header",
    [f"t={NOW},v1=bad_signature", f"t={NOW},v1=zz,v1=" + "ab" * 16, f"t={NOW},garbage", f"t={NOW},v1="],
)
def test_stripe_only_malformed_entries_is_malformed_header(header: str) -> None:
    # GIVEN a header whose every v1 entry is malformed WHEN verified THEN malformed_header
    req = s.stripe("whsec_k", BODY)
    assert reason_of(lambda: req.verify(headers={"Stripe-Signature": header})) == "malformed_header"


def test_stripe_well_formed_wrong_signature_is_a_mismatch() -> None:
    # GIVEN only a well-formed v1 that does not match (stripe-python's "no valid signature") THEN mismatch
    header = f"t={NOW},v1=" + "ab" * 32
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(BODY, header, "whsec_k", tolerance=None)
    req = s.stripe("whsec_k", BODY)
    assert reason_of(lambda: req.verify(headers={"Stripe-Signature": header})) == "signature_mismatch"


# --- Paddle -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("garbage", HEX_GARBAGE)
def test_paddle_malformed_h1_next_to_a_good_one_verifies(garbage: str) -> None:
    # GIVEN paddle's `ts=..;h1=<garbage>;h1=<good>` (the SDKs check every h1)
    signed = s.paddle("pdl_ntfset_k", BODY)
    good = signed.headers["Paddle-Signature"].split(";")[1]
    for header in (f"ts={NOW};h1={garbage};{good}", f"ts={NOW};{good};h1={garbage}", f"ts={NOW};junk;{good}"):
        # WHEN verified THEN it passes
        signed.verify(headers={"Paddle-Signature": header})


def test_paddle_only_malformed_h1_is_malformed_header() -> None:
    req = s.paddle("pdl_ntfset_k", BODY)
    header = f"ts={NOW};h1=invalid_signature;h1=abcd"
    assert reason_of(lambda: req.verify(headers={"Paddle-Signature": header})) == "malformed_header"


# --- Standard Webhooks and Svix -----------------------------------------------------------------------

STANDARD_GARBAGE = ["v1,AAAA", "v1,!!!!", "v1a,AAAA", "v2,abc", "v1," + base64.b64encode(b"x" * 33).decode()]


def _standard_now() -> Signed:
    # The reference libraries read the real clock, so the request is signed now.
    return s.standard(s.STANDARD_SECRET, BODY, ts=int(time.time()))


@pytest.mark.parametrize("garbage", STANDARD_GARBAGE)
def test_standard_malformed_entries_next_to_a_good_one_verify_like_the_libraries(garbage: str) -> None:
    # GIVEN standard-webhooks' "multi signature payload" case with malformed entries around the good one
    req = _standard_now()
    good = req.headers["webhook-signature"]
    headers = {**req.headers, "webhook-signature": f"{garbage} {good} {garbage}"}
    # WHEN the reference libraries and Hookway verify THEN all accept
    standardwebhooks.Webhook(s.STANDARD_SECRET).verify(BODY, headers)
    svix_headers = {name.replace("webhook-", "svix-"): value for name, value in headers.items()}
    svix.webhooks.Webhook(s.STANDARD_SECRET).verify(BODY, svix_headers)
    now = int(req.headers["webhook-timestamp"])
    assert req.verify(headers=headers, now=now).delivery_id == "msg_1"
    assert req.verify(headers=svix_headers, now=now).delivery_id == "msg_1"


def test_standard_entry_without_a_comma_is_skipped() -> None:
    # GIVEN a junk entry without "version," (the reference libraries raise ValueError on it: a 500)
    req = s.standard(s.STANDARD_SECRET, BODY)
    signature = "v1 garbage " + req.headers["webhook-signature"]
    # WHEN Hookway verifies THEN the good entry still counts
    req.with_headers(webhook_signature=signature).verify()


@pytest.mark.parametrize("signature", ["v1,AAAA v1,!!!!", "v1 v1a,AAAA", "v1,AAAA v2,abc", "junk"])
def test_standard_only_malformed_entries_is_malformed_header(signature: str) -> None:
    req = s.standard(s.STANDARD_SECRET, BODY)
    assert reason_of(req.with_headers(webhook_signature=signature).verify) == "malformed_header"


def test_standard_only_unknown_versions_is_a_mismatch() -> None:
    req = s.standard(s.STANDARD_SECRET, BODY)
    assert reason_of(req.with_headers(webhook_signature="v2,abc v3,def").verify) == "signature_mismatch"


# --- PagerDuty ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("garbage", HEX_GARBAGE)
def test_pagerduty_malformed_v1_next_to_a_good_one_verifies(garbage: str) -> None:
    # GIVEN PagerDuty's one-entry-per-secret list with a bad entry beside the good one
    req = s.pagerduty("k", BODY)
    good = req.headers["X-PagerDuty-Signature"]
    for header in (f"v1={garbage},{good}", f"{good},v1={garbage}", f"junk,{good}"):
        # WHEN verified THEN it passes
        assert req.with_headers(X_PagerDuty_Signature=header).verify().delivery_id == "ev-9"


def test_pagerduty_only_malformed_entries_is_malformed_header() -> None:
    req = s.pagerduty("k", BODY)
    assert reason_of(req.with_headers(X_PagerDuty_Signature="v1=zz,v1=abcd").verify) == "malformed_header"


# --- DocuSign -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("garbage", ["not base64!", "AAAA", "\u00e9", ["a", "b"]])
def test_docusign_malformed_numbered_header_next_to_a_good_one_verifies(garbage: object) -> None:
    # GIVEN a good X-DocuSign-Signature-2 and a malformed -1 (a retired key's header gone bad)
    req = s.docusign("k", BODY)
    headers = {"X-DocuSign-Signature-1": garbage, "X-DocuSign-Signature-2": s.b64mac("k", BODY)}
    # WHEN verified THEN it passes
    req.verify(headers=headers)


def test_docusign_only_malformed_headers_is_malformed_header() -> None:
    req = s.docusign("k", BODY)
    headers = {"X-DocuSign-Signature-1": "not base64!", "X-DocuSign-Signature-2": "AAAA"}
    assert reason_of(lambda: req.verify(headers=headers)) == "malformed_header"


def test_docusign_well_formed_wrong_signatures_are_a_mismatch() -> None:
    req = s.docusign("k", BODY)
    headers = {"X-DocuSign-Signature-1": s.b64mac("other", BODY)}
    assert reason_of(lambda: req.verify(headers=headers)) == "signature_mismatch"


# --- Generic hmac with a separator --------------------------------------------------------------------


def test_hmac_separator_skips_malformed_entries_with_the_prefix() -> None:
    # GIVEN a configured list header with a malformed v1 entry beside the good one
    options = {"header": "X-Sig", "prefix": "v1=", "separator": ","}
    good = "v1=" + s.hexmac("k", BODY)
    req = Signed("hmac", "k", {"X-Sig": f"v1=zz,{good}"}, BODY, options=options)
    # WHEN verified THEN it passes; with only malformed entries THEN malformed_header
    req.verify()
    assert reason_of(req.with_headers(X_Sig="v1=zz,v1=abcd").verify) == "malformed_header"
    sha512 = {**options, "algorithm": "sha512"}
    good512 = "v1=" + s.hexmac("k", BODY, hashlib.sha512)
    Signed("hmac", "k", {"X-Sig": f"{good},{good512}"}, BODY, options=sha512).verify()


# --- Property: garbage never hides a good entry -------------------------------------------------------


@given(garbage=st.lists(st.text(alphabet="v1=abcdefz0123456789 _", max_size=70), max_size=6))
def test_any_garbage_around_a_good_stripe_entry_still_verifies(garbage: list[str]) -> None:
    # GIVEN a good v1 entry among arbitrary junk entries (no "t" key among them, no "," inside one)
    junk = [entry for entry in garbage if not entry.strip().startswith("t")]
    header = ",".join([f"t={NOW}", *junk, _stripe_good(), *junk])
    # WHEN verified THEN it passes
    s.stripe("whsec_k", BODY).verify(headers={"Stripe-Signature": header})
