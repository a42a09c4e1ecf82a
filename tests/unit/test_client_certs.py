"""Outbound mutual TLS: the transport presents an endpoint's client certificate to a receiver that requires
one (real TLS on loopback, certificates from trustme); references, values and the cache."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from chalicelib.api.applications import parse_create as parse_create_application
from chalicelib.api.endpoints import parse_certificate, public_endpoint
from chalicelib.api.endpoints import parse_create as parse_create_endpoint
from chalicelib.api.endpoints import parse_update as parse_update_endpoint
from chalicelib.api.messages import parse_publish
from chalicelib.errors import ValidationError
from chalicelib.outbound.client_certs import ClientCertificates, check_reference, parse_value
from chalicelib.outbound.egress import (
    ClientCertificate,
    ClientCertificateError,
    OutboundRequest,
    TLSError,
    Transport,
)
from chalicelib.scope import OPERATOR
from testkit.fakes import FakeClock
from tests.conftest import Services
from tests.unit._servers import http_server
from tests.unit.test_delivery import Receiver, World, _publish
from tests.unit.test_egress import HOOK_HOST, stub

REF = "secretsmanager:hookway/local/certs/acme"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def client_cert(ca: trustme.CA) -> ClientCertificate:
    issued = ca.issue_cert("hookway-sender@example.test", common_name="hookway-sender")
    return ClientCertificate(
        chain_pem="".join(blob.bytes().decode() for blob in issued.cert_chain_pems),
        key_pem=issued.private_key_pem.bytes().decode(),
    )


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def mtls_server(ca: trustme.CA) -> Iterator[tuple[int, object]]:
    """A receiver that completes TLS only with a client certificate issued by the test CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOOK_HOST).configure_cert(context)
    ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED
    with http_server(ssl_context=context) as (port, state):
        yield port, state


def _post(port: int, reference: str | None) -> OutboundRequest:
    return OutboundRequest(
        "POST",
        f"https://{HOOK_HOST}:{port}/mtls",
        {"Content-Type": "application/json"},
        b"{}",
        5.0,
        reference,
    )


def _transport(ca_file: str, certificates: object) -> Transport:
    return Transport(
        allow_private=True,
        resolver=stub({HOOK_HOST: ["127.0.0.1"]}),
        ca_file=ca_file,
        certificates=certificates,  # type: ignore[arg-type]
    )


def test_the_client_certificate_is_presented_and_a_connection_without_it_is_refused(
    mtls_server: tuple[int, object], ca_file: str, client_cert: ClientCertificate
) -> None:
    # GIVEN a receiver that requires a client certificate, and a transport that can resolve ours
    port, state = mtls_server
    asked: list[str] = []

    def certificates(reference: str) -> ClientCertificate:
        asked.append(reference)
        return client_cert

    transport = _transport(ca_file, certificates)
    # WHEN a request names the certificate THEN the receiver accepts it
    assert transport.send(_post(port, REF)).status == 200
    assert asked == [REF]
    # WHEN the next request names none THEN the pooled, certified connection is not reused: refused
    with pytest.raises(TLSError):
        transport.send(_post(port, None))
    assert len(state.requests) == 1  # type: ignore[attr-defined]
    # ... and with the certificate again it goes through
    assert transport.send(_post(port, REF)).status == 200


def test_a_certificate_that_cannot_be_read_or_used_is_a_client_certificate_error(
    mtls_server: tuple[int, object], ca_file: str
) -> None:
    port, _ = mtls_server

    def unreadable(reference: str) -> ClientCertificate:
        raise KeyError(reference)

    with pytest.raises(ClientCertificateError) as caught:
        _transport(ca_file, unreadable).send(_post(port, REF))
    assert caught.value.error_class == "client_certificate_error"
    garbage = ClientCertificate(
        chain_pem="-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", key_pem="x"
    )
    with pytest.raises(ClientCertificateError):
        _transport(ca_file, lambda reference: garbage).send(_post(port, REF))
    with pytest.raises(ClientCertificateError, match="no client certificate source"):
        _transport(ca_file, None).send(_post(port, REF))
    plain = OutboundRequest("POST", f"http://{HOOK_HOST}:{port}/", {}, b"", 5.0, REF)
    with pytest.raises(ClientCertificateError, match="https"):
        _transport(ca_file, lambda reference: garbage).send(plain)


def parse_reference(doc: object, prefixes: dict[str, str], owner: str | None = None) -> str | None:
    """As an endpoint's ``client_certificate`` is read: its shape (the API), then its name (the service)."""
    reference = parse_certificate(doc)
    return None if reference is None else check_reference(reference, prefixes, owner)


def test_references_are_checked_against_the_stages_own_names() -> None:
    prefixes = {"secretsmanager": "hookway/prod/", "ssm": "/hookway/prod/certs/"}
    assert parse_reference({"source": "ssm", "name": "/hookway/prod/certs/acme"}, prefixes) == (
        "ssm:/hookway/prod/certs/acme"
    )
    assert parse_reference(None, prefixes) is None
    for bad in (
        {"source": "secretsmanager", "name": "hookway/dev/acme"},  # another stage's
        {"source": "s3", "name": "hookway/prod/acme"},
        {"source": "ssm", "name": "/hookway/prod/certs/a b"},
        {"source": "ssm"},
        "ssm:/hookway/prod/certs/acme",
    ):
        with pytest.raises((ValueError, ValidationError)):
            parse_reference(bad, prefixes)


def test_values_are_json_or_one_pem_text(client_cert: ClientCertificate) -> None:
    import json

    as_json = json.dumps({"certificate": client_cert.chain_pem, "private_key": client_cert.key_pem})
    assert parse_value(as_json) == client_cert
    bundle = parse_value(client_cert.key_pem + "\n" + client_cert.chain_pem)
    assert bundle.key_pem.split() == client_cert.key_pem.split()
    assert bundle.chain_pem.split() == client_cert.chain_pem.split()
    for bad in ("", "{", '{"certificate": "x"}', client_cert.chain_pem, "[]"):
        with pytest.raises(ClientCertificateError):
            parse_value(bad)
    assert "PRIVATE KEY" not in repr(client_cert)


def test_certificates_are_cached_for_their_ttl(client_cert: ClientCertificate) -> None:
    # GIVEN a reader that counts its calls
    reads: list[tuple[str, str]] = []

    def read(source: str, name: str) -> str:
        reads.append((source, name))
        return client_cert.chain_pem + client_cert.key_pem

    clock = FakeClock()
    certificates = ClientCertificates(read, clock, ttl=300)
    # WHEN resolved twice within the TTL THEN read once; after it THEN read again
    assert certificates(REF) == certificates(REF)
    assert reads == [("secretsmanager", "hookway/local/certs/acme")]
    clock.advance(301)
    certificates(REF)
    assert len(reads) == 2
    with pytest.raises(ClientCertificateError):
        certificates("nowhere:x")


def test_an_endpoint_names_its_client_certificate_and_the_sender_passes_it_on(services: Services) -> None:
    # GIVEN the outbound path of stage "test" on fakes (its names are the only ones the sender may read)
    world = World(services, Receiver())
    doc = {"source": "secretsmanager", "name": "hookway/test/certs/acme"}
    # WHEN an endpoint is created with a certificate of another stage THEN 400 on that field
    with pytest.raises(ValidationError) as caught:
        world.endpoint(client_certificate={**doc, "name": "hookway/prod/certs/acme"})
    assert caught.value.field == "client_certificate" and caught.value.status == 400
    # WHEN with its own THEN it is kept and shown by name (the value never is)
    endpoint, _ = world.endpoint(client_certificate=doc)
    assert public_endpoint(endpoint)["client_certificate"] == doc
    # ... and a delivery's request names it for the transport to present
    _publish(world)
    assert world.run() == ["succeeded"]
    assert [r.client_certificate for r in world.receiver.requests] == [
        "secretsmanager:hookway/test/certs/acme"
    ]
    # WHEN the certificate is removed THEN the endpoint names none
    assert (
        world.endpoints.update(
            endpoint.id, parse_update_endpoint({"client_certificate": None}), OPERATOR
        ).client_certificate
        is None
    )


# --- certificates are bound to their owner (issue 19, security 3) ---


def test_references_are_bound_to_their_owner() -> None:
    prefixes = {"secretsmanager": "hookway/prod/", "ssm": "/hookway/prod/certs/"}
    mine = {"source": "secretsmanager", "name": "hookway/prod/apps/app_a/acme"}
    assert parse_reference(mine, prefixes, "app_a") == "secretsmanager:hookway/prod/apps/app_a/acme"
    assert parse_reference(
        {"source": "ssm", "name": "/hookway/prod/certs/apps/app_a/x"}, prefixes, "app_a"
    ) == ("ssm:/hookway/prod/certs/apps/app_a/x")
    errors = set()
    for owner, name in (
        ("app_a", "hookway/prod/apps/app_b/acme"),  # another application's
        ("app_a", "hookway/prod/apps/app_ab/acme"),  # a longer id sharing the prefix
        ("app_a", "hookway/prod/certs/sender"),  # the operator's
        ("app_a", "hookway/prod/apps/app_a"),  # the folder itself, not under it
        (None, "hookway/prod/apps/app_a/acme"),  # an application's, on an operator's endpoint
    ):
        with pytest.raises(ValueError) as err:
            parse_reference({"source": "secretsmanager", "name": name}, prefixes, owner)
        errors.add((owner, str(err.value)))
    # The words depend on the owner only, never on the name asked for (existing or not).
    assert len({message for owner, message in errors if owner == "app_a"}) == 1


def test_a_portal_token_cannot_name_another_owners_certificate_on_create_or_update(
    services: Services,
) -> None:
    from chalicelib.scope import Scope

    # GIVEN applications A and B on stage "test", and a token of A
    world = World(services, Receiver())
    a = world.api.applications.create(parse_create_application({"name": "A"}), OPERATOR)
    b = world.api.applications.create(parse_create_application({"name": "B"}), OPERATOR)
    token_a = Scope(application_id=a.id)
    url = "https://hooks.example.com/in"
    foreign = [
        {"source": "secretsmanager", "name": f"hookway/test/apps/{b.id}/client"},  # B's
        {"source": "secretsmanager", "name": "hookway/test/certs/sender"},  # the operator's
        {"source": "ssm", "name": f"/hookway/test/certs/apps/{b.id}/client"},
    ]
    own = {"source": "secretsmanager", "name": f"hookway/test/apps/{a.id}/client"}
    # WHEN A's token names another owner's certificate on create THEN 400 on that field
    for doc in foreign:
        with pytest.raises(ValidationError) as err:
            world.endpoints.create(parse_create_endpoint({"url": url, "client_certificate": doc}), token_a)
        assert err.value.field == "client_certificate" and err.value.status == 400
    # ... and on update of its own endpoint
    endpoint, _, _ = world.endpoints.create(
        parse_create_endpoint({"url": url, "client_certificate": own}), token_a
    )
    for doc in foreign:
        with pytest.raises(ValidationError):
            world.endpoints.update(endpoint.id, parse_update_endpoint({"client_certificate": doc}), token_a)
    # ... nor may the operator put B's certificate on A's endpoint
    with pytest.raises(ValidationError):
        world.endpoints.update(
            endpoint.id, parse_update_endpoint({"client_certificate": foreign[0]}), OPERATOR
        )
    assert world.endpoints.get(endpoint.id, token_a).client_certificate == f"secretsmanager:{own['name']}"


def test_the_sender_refuses_a_stored_foreign_certificate_in_the_words_of_a_missing_one(
    services: Services,
) -> None:
    from dataclasses import replace

    from chalicelib.outbound.client_certs import UNREADABLE

    # GIVEN an application's endpoint whose stored reference names the operator's certificate (stored
    # before the rule, or written around the API)
    world = World(services, Receiver())
    app = world.api.applications.create(parse_create_application({"name": "A"}), OPERATOR)
    endpoint, _ = world.endpoint(application=app.id)
    services.store.put_endpoint(
        replace(endpoint, client_certificate="secretsmanager:hookway/test/certs/sender")
    )
    # WHEN a message is delivered to it
    world.publisher.publish(
        parse_publish({"event_type": "x", "payload": {}, "application": app.id}), OPERATOR
    )
    world.route_all()
    assert world.sender.handle(world.deliveries.sent.pop(0)) == "retrying"
    # THEN nothing is sent, and the attempt fails as for a certificate that cannot be read
    assert world.receiver.requests == []
    [attempt] = services.store.list_attempts(next(iter(services.store.messages)))
    assert attempt.error_class == "client_certificate_error" and attempt.error == UNREADABLE
