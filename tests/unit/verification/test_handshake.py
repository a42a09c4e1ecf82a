"""Handshakes: Meta hub.challenge, X CRC, Slack url_verification and Zoom endpoint.url_validation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from chalicelib.verification import ChallengeReply, VerificationError, challenge_reply

from . import signers as s
from . import vectors as v


def reply(scheme: str, method: str = "GET", **kw: Any) -> ChallengeReply | None:
    kw.setdefault("secrets", ["secret"])
    kw.setdefault("query", {})
    kw.setdefault("headers", {})
    kw.setdefault("body", b"")
    return challenge_reply(scheme, method=method, **kw)


META_QUERY = {"hub.mode": "subscribe", "hub.verify_token": "tok", "hub.challenge": "1158201444"}


def test_meta_challenge() -> None:
    result = reply("meta", query=META_QUERY, options={"verify_token": "tok"})
    assert result == ChallengeReply(200, b"1158201444", "text/plain")


@pytest.mark.parametrize(
    ("query", "options"),
    [
        (META_QUERY, {"verify_token": "other"}),
        (META_QUERY, {}),
        (META_QUERY, {"verify_token": ""}),
        ({**META_QUERY, "hub.verify_token": "t\u00e9k"}, {"verify_token": "tok"}),
        ({k: val for k, val in META_QUERY.items() if k != "hub.verify_token"}, {"verify_token": "tok"}),
    ],
)
def test_meta_bad_token(query: dict[str, str], options: dict[str, str]) -> None:
    with pytest.raises(VerificationError) as err:
        reply("meta", query=query, options=options)
    assert err.value.reason == "bad_credentials"


def test_meta_not_a_handshake() -> None:
    assert reply("meta", query={}) is None
    assert (
        reply("meta", query={**META_QUERY, "hub.mode": "unsubscribe"}, options={"verify_token": "tok"})
        is None
    )
    assert reply("github", query=META_QUERY, options={"verify_token": "tok"}) is None


def test_x_crc() -> None:
    result = reply("x", query={"crc_token": "challenge-123"}, secrets=["consumer-secret", "old"])
    assert result is not None and result.status == 200 and result.content_type == "application/json"
    digest = hmac.new(b"consumer-secret", b"challenge-123", hashlib.sha256).digest()
    assert json.loads(result.body) == {"response_token": "sha256=" + base64.b64encode(digest).decode()}
    assert reply("twitter", query={"crc_token": "challenge-123"}, secrets=["consumer-secret"]) == result
    assert reply("x", query={}) is None
    with pytest.raises(VerificationError) as err:
        reply("x", query={"crc_token": "t"}, secrets=[])
    assert err.value.reason == "missing_secret"


@pytest.mark.parametrize(
    "token",
    ['{"a":1}', " {}", "a b", "é", "a" * 256, "abc===", "ab\n", "a.b", "\ud800"],
)
def test_x_crc_refuses_tokens_x_never_sends(token: str) -> None:
    # A token that could be (part of) a JSON object would make the answer a delivery's signature.
    with pytest.raises(VerificationError) as err:
        reply("x", query={"crc_token": token})
    assert err.value.reason == "invalid_challenge"


def test_x_crc_takes_both_base64_alphabets() -> None:
    for token in ("AbC+/09=", "AbC-_09==", "a" * 255):
        assert reply("x", query={"crc_token": token}) is not None


def test_x_delivery_must_be_a_json_object() -> None:
    for body in (b"abc", b"[]", b"null", b"", b'"{}"'):
        with pytest.raises(VerificationError) as err:
            s.x("secret", body).verify()
        assert err.value.reason == "malformed_body"
    assert s.x("secret", b' {"for_user_id": "1"}').verify() is not None


def test_slack_url_verification() -> None:
    result = reply("slack", "POST", body=v.SLACK_URL_VERIFICATION)
    assert result == ChallengeReply(
        200, b"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "text/plain"
    )
    # The handshake is signed like any event: verify() accepts it first.
    s.slack("k", v.SLACK_URL_VERIFICATION).verify()


@pytest.mark.parametrize(
    "body", [b"not json", b"{}", b'{"type":"event_callback"}', b"[1]", b'{"type":"url_verification"}']
)
def test_slack_not_a_handshake(body: bytes) -> None:
    assert reply("slack", "POST", body=body) is None


def _zoom_body(token: str = v.ZOOM_CRC["plain_token"]) -> bytes:
    return json.dumps(
        {"payload": {"plainToken": token}, "event_ts": 1654503849680, "event": "endpoint.url_validation"}
    ).encode()


def test_zoom_url_validation_matches_beats_vector() -> None:
    result = reply("zoom", "POST", secrets=[v.ZOOM_CRC["secret"]], body=_zoom_body())
    assert result is not None and result.status == 200 and result.content_type == "application/json"
    assert json.loads(result.body) == {
        "plainToken": v.ZOOM_CRC["plain_token"],
        "encryptedToken": v.ZOOM_CRC["encrypted_token"],
    }


def test_zoom_uses_the_secret_that_signed_the_request() -> None:
    body = _zoom_body()
    req = s.zoom(v.ZOOM_CRC["secret"], body)
    req.verify(secrets=["old-secret", v.ZOOM_CRC["secret"]])
    result = reply(
        "zoom", "POST", secrets=["old-secret", v.ZOOM_CRC["secret"]], headers=req.headers, body=body
    )
    assert result is not None
    assert json.loads(result.body)["encryptedToken"] == v.ZOOM_CRC["encrypted_token"]


@pytest.mark.parametrize(
    "body", [b"{", b'{"event":"meeting.started"}', b'{"event":"endpoint.url_validation"}']
)
def test_zoom_not_a_handshake(body: bytes) -> None:
    assert reply("zoom", "POST", body=body) is None


def test_other_methods_and_schemes() -> None:
    assert reply("stripe", "POST", body=v.SLACK_URL_VERIFICATION) is None
    assert reply("slack", "GET", query={"crc_token": "x"}) is None
    assert reply("slack", "PUT", body=v.SLACK_URL_VERIFICATION) is None
    with pytest.raises(VerificationError) as err:
        reply("nope")
    assert err.value.reason == "unsupported_scheme"
