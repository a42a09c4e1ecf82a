"""The ingest service on fakes: what is accepted, what is refused, and that refusals store nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest

from chalicelib.api.messages import public_message
from chalicelib.api.sources import parse_add_secret
from chalicelib.api.sources import parse_create as parse_create_source
from chalicelib.envelope import Envelope
from chalicelib.errors import NotFoundError, PayloadTooLargeError, RejectedError, StorageError
from tests.conftest import GITHUB_SECRET, Services, github_headers, inbound

BODY = b'{"zen": "Keep it logically awesome.", "hook_id": 1}'


def test_signed_request_is_queued_once_byte_for_byte(services: Services) -> None:
    # GIVEN a GitHub source
    sid = services.github_source()
    # WHEN GitHub posts a signed event
    reply = services.ingest.receive(inbound(sid, BODY, github_headers(BODY, event="ping")))
    # THEN it is accepted with an id and exactly one envelope holds the exact bytes
    assert reply.status == 202
    message_id = json.loads(reply.body)["id"]
    assert len(services.queue.sent) == 1
    envelope = Envelope.decode(services.queue.sent[0])
    assert envelope.id == message_id
    assert envelope.body == BODY
    assert envelope.event_type == "ping"
    assert envelope.delivery_id == "d-1"
    assert envelope.sha256 == hashlib.sha256(BODY).hexdigest()
    assert services.counted == []  # no metric on the hot path: the router counts what it stores


def test_tampered_request_is_rejected_counted_and_not_queued(services: Services) -> None:
    sid = services.github_source()
    headers = github_headers(BODY)
    with pytest.raises(RejectedError) as err:
        services.ingest.receive(inbound(sid, BODY + b" ", headers))
    assert err.value.status == 401
    assert err.value.code == "signature_mismatch"
    assert "sha256=" not in err.value.message  # no hint of the expected signature
    assert services.queue.sent == []
    assert services.store.rejection_counts(sid) == {"total": 1, "signature_mismatch": 1}
    [kept] = services.store.list_rejections(sid)
    assert kept.code == "signature_mismatch" and kept.source_ip == "203.0.113.7"
    # ... with the names of the headers that came, never their values
    assert kept.header_names == tuple(sorted(h.lower() for h in headers))
    assert headers["x-hub-signature-256"][0] not in repr(kept)


def test_configured_rejection_status_is_used(services: Services) -> None:
    sid = services.github_source(rejection_status=403)
    with pytest.raises(RejectedError) as err:
        services.ingest.receive(inbound(sid, BODY, github_headers(BODY, secret="wrong")))
    assert err.value.status == 403


def test_unknown_and_disabled_sources_are_404(services: Services) -> None:
    with pytest.raises(NotFoundError) as err:
        services.ingest.receive(inbound("src_nope", BODY, github_headers(BODY)))
    assert err.value.code == "source_not_found"
    sid = services.github_source(enabled=False)
    with pytest.raises(NotFoundError) as err:
        services.ingest.receive(inbound(sid, BODY, github_headers(BODY)))
    assert err.value.code == "source_disabled"
    assert services.queue.sent == []


def test_body_over_the_source_limit_is_413_and_not_queued(services: Services) -> None:
    sid = services.github_source(max_body_bytes=1000)
    body = b"x" * 1001
    with pytest.raises(PayloadTooLargeError) as err:
        services.ingest.receive(inbound(sid, body, github_headers(body)))
    assert err.value.status == 413
    assert services.queue.sent == []


def test_storage_failure_is_503_never_2xx(services: Services) -> None:
    sid = services.github_source()
    services.queue.fail_with = StorageError("SQS SendMessage failed: ServiceUnavailable")
    with pytest.raises(StorageError) as err:
        services.ingest.receive(inbound(sid, BODY, github_headers(BODY)))
    assert err.value.status == 503


def test_large_body_goes_through_the_claim_check(services: Services) -> None:
    sid = services.github_source()
    body = bytes(range(256)) * 8192  # 2 MiB, not UTF-8
    reply = services.ingest.receive(inbound(sid, body, github_headers(body)))
    assert reply.status == 202
    [text] = services.queue.sent
    assert len(text) < 4096  # a pointer, not the body
    envelope = Envelope.decode(text)
    assert envelope.body is None and envelope.body_ref is not None
    assert services.blobs.objects[envelope.body_ref.key] == body
    assert envelope.body_ref.sha256 == hashlib.sha256(body).hexdigest()


def test_s3_failure_for_a_large_body_is_503(services: Services) -> None:
    sid = services.github_source()
    services.blobs.fail_with = StorageError("S3 PutObject failed: SlowDown")
    body = b"a" * (1024 * 1024)
    with pytest.raises(StorageError):
        services.ingest.receive(inbound(sid, body, github_headers(body)))
    assert services.queue.sent == []


def test_binary_body_below_threshold_travels_inline_exactly(services: Services) -> None:
    sid = services.github_source()
    body = b"\xff\xfe\x00binary\x80"
    services.ingest.receive(inbound(sid, body, github_headers(body)))
    assert Envelope.decode(services.queue.sent[0]).body == body


def _id(services: Services, sid: str, body: bytes, headers: dict[str, Any]) -> str:
    return str(json.loads(services.ingest.receive(inbound(sid, body, headers)).body)["id"])


def test_a_body_only_scheme_dedupes_on_the_body_whatever_the_delivery_header_says(services: Services) -> None:
    # GIVEN a GitHub source (the signature covers the body only, not X-GitHub-Delivery)
    sid = services.github_source()
    first = _id(services, sid, BODY, github_headers(BODY, delivery="a"))
    # WHEN a captured delivery is sent again with a new delivery id and another event type
    replay = _id(services, sid, BODY, {**github_headers(BODY, delivery="b"), "x-github-event": "release"})
    # THEN it is the same message (issue 19, security 7); another body is another message
    other_body = b'{"other": 1}'
    assert first == replay != _id(services, sid, other_body, github_headers(other_body, delivery="a"))
    envelope = Envelope.decode(services.queue.sent[0])
    assert envelope.dedupe_key == f"sha256:{hashlib.sha256(BODY).hexdigest()}"
    assert (envelope.delivery_id, envelope.event_type, envelope.event_type_verified) == ("a", "push", False)


def test_an_explicit_dedupe_rule_is_the_opt_out(services: Services) -> None:
    # GIVEN a GitHub source whose operator chose the provider's header as the key
    sid = services.github_source(dedupe="header:X-GitHub-Delivery")
    first = _id(services, sid, BODY, github_headers(BODY, delivery="a"))
    again = _id(services, sid, BODY, github_headers(BODY, delivery="a"))
    other = _id(services, sid, BODY, github_headers(BODY, delivery="b"))
    # THEN it is kept as given: the header decides
    assert first == again != other


def test_a_signed_delivery_id_is_the_key_and_its_event_type_is_verified(services: Services) -> None:
    # GIVEN a Standard Webhooks source: webhook-id and the body (with its type) are signed
    from tests.unit.verification import signers as s

    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    sid = services.sources.create(
        parse_create_source({"name": "sw", "verification": {"scheme": "standard", "secrets": [secret]}})
    ).id
    body = b'{"type": "invoice.paid", "data": {}}'
    now = int(services.clock())
    ids = {
        _id(services, sid, body, s.standard(secret, body, msg_id=f"msg_{n}", ts=now).headers) for n in (1, 2)
    }
    # THEN two signed ids are two messages even with one body, and the type is marked verified
    assert len(ids) == 2
    envelope = Envelope.decode(services.queue.sent[0])
    assert (envelope.dedupe_key, envelope.event_type, envelope.event_type_verified) == (
        "id:msg_1",
        "invoice.paid",
        True,
    )


def test_dedupe_none_gives_every_request_its_own_id(services: Services) -> None:
    sid = services.github_source(dedupe="none")
    ids = {
        json.loads(services.ingest.receive(inbound(sid, BODY, github_headers(BODY))).body)["id"]
        for _ in range(3)
    }
    assert len(ids) == 3


def test_dedupe_by_json_pointer(services: Services) -> None:
    sid = services.github_source(dedupe="json:/hook_id")
    a = b'{"hook_id": 7, "n": 1}'
    b = b'{"hook_id": 7, "n": 2}'
    id_a = json.loads(services.ingest.receive(inbound(sid, a, github_headers(a, delivery="x"))).body)["id"]
    id_b = json.loads(services.ingest.receive(inbound(sid, b, github_headers(b, delivery="y"))).body)["id"]
    assert id_a == id_b


@pytest.mark.parametrize(
    ("ip", "accepted"),
    [
        ("203.0.113.9", True),
        ("::ffff:203.0.113.9", True),  # IPv4-mapped IPv6 is the same client
        ("198.51.100.1", False),
        (None, False),
        ("not-an-ip", False),
    ],
)
def test_ip_allowlist_uses_the_gateway_source_ip(services: Services, ip: str | None, accepted: bool) -> None:
    sid = services.github_source(ip_allowlist=["203.0.113.0/24"])
    headers = {**github_headers(BODY), "x-forwarded-for": ["203.0.113.9"]}  # never trusted
    request = inbound(sid, BODY, headers, source_ip=ip)
    if accepted:
        assert services.ingest.receive(request).status == 202
    else:
        with pytest.raises(RejectedError) as err:
            services.ingest.receive(request)
        assert err.value.code == "ip_not_allowed"
        assert services.queue.sent == []


def _basic(user: str, password: str) -> list[str]:
    return ["Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()]


def test_basic_auth_on_top_of_the_signature(services: Services) -> None:
    sid = services.github_source(basic_auth=["docusign:pa:ss"])
    good = {**github_headers(BODY), "authorization": _basic("docusign", "pa:ss")}
    assert services.ingest.receive(inbound(sid, BODY, good)).status == 202
    for auth in (None, _basic("docusign", "wrong"), ["Basic !!!"]):
        headers = github_headers(BODY)
        if auth:
            headers["authorization"] = auth
        with pytest.raises(RejectedError) as err:
            services.ingest.receive(inbound(sid, BODY, headers))
        assert err.value.status == 401
        assert err.value.headers["WWW-Authenticate"].startswith("Basic")
    assert len(services.queue.sent) == 1


def _cert(
    subject: str = "CN=docusign.net",
    issuer: str = "CN=DigiCert",
    *,
    not_after: str = "Jan  1 00:00:00 2099 GMT",
) -> dict[str, object]:
    return {
        "subjectDN": subject,
        "issuerDN": issuer,
        "serialNumber": "01",
        "validity": {"notBefore": "Jan  1 00:00:00 2020 GMT", "notAfter": not_after},
    }


@pytest.mark.parametrize(
    ("cert", "code"),
    [
        (None, "client_certificate_required"),
        (_cert(not_after="Jan  1 00:00:00 2021 GMT"), "client_certificate_expired"),
        (_cert(subject="CN=evil"), "client_certificate_rejected"),
        (_cert(issuer="CN=Other CA"), "client_certificate_rejected"),
        (
            {"subjectDN": "CN=docusign.net", "validity": {"notBefore": "yesterday"}},
            "client_certificate_invalid",
        ),
    ],
)
def test_mtls_rule_refuses_bad_certificates(
    services: Services, cert: dict[str, object] | None, code: str
) -> None:
    sid = services.github_source(mtls={"subjects": ["CN=docusign.net"], "issuers": ["CN=DigiCert"]})
    with pytest.raises(RejectedError) as err:
        services.ingest.receive(inbound(sid, BODY, github_headers(BODY), client_cert=cert))
    assert err.value.code == code
    assert services.queue.sent == []


def test_mtls_rule_accepts_the_right_certificate(services: Services) -> None:
    services.clock.now = time.time()
    sid = services.github_source(mtls={"subjects": ["CN=docusign.net"], "issuers": ["CN=DigiCert"]})
    reply = services.ingest.receive(inbound(sid, BODY, github_headers(BODY), client_cert=_cert()))
    assert reply.status == 202


def test_source_cache_keeps_the_warm_path_off_the_store(services: Services) -> None:
    sid = services.github_source()
    calls = 0
    real_get = services.store.get_source

    def counting_get(source_id: str):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return real_get(source_id)

    services.store.get_source = counting_get  # type: ignore[method-assign]
    for _ in range(5):
        services.ingest.receive(inbound(sid, BODY, github_headers(BODY)))
    assert calls == 1
    services.clock.advance(11)
    services.ingest.receive(inbound(sid, BODY, github_headers(BODY)))
    assert calls == 2


def test_rotated_secret_takes_effect_at_once_in_this_process(services: Services) -> None:
    sid = services.github_source()
    services.ingest.receive(inbound(sid, BODY, github_headers(BODY)))
    services.sources.add_secret(
        sid, parse_add_secret({"secret": "new-secret-0123456789", "retire_others_after": 0})
    )
    services.clock.advance(1)
    with pytest.raises(RejectedError):
        services.ingest.receive(inbound(sid, BODY, github_headers(BODY)))
    assert services.ingest.receive(inbound(sid, BODY, github_headers(BODY, secret="new-secret-0123456789")))


def _slack_headers(body: bytes, secret: str, ts: int) -> dict[str, list[str]]:
    sig = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "x-slack-signature": [f"v0={sig}"],
        "x-slack-request-timestamp": [str(ts)],
        "content-type": ["application/json"],
    }


def test_slack_url_verification_is_answered_after_verification_and_not_stored(services: Services) -> None:
    sid = services.sources.create(
        parse_create_source({"name": "slack", "verification": {"scheme": "slack", "secrets": ["s3cret"]}})
    ).id
    body = json.dumps(
        {
            "token": "t",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification",
        }
    ).encode()
    ts = int(services.clock())
    reply = services.ingest.receive(inbound(sid, body, _slack_headers(body, "s3cret", ts)))
    assert reply.status == 200
    assert reply.body == b"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    assert services.queue.sent == []
    with pytest.raises(RejectedError):
        services.ingest.receive(inbound(sid, body, _slack_headers(body, "wrong", ts)))


def test_meta_get_handshake_checks_the_verify_token(services: Services) -> None:
    sid = services.sources.create(
        parse_create_source(
            {
                "name": "meta",
                "verification": {
                    "scheme": "meta",
                    "secrets": ["app-secret"],
                    "options": {"verify_token": "vt-123"},
                },
            }
        )
    ).id
    query = {"hub.mode": "subscribe", "hub.verify_token": "vt-123", "hub.challenge": "1158201444"}
    reply = services.ingest.receive(inbound(sid, b"", {}, method="GET", query=query))
    assert (reply.status, reply.body) == (200, b"1158201444")
    with pytest.raises(RejectedError) as err:
        services.ingest.receive(
            inbound(sid, b"", {}, method="GET", query={**query, "hub.verify_token": "no"})
        )
    assert err.value.status == 403
    assert services.queue.sent == []


def test_get_on_a_source_without_handshake_is_405(services: Services) -> None:
    sid = services.github_source()
    from chalicelib.errors import HookwayError

    with pytest.raises(HookwayError) as err:
        services.ingest.receive(inbound(sid, b"", {}, method="GET"))
    assert err.value.status == 405


def test_x_crc_get_is_answered_with_the_response_token(services: Services) -> None:
    sid = services.sources.create(
        parse_create_source({"name": "x", "verification": {"scheme": "x", "secrets": ["consumer"]}})
    ).id
    reply = services.ingest.receive(inbound(sid, b"", {}, method="GET", query={"crc_token": "abc"}))
    expected = base64.b64encode(hmac.new(b"consumer", b"abc", hashlib.sha256).digest()).decode()
    assert json.loads(reply.body) == {"response_token": f"sha256={expected}"}


def test_x_crc_token_that_could_sign_a_body_is_400_and_counted(services: Services) -> None:
    sid = services.sources.create(
        parse_create_source({"name": "x", "verification": {"scheme": "x", "secrets": ["consumer"]}})
    ).id
    from chalicelib.errors import HookwayError

    with pytest.raises(HookwayError) as err:
        services.ingest.receive(inbound(sid, b"", {}, method="GET", query={"crc_token": '{"a":1}'}))
    assert (err.value.status, err.value.code) == (400, "invalid_challenge")
    assert services.queue.sent == []


def test_credentials_are_not_stored_with_the_message(services: Services) -> None:
    sid = services.github_source(basic_auth=["u:p"])
    headers = {**github_headers(BODY), "authorization": _basic("u", "p"), "cookie": ["a=b"]}
    services.ingest.receive(inbound(sid, BODY, headers))
    stored = Envelope.decode(services.queue.sent[0]).headers
    assert "authorization" not in stored and "cookie" not in stored
    assert stored["x-github-delivery"] == "d-1"
    assert stored["x-hub-signature-256"].startswith("sha256=")
    assert GITHUB_SECRET not in services.queue.sent[0]


@pytest.mark.parametrize(
    "event",
    [
        "push\r\nX-Injected: 1",  # would split the Hookway-Event-Type header of every attempt
        "p\u00fcsh",  # not ASCII: refused by the strict header read before, so the message was lost (401)
        "\u2603",  # not Latin-1: no HTTP client can send it as a header
        "a" * 201,  # over the bound (up to 8 KB arrived before, and was matched by every filter)
        "push, push",  # a repeated header
        " ",
    ],
)
def test_an_event_type_outside_the_charset_is_dropped_and_the_message_kept(
    services: Services, event: str
) -> None:
    # GIVEN an authentic GitHub delivery whose event type header is not a usable event type
    sid = services.github_source()
    headers = {**github_headers(BODY), "x-github-event": event.split(", ") if ", " in event else [event]}
    # WHEN it arrives THEN it is accepted (202) and stored without an event type, marked invalid
    reply = services.ingest.receive(inbound(sid, BODY, headers))
    assert reply.status == 202
    envelope = Envelope.decode(services.queue.sent[0])
    if event.strip():
        assert (envelope.event_type, envelope.event_type_invalid, envelope.event_type_verified) == (
            None,
            True,
            None,
        )
    else:
        assert (envelope.event_type, envelope.event_type_invalid) == (None, False)


@pytest.mark.parametrize(
    "event", ["push", "Merge Request Hook", "orders/create", "jira:issue_created", "a" * 200]
)
def test_provider_event_types_in_the_charset_are_kept(services: Services, event: str) -> None:
    sid = services.github_source()
    services.ingest.receive(inbound(sid, BODY, {**github_headers(BODY), "x-github-event": [event]}))
    envelope = Envelope.decode(services.queue.sent[0])
    assert (envelope.event_type, envelope.event_type_invalid, envelope.event_type_verified) == (
        event,
        False,
        False,
    )


def test_a_body_event_type_with_a_newline_is_dropped_too(services: Services) -> None:
    # GIVEN a Standard Webhooks source whose (signed) body carries a type with CR/LF
    from tests.unit.verification import signers as s

    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    sid = services.sources.create(
        parse_create_source({"name": "sw", "verification": {"scheme": "standard", "secrets": [secret]}})
    ).id
    body = b'{"type": "invoice.paid\\r\\nX-Injected: 1"}'
    signed = s.standard(secret, body, ts=int(services.clock()))
    assert services.ingest.receive(inbound(sid, body, signed.headers)).status == 202
    envelope = Envelope.decode(services.queue.sent[0])
    assert (envelope.event_type, envelope.event_type_invalid) == (None, True)
    # AND the router stores it with the marks the API shows
    services.drain()
    shown = public_message(services.store.get_message(envelope.id))
    assert (shown["event_type"], shown["event_type_invalid"], shown["event_type_verified"]) == (
        None,
        True,
        None,
    )
