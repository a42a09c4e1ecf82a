"""The package contract: registry, input normalisation, error hygiene and import cost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib import verification
from chalicelib.verification import SCHEMES, VerificationError, Verified, scheme_names, verify

from . import signers as s

ROOT = Path(__file__).resolve().parents[3]
EXPECTED = {
    "github",
    "stripe",
    "standard",
    "svix",
    "slack",
    "shopify",
    "twilio",
    "square",
    "pagerduty",
    "paddle",
    "linear",
    "sendgrid",
    "meta",
    "zoom",
    "docusign",
    "gitlab",
    "bitbucket",
    "jira",
    "mailgun",
    "google-code",
    "woocommerce",
    "x",
    "hmac",
    "basic",
    "token",
}


def test_registry_lists_every_scheme_and_alias() -> None:
    assert set(SCHEMES) >= EXPECTED
    assert scheme_names() == sorted(SCHEMES)
    assert SCHEMES["svix"] is SCHEMES["standard"]
    assert all(callable(verifier) for verifier in SCHEMES.values())
    with pytest.raises(TypeError):
        SCHEMES["evil"] = SCHEMES["github"]  # type: ignore[index]


def test_unsupported_scheme() -> None:
    with pytest.raises(VerificationError) as err:
        verify("nope", secrets=["k"], method="POST", url="", headers={}, body=b"")
    assert err.value.reason == "unsupported_scheme"


def test_verified_is_frozen() -> None:
    result = Verified(delivery_id="a", timestamp=1, event_type="b")
    with pytest.raises(AttributeError):
        result.delivery_id = "c"  # type: ignore[misc]


@pytest.mark.parametrize("secrets", [[], [""], ()])
def test_missing_secret(secrets: list[str]) -> None:
    req = s.github("k", b"{}")
    with pytest.raises(VerificationError) as err:
        req.verify(secrets=secrets)
    assert err.value.reason == "missing_secret"


def test_a_bare_string_secret_is_one_secret() -> None:
    # Iterating "k" would make each character a key; a single-character secret shows the difference.
    req = s.github("secret", b"{}")
    req.verify(secrets="secret")
    single_letter = s.github("s", b"{}")
    with pytest.raises(VerificationError):
        single_letter.verify(secrets="secret")


def test_error_messages_never_contain_secret_or_expected_signature() -> None:
    secret = "super-secret-value"
    req = s.github(secret, b'{"a":1}')
    expected = req.headers["X-Hub-Signature-256"]
    for body in (b'{"a":2}', b'{"a":1}'):
        for secrets in ([secret + "x"], [secret]):
            try:
                req.verify(body=body, secrets=secrets, headers={"X-Hub-Signature-256": "sha256=" + "0" * 64})
            except VerificationError as err:
                text = str(err) + repr(err)
                assert secret not in text and expected[7:] not in text


def test_body_may_be_bytearray_but_not_text() -> None:
    req = s.github("k", b"{}")
    req.verify(body=bytearray(b"{}"))
    with pytest.raises(VerificationError) as err:
        req.verify(body="{}")
    assert err.value.reason == "malformed_body"


def test_bad_url_or_headers_type() -> None:
    req = s.twilio_json("k", b"{}")
    with pytest.raises(VerificationError):
        req.verify(url="https://x/\udcff")
    with pytest.raises(VerificationError):
        req.verify(headers=[("X-Twilio-Signature", "x")])


def test_now_defaults_to_the_clock() -> None:
    import time

    req = s.slack("k", b"{}", int(time.time()))
    req.verify(now=None)


def test_import_does_not_load_cryptography() -> None:
    code = (
        "import sys, chalicelib.verification as v; "
        "assert v.scheme_names(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'cryptography'))"
    )
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
    assert "cryptography" not in out.stderr


def test_public_api_names() -> None:
    assert set(verification.__all__) >= {
        "verify",
        "Verified",
        "VerificationError",
        "SCHEMES",
        "challenge_reply",
        "ChallengeReply",
        "scheme_names",
    }


def test_none_header_values_are_absent_and_bad_now_is_an_option_error() -> None:
    req = s.github("k", b"{}")
    headers = {**req.headers, "X-GitHub-Event": None}
    assert req.verify(headers=headers).event_type is None
    with pytest.raises(VerificationError) as err:
        req.verify(now="soon")
    assert err.value.reason == "invalid_options"
