"""Which fields of a Verified the signature covers: header-derived ids and event types are not."""

from __future__ import annotations

import copy
import pickle

import pytest

from chalicelib.verification import Verified, signature_window, verify

from . import signers as s

BODY = b'{"type": "invoice.paid", "id": "evt_1", "event": {"id": "e1", "event_type": "x.y"}}'


@pytest.mark.parametrize(
    ("scheme", "id_signed", "type_signed"),
    [
        ("github", False, False),
        ("shopify", False, False),
        ("bitbucket", False, False),
        ("woocommerce", False, False),
        ("twilio", False, True),
        ("standard", True, True),
        ("stripe", True, True),
    ],
)
def test_each_scheme_says_what_its_signature_covers(scheme: str, id_signed: bool, type_signed: bool) -> None:
    signer = s.BODY_SIGNERS.get(scheme) or getattr(s, scheme)
    secret = s.secret_for(scheme)
    result = signer(secret, BODY).verify()
    assert (result.delivery_id_signed, result.event_type_signed) == (id_signed, type_signed)


def test_a_gitlab_token_signs_nothing() -> None:
    headers = {"X-Gitlab-Token": "tok", "X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": "u1"}
    result = verify(
        "gitlab", secrets=["tok"], method="POST", url="https://h/in/x", headers=headers, body=BODY
    )
    assert (result.event_type, result.delivery_id_signed, result.event_type_signed) == (
        "Push Hook",
        False,
        False,
    )


def test_hmac_signs_only_what_its_template_renders() -> None:
    body_only = Verified("d", 5, "t", unsigned=("delivery_id", "timestamp", "event_type"))
    assert not (body_only.delivery_id_signed or body_only.timestamp_signed or body_only.event_type_signed)
    assert signature_window("hmac", None, {"header": "X", "timestamp_header": "X-Ts"}) is None
    assert (
        signature_window(
            "hmac", None, {"header": "X", "timestamp_header": "X-Ts", "template": "{timestamp}.{body}"}
        )
        == 600
    )


def test_provenance_survives_copy_and_pickle_but_is_not_part_of_the_value() -> None:
    result = Verified("d", None, "push", unsigned=("delivery_id", "event_type"))
    for clone in (copy.copy(result), pickle.loads(pickle.dumps(result))):
        assert clone == result and not clone.delivery_id_signed and not clone.event_type_signed
    assert result == Verified("d", None, "push")
    assert repr(result) == "Verified(delivery_id='d', timestamp=None, event_type='push')"
