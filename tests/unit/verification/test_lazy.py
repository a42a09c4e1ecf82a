"""Lazy body metadata on ``Verified``, and the fast paths under it (HMAC, decoders, header index)."""

from __future__ import annotations

import base64
import binascii
import copy
import hmac
import json
import pickle
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.verification import VerificationError, Verified, _common

from . import signers as s
from .signers import STANDARD_SECRET
from .test_properties import SETTINGS

#: Schemes whose event type (and for some the delivery id) is read from a JSON body.
BODY_METADATA = {
    "standard": (lambda body: s.standard(STANDARD_SECRET, body), '{"type": "invoice.paid"}'),
    "stripe": (lambda body: s.stripe("k", body), '{"id": "evt_1", "type": "invoice.paid"}'),
    "slack": (lambda body: s.slack("k", body), '{"event_id": "Ev1", "event": {"type": "app_mention"}}'),
    "pagerduty": (lambda body: s.pagerduty("k", body), '{"event": {"id": "e1", "event_type": "incident"}}'),
    "paddle": (lambda body: s.paddle("k", body), '{"notification_id": "ntf_1", "event_type": "sub.created"}'),
    "square": (lambda body: s.square("k", body), '{"event_id": "sq1", "type": "payment.created"}'),
    "meta": (lambda body: s.meta("k", body), '{"object": "page"}'),
    "zoom": (lambda body: s.zoom("k", body), '{"event": "meeting.started"}'),
    "jira": (lambda body: s.jira("k", body), '{"webhookEvent": "jira:issue_created"}'),
    "docusign": (lambda body: s.docusign("k", body), '{"event": "envelope-sent"}'),
}
NOT_JSON = [b"{not json", b"\xff\xfe\x00garbage", b"[" * 100_000, b"", b"null", b'"text"', b"[1, 2]"]


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The bodies parsed as JSON through the verification package, in order."""
    seen: list[bytes] = []
    real = _common.load_json

    def counting(body: bytes) -> Any:
        seen.append(body)
        return real(body)

    monkeypatch.setattr(_common, "load_json", counting)
    return seen


@pytest.mark.parametrize("scheme", sorted(BODY_METADATA))
def test_verification_does_not_parse_the_body_until_metadata_is_read(
    scheme: str, parses: list[bytes]
) -> None:
    # GIVEN a correctly signed JSON delivery
    sign, document = BODY_METADATA[scheme]
    req = sign(document.encode())
    # WHEN it is verified
    result = req.verify()
    # THEN nothing was parsed; the first read parses once, later reads reuse the values
    assert parses == []
    first = result.event_type
    assert first is not None
    assert parses == [req.body]
    assert (result.event_type, result.delivery_id) == (first, result.delivery_id)
    assert len(parses) == 1


@pytest.mark.parametrize(
    ("sign", "document", "expected"),
    [
        (BODY_METADATA["standard"][0], '{"type": "a.b"}', ("msg_1", "a.b")),
        (BODY_METADATA["standard"][0], '{"eventType": "c.d"}', ("msg_1", "c.d")),
        (
            BODY_METADATA["stripe"][0],
            '{"id": "evt_9", "type": "charge.succeeded"}',
            ("evt_9", "charge.succeeded"),
        ),
        (
            BODY_METADATA["slack"][0],
            '{"event_id": "Ev9", "type": "event_callback"}',
            ("Ev9", "event_callback"),
        ),
        (BODY_METADATA["paddle"][0], '{"event_id": "evt_2", "event_type": "x"}', ("evt_2", "x")),
        (BODY_METADATA["jira"][0], '{"webhookEvent": "w", "id": "body-id"}', ("wh-1", "w")),
    ],
)
def test_metadata_is_resolved_on_access(sign: Any, document: str, expected: tuple[Any, ...]) -> None:
    # GIVEN a verified delivery whose metadata lives in the body
    result = sign(document.encode()).verify()
    # WHEN / THEN its fields read as the body says (a header id, where the scheme has one, stays)
    assert (result.delivery_id, result.event_type) == expected


@pytest.mark.parametrize("body", NOT_JSON)
@pytest.mark.parametrize("scheme", sorted(BODY_METADATA))
def test_a_signed_body_that_is_not_json_verifies_with_empty_metadata(scheme: str, body: bytes) -> None:
    # GIVEN a body that is not a JSON object (or is too deep to parse), correctly signed
    sign, _ = BODY_METADATA[scheme]
    req = sign(body)
    # WHEN it is verified and its metadata read
    result = req.verify()
    # THEN nothing raises, and the body-derived fields are None
    assert result.event_type is None
    assert result == result  # noqa: PLR0124 - equality resolves too, and must not raise
    repr(result)
    hash(result)


def test_a_tampered_body_still_fails_before_any_metadata() -> None:
    req = s.standard(STANDARD_SECRET, b'{"type": "a"}')
    with pytest.raises(VerificationError) as err:
        req.verify(body=b'{"type": "b"}')
    assert err.value.reason == "signature_mismatch"


def test_lazy_and_eager_results_are_equal_values() -> None:
    # GIVEN a lazily resolved result and an eager one with the same fields
    lazy = s.stripe("k", b'{"id": "evt_1", "type": "t"}').verify()
    eager = Verified(delivery_id="evt_1", timestamp=s.NOW, event_type="t")
    # THEN they compare, hash and print alike
    assert lazy == eager
    assert hash(lazy) == hash(eager)
    assert {lazy, eager} == {eager}
    assert repr(lazy) == repr(eager) == "Verified(delivery_id='evt_1', timestamp=1700000000, event_type='t')"
    assert lazy != Verified(delivery_id="evt_2", timestamp=s.NOW, event_type="t")
    assert lazy != ("evt_1", s.NOW, "t")


def test_verified_is_immutable_before_and_after_resolution() -> None:
    result = s.standard(STANDARD_SECRET, b'{"type": "a"}').verify()
    for _ in range(2):  # before the body is parsed, then after
        for name in ("delivery_id", "timestamp", "event_type"):
            with pytest.raises(AttributeError):
                setattr(result, name, "x")
            with pytest.raises(AttributeError):
                delattr(result, name)
        with pytest.raises(AttributeError):
            result.extra = 1  # type: ignore[attr-defined]
        assert result.event_type == "a"
    assert result.delivery_id == "msg_1"
    assert result.timestamp == s.NOW


def test_copy_and_pickle_keep_the_resolved_values() -> None:
    result = s.slack("k", b'{"event_id": "Ev1", "event": {"type": "m"}}').verify()
    for clone in (copy.copy(result), copy.deepcopy(result), pickle.loads(pickle.dumps(result))):
        assert clone == result
        assert (clone.delivery_id, clone.timestamp, clone.event_type) == ("Ev1", s.NOW, "m")


def test_eager_constructor_keeps_its_keywords_and_defaults() -> None:
    assert Verified() == Verified(None, None, None)
    assert Verified("d", 1, "e").event_type == "e"
    assert Verified(event_type="e").delivery_id is None
    match s.standard(STANDARD_SECRET, b'{"type": "a"}').verify():
        case Verified(delivery_id, timestamp, event_type):
            assert (delivery_id, timestamp, event_type) == ("msg_1", s.NOW, "a")
        case _:
            raise AssertionError("Verified does not match positionally")


# ---- the fast paths under verification ------------------------------------------------------------


@pytest.mark.parametrize("algorithm", sorted(_common.DIGESTS))
@pytest.mark.parametrize("key_length", [0, 1, 32, 63, 64, 65, 128, 129, 300])
def test_mac_equals_hmac_new(algorithm: str, key_length: int) -> None:
    key = (bytes(range(256)) * 2)[:key_length]
    digest = _common.DIGESTS[algorithm]
    for message in (b"", b"m", b"x" * 5000):
        expected = hmac.new(key, message, digest).digest()
        assert _common.mac(key, message, algorithm) == expected
        assert _common.mac(key, (message[:3], message[3:]), algorithm) == expected
        assert _common.mac(key, message, algorithm) == expected  # the cached key state is not consumed


@SETTINGS
@given(text=st.text(alphabet="0123456789abcdefABCDEF \t\n\x0bxg\u00e9", max_size=12))
def test_decode_hex_is_strict(text: str) -> None:
    strict = len(text) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in text) and text != ""
    if strict:
        assert _common.decode_hex(text) == bytes.fromhex(text)
    else:
        with pytest.raises(VerificationError):
            _common.decode_hex(text)


@SETTINGS
@given(text=st.text(alphabet="QUJDab+/=-_ \n\u00e9", max_size=14))
def test_decode_base64_agrees_with_validating_b64decode(text: str) -> None:
    try:
        expected: bytes | None = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError):
        expected = None
    if expected:
        assert _common.decode_base64(text) == expected
    else:
        with pytest.raises(VerificationError):
            _common.decode_base64(text)


def test_header_names_differing_in_case_are_one_header() -> None:
    req = s.github("k", b"{}")
    signature = req.headers["X-Hub-Signature-256"]
    # Two spellings of the signature header: two values, so malformed rather than a pick.
    with pytest.raises(VerificationError) as err:
        req.verify(headers={**req.headers, "x-hub-signature-256": signature})
    assert err.value.reason == "malformed_header"
    # A None spelling is absent, so the other one stands.
    assert req.verify(headers={**req.headers, "x-hub-signature-256": None}).event_type == "push"
    # A name that is not text is ignored, whatever its type.
    assert req.verify(headers={**req.headers, b"x-github-event": "pull"}).event_type == "push"  # type: ignore[dict-item]
    assert req.verify(headers={**req.headers, b"x-github-event": "pull", 7: "x"}).event_type == "push"  # type: ignore[dict-item]


def test_json_lists_of_one_event_give_sendgrid_style_metadata() -> None:
    from chalicelib.verification import sendgrid

    events = json.loads('[{"sg_event_id": "sg1", "event": "delivered"}]')
    assert sendgrid._metadata(events) == ("sg1", "delivered")
    assert sendgrid._metadata([*events, *events]) == (None, None)
    assert sendgrid._metadata({"sg_event_id": "x"}) == (None, None)
