"""Outbound signing, proven against the official standardwebhooks and svix verifiers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest
import standardwebhooks
import svix.webhooks
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.outbound.signing import (
    SigningError,
    decode_secret,
    generate_ed25519_keypair,
    generate_secret,
    github_signature,
    sign,
    standard_headers,
)

# The published Standard Webhooks / Svix example.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

BODY = b'{"type": "invoice.paid", "data": {"id": "in_1", "amount": 4200}}'


def test_published_vector() -> None:
    assert sign(VECTOR_ID, VECTOR_TS, VECTOR_BODY, [VECTOR_SECRET]) == VECTOR_SIGNATURE


# --- interop: the official verifiers accept what we send, unchanged ------------------------------


@pytest.mark.parametrize("count", [1, 2])
def test_standardwebhooks_library_verifies_our_headers(count: int) -> None:
    # GIVEN one secret, or a new and an old one during rotation
    secrets = [generate_secret() for _ in range(count)]
    headers = standard_headers("msg_2Kq5", int(time.time()), BODY, secrets)
    # THEN a receiver holding any one of them verifies the delivery
    for secret in secrets:
        standardwebhooks.Webhook(secret).verify(BODY, headers)


@pytest.mark.parametrize("count", [1, 2])
def test_svix_library_verifies_our_headers(count: int) -> None:
    secrets = [generate_secret() for _ in range(count)]
    msg_id, timestamp = "msg_2Kq6", int(time.time())
    headers = standard_headers(msg_id, timestamp, BODY, secrets)
    svix_headers = {
        "svix-id": headers["webhook-id"],
        "svix-timestamp": headers["webhook-timestamp"],
        "svix-signature": headers["webhook-signature"],
    }
    for secret in secrets:
        svix.webhooks.Webhook(secret).verify(BODY, headers)
        svix.webhooks.Webhook(secret).verify(BODY, svix_headers)


def test_official_verifier_rejects_a_stranger_or_a_changed_body() -> None:
    headers = standard_headers("msg_3", int(time.time()), BODY, [generate_secret()])
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(generate_secret()).verify(BODY, headers)
    secret = generate_secret()
    headers = standard_headers("msg_3", int(time.time()), BODY, [secret])
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(secret).verify(BODY + b" ", headers)


def test_official_libraries_sign_identically() -> None:
    from datetime import UTC, datetime

    reference = standardwebhooks.Webhook(VECTOR_SECRET).sign(
        VECTOR_ID, datetime.fromtimestamp(VECTOR_TS, tz=UTC), VECTOR_BODY.decode()
    )
    assert reference == VECTOR_SIGNATURE == sign(VECTOR_ID, VECTOR_TS, VECTOR_BODY, [VECTOR_SECRET])


# --- v1a (ed25519) -------------------------------------------------------------------------------


def _public_key(whpk: str) -> Ed25519PublicKey:
    assert whpk.startswith("whpk_")
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(whpk.removeprefix("whpk_")))


def test_v1a_signature_verifies_with_the_public_key() -> None:
    signing_key, public_key = generate_ed25519_keypair()
    header = sign("msg_4", 1700000000, BODY, [signing_key])
    version, signature = header.split(",")
    assert version == "v1a"
    _public_key(public_key).verify(base64.b64decode(signature), b"msg_4.1700000000." + BODY)
    with pytest.raises(InvalidSignature):
        _public_key(public_key).verify(base64.b64decode(signature), b"msg_4.1700000001." + BODY)


def test_keypair_format() -> None:
    signing_key, public_key = generate_ed25519_keypair()
    raw = base64.b64decode(signing_key.removeprefix("whsk_"), validate=True)
    assert signing_key.startswith("whsk_")
    assert len(raw) == 64
    assert raw[32:] == base64.b64decode(public_key.removeprefix("whpk_"))


def test_mixed_v1_and_v1a_header_still_verifies_with_the_official_library() -> None:
    hmac_secret = generate_secret()
    signing_key, public_key = generate_ed25519_keypair()
    timestamp = int(time.time())
    headers = standard_headers("msg_5", timestamp, BODY, [signing_key, hmac_secret])
    entries = headers["webhook-signature"].split(" ")
    assert [entry.split(",")[0] for entry in entries] == ["v1a", "v1"]
    standardwebhooks.Webhook(hmac_secret).verify(BODY, headers)  # skips the v1a entry
    content = f"msg_5.{timestamp}.".encode() + BODY
    _public_key(public_key).verify(base64.b64decode(entries[0].split(",")[1]), content)


def test_signing_key_with_mismatched_halves_is_refused() -> None:
    key_a, _ = generate_ed25519_keypair()
    key_b, _ = generate_ed25519_keypair()
    raw_a = base64.b64decode(key_a.removeprefix("whsk_"))
    raw_b = base64.b64decode(key_b.removeprefix("whsk_"))
    franken = "whsk_" + base64.b64encode(raw_a[:32] + raw_b[32:]).decode()
    with pytest.raises(SigningError):
        sign("msg_6", 1, BODY, [franken])
    with pytest.raises(SigningError):
        sign("msg_6", 1, BODY, ["whsk_" + base64.b64encode(raw_a[:32]).decode()])


# --- secrets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("nbytes", [24, 32, 64])
def test_generate_secret_round_trips_through_decode(nbytes: int) -> None:
    secret = generate_secret(nbytes)
    assert secret.startswith("whsec_")
    assert len(decode_secret(secret)) == nbytes
    assert generate_secret(nbytes) != secret


@pytest.mark.parametrize("nbytes", [0, 23, 65, True])
def test_generate_secret_refuses_sizes_outside_24_to_64(nbytes: int) -> None:
    with pytest.raises(SigningError):
        generate_secret(nbytes)


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  # no prefix
        "whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  # wrong prefix
        "whsec_",  # empty
        "whsec_" + base64.b64encode(b"x" * 23).decode(),  # too short
        "whsec_" + base64.b64encode(b"x" * 65).decode(),  # too long
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!",  # not base64
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS",  # bad padding
    ],
)
def test_decode_secret_refuses_bad_secrets(secret: str) -> None:
    with pytest.raises(SigningError) as caught:
        decode_secret(secret)
    # The message never echoes the secret.
    assert secret[6:] not in str(caught.value) or not secret[6:]


def test_signing_error_is_a_value_error() -> None:
    assert issubclass(SigningError, ValueError)


# --- sign() input checks ---------------------------------------------------------------------------


@pytest.mark.parametrize("msg_id", ["", "msg.1", "msg 1", "msg\n1", "msg_é", "msg\t"])
def test_sign_refuses_ids_that_break_the_signed_content_or_the_header(msg_id: str) -> None:
    with pytest.raises(SigningError):
        sign(msg_id, 1614265330, BODY, [VECTOR_SECRET])


@pytest.mark.parametrize("timestamp", [-1, 1.5, "1614265330", True, None])
def test_sign_refuses_timestamps_that_are_not_whole_seconds(timestamp: object) -> None:
    with pytest.raises(SigningError):
        sign("msg_1", timestamp, BODY, [VECTOR_SECRET])  # type: ignore[arg-type]


@pytest.mark.parametrize("secrets", [[], VECTOR_SECRET, ["whsec_bad"], [VECTOR_SECRET, "nope"]])
def test_sign_refuses_missing_or_bad_secrets(secrets: object) -> None:
    with pytest.raises(SigningError):
        sign("msg_1", 1, BODY, secrets)  # type: ignore[arg-type]


def test_sign_refuses_a_text_body() -> None:
    with pytest.raises(SigningError):
        sign("msg_1", 1, "text", [VECTOR_SECRET])  # type: ignore[arg-type]


def test_standard_headers_shape() -> None:
    headers = standard_headers(VECTOR_ID, VECTOR_TS, VECTOR_BODY, [VECTOR_SECRET])
    assert headers == {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": "1614265330",
        "webhook-signature": VECTOR_SIGNATURE,
    }


@given(
    msg_id=st.text(
        alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="."), min_size=1
    ),
    timestamp=st.integers(min_value=0, max_value=2**40),
    body=st.binary(max_size=512),
)
def test_every_entry_is_the_hmac_of_id_timestamp_body(msg_id: str, timestamp: int, body: bytes) -> None:
    secrets = [VECTOR_SECRET, "whsec_" + base64.b64encode(b"k" * 32).decode()]
    entries = sign(msg_id, timestamp, body, secrets).split(" ")
    assert len(entries) == 2
    for secret, entry in zip(secrets, entries, strict=True):
        expected = hmac.new(decode_secret(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
        assert entry == "v1," + base64.b64encode(expected.digest()).decode()


# --- GitHub-style ------------------------------------------------------------------------------------


def test_github_signature_matches_githubs_documented_example() -> None:
    # docs.github.com "Validating webhook deliveries": secret "It's a Secret to Everybody",
    # payload "Hello, World!".
    assert github_signature("It's a Secret to Everybody", b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


@pytest.mark.parametrize("secret, body", [("", b"x"), ("s", "x")])
def test_github_signature_refuses_bad_input(secret: str, body: object) -> None:
    with pytest.raises(SigningError):
        github_signature(secret, body)  # type: ignore[arg-type]
