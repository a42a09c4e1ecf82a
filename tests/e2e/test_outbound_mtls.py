"""Outbound mutual TLS end to end: a real TLS receiver on loopback that requires a client certificate
(trustme CA), certificates kept in the emulator's Secrets Manager and SSM, the local stack's sender."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme

from testkit.stack import Stack, wait_until


class MtlsReceiver:
    """An HTTPS server on 127.0.0.1 that completes TLS only with a client certificate of ``client_ca``."""

    def __init__(self, server_ca: trustme.CA, client_ca: trustme.CA) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_ca.issue_cert("127.0.0.1").configure_cert(context)
        client_ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
        self.subjects: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                peer = self.connection.getpeercert()  # type: ignore[attr-defined]
                subject = dict(item for rdn in peer["subject"] for item in rdn)
                receiver.subjects.append(subject.get("commonName", ""))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Any]:
    server_ca, client_ca = trustme.CA(), trustme.CA()
    bundle = tmp_path / "receivers-ca.pem"
    server_ca.cert_pem.write_to_path(str(bundle))
    issued = client_ca.issue_cert("hookway-sender.example.test", common_name="hookway-sender")
    return {
        "server_ca": server_ca,
        "client_ca": client_ca,
        "bundle": str(bundle),
        "chain": "".join(b.bytes().decode() for b in issued.cert_chain_pems),
        "key": issued.private_key_pem.bytes().decode(),
    }


@pytest.fixture
def stack(tmp_path: Path, pki: dict[str, Any]) -> Iterator[Stack]:
    running = Stack(tmp_path, visibility_timeout=3)
    # The sender trusts the receivers' private CA (instead of the system store) in this stack.
    running.env["HOOKWAY_CA_BUNDLE"] = pki["bundle"]
    for queue in ("ingest", "deliveries"):
        running.start_worker(queue)
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def receiver(pki: dict[str, Any]) -> Iterator[MtlsReceiver]:
    running = MtlsReceiver(pki["server_ca"], pki["client_ca"])
    try:
        yield running
    finally:
        running.close()


def _first_attempt(stack: Stack, message_id: str, endpoint_id: str) -> dict[str, Any]:
    resp = stack.request("GET", f"/v1/messages/{message_id}/attempts", admin=True)
    if resp.status != 200:
        return {}
    mine = [a for a in resp.json()["data"] if a["endpoint_id"] == endpoint_id and a["status"] != "in_flight"]
    return min(mine, key=lambda a: a["attempt"]) if mine else {}


def test_a_receiver_that_requires_a_client_certificate_gets_it_and_refuses_without(
    stack: Stack, receiver: MtlsReceiver, pki: dict[str, Any]
) -> None:
    # GIVEN the sender's client certificate in Secrets Manager (JSON) and in SSM (one PEM text)
    from testkit import aws

    aws.client("secretsmanager", stack.endpoint).create_secret(
        Name="hookway/local/certs/sender",
        SecretString=json.dumps({"certificate": pki["chain"], "private_key": pki["key"]}),
    )
    aws.client("ssm", stack.endpoint).put_parameter(
        Name="/hookway/local/certs/sender", Type="SecureString", Value=pki["key"] + pki["chain"]
    )
    url = f"https://127.0.0.1:{receiver.port}/hooks"
    endpoints = {}
    for name, certificate in (
        ("secretsmanager", {"source": "secretsmanager", "name": "hookway/local/certs/sender"}),
        ("ssm", {"source": "ssm", "name": "/hookway/local/certs/sender"}),
        ("none", None),
    ):
        resp = stack.request(
            "POST", "/v1/endpoints", admin=True, json_body={"url": url, "client_certificate": certificate}
        )
        assert resp.status == 201, resp.body
        assert resp.json()["client_certificate"] == certificate
        endpoints[name] = resp.json()["id"]

    # WHEN a message is published to the three endpoints
    resp = stack.request(
        "POST", "/v1/messages", admin=True, json_body={"event_type": "mtls.test", "payload": {}}
    )
    assert resp.status == 202, resp.body
    message_id = resp.json()["id"]

    # THEN both endpoints with a certificate are delivered, the receiver having seen the sender's certificate
    for name in ("secretsmanager", "ssm"):
        attempt = wait_until(lambda n=name: _first_attempt(stack, message_id, endpoints[n]), timeout=30)
        assert attempt["status"] == "succeeded" and attempt["response_status"] == 200, attempt
    assert receiver.subjects == ["hookway-sender", "hookway-sender"]
    # ... and the endpoint without one is refused in the TLS handshake: a failed attempt, nothing received
    refused = wait_until(lambda: _first_attempt(stack, message_id, endpoints["none"]), timeout=30)
    assert refused["status"] == "failed" and refused["response_status"] is None
    assert refused["error_class"] in ("tls_error", "protocol_error"), refused
    assert len(receiver.subjects) == 2


def test_a_portal_token_cannot_present_another_tenants_certificate(
    stack: Stack, receiver: MtlsReceiver, pki: dict[str, Any]
) -> None:
    # GIVEN applications A and B, B's certificate and the operator's in Secrets Manager, and A's token
    # (issue 19, security 3: a token could name any certificate of the stage and have it presented)
    from testkit import aws

    def app(name: str) -> str:
        resp = stack.request("POST", "/v1/applications", admin=True, json_body={"name": name})
        assert resp.status == 201, resp.body
        return str(resp.json()["id"])

    a, b = app("A"), app("B")
    secrets = aws.client("secretsmanager", stack.endpoint)
    value = json.dumps({"certificate": pki["chain"], "private_key": pki["key"]})
    for name in (
        f"hookway/local/apps/{b}/client",
        "hookway/local/certs/operator",
        f"hookway/local/apps/{a}/c",
    ):
        secrets.create_secret(Name=name, SecretString=value)
    resp = stack.request("POST", f"/v1/applications/{a}/portal-access", admin=True, json_body={})
    assert resp.status == 201, resp.body
    token = {"Authorization": f"Bearer {resp.json()['token']}"}
    url = f"https://127.0.0.1:{receiver.port}/hooks"

    def create(name: str) -> Any:
        doc = {"url": url, "client_certificate": {"source": "secretsmanager", "name": name}}
        return stack.request("POST", "/v1/endpoints", headers=token, json_body=doc)

    # WHEN A's token names B's certificate, the operator's, or a name under B's that does not exist
    refused = [
        create(f"hookway/local/apps/{b}/client"),
        create("hookway/local/certs/operator"),
        create(f"hookway/local/apps/{b}/nothing-here"),
    ]
    # THEN each is 400 on that field, in the same words whether the certificate exists or not
    assert [r.status for r in refused] == [400, 400, 400], [r.body for r in refused]
    assert {r.json()["error"]["field"] for r in refused} == {"client_certificate"}
    assert len({r.json()["error"]["message"] for r in refused}) == 1
    # ... and A's own certificate is accepted, and PATCHing B's onto it is refused the same way
    own = create(f"hookway/local/apps/{a}/c")
    assert own.status == 201, own.body
    patched = stack.request(
        "PATCH",
        f"/v1/endpoints/{own.json()['id']}",
        headers=token,
        json_body={
            "client_certificate": {"source": "secretsmanager", "name": f"hookway/local/apps/{b}/client"}
        },
    )
    assert (
        patched.status == 400 and patched.json()["error"]["message"] == refused[0].json()["error"]["message"]
    )
    # ... and a message of A is delivered to A's endpoint with A's certificate
    resp = stack.request(
        "POST", "/v1/messages", admin=True, json_body={"event_type": "x", "payload": {}, "application": a}
    )
    assert resp.status == 202, resp.body
    attempt = wait_until(lambda: _first_attempt(stack, resp.json()["id"], own.json()["id"]), timeout=30)
    assert attempt["status"] == "succeeded", attempt
    assert receiver.subjects == ["hookway-sender"]
