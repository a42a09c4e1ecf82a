"""The inbound gateway end to end on the local stack: real HTTP in, moto over HTTP, real workers."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import uuid

from infra.stack import MAX_RECEIVES
from testkit.stack import Stack, github_headers, wait_until
from tests.conftest import GITHUB_SECRET


def _github(body: bytes, delivery: str | None = None) -> dict[str, str]:
    return github_headers(body, delivery or str(uuid.uuid4()))


def _source(stack: Stack) -> str:
    return stack.github_source()


def test_health_and_admin_auth(stack: Stack) -> None:
    assert stack.request("GET", "/v1/health").json()["status"] == "ok"
    assert stack.request("GET", "/v1/sources").status == 401
    wrong = stack.request("GET", "/v1/sources", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401 and wrong.json()["error"]["code"] == "unauthorized"
    assert stack.request("GET", "/v1/sources", admin=True).status == 200


def test_bad_management_input_is_a_clear_4xx(stack: Stack) -> None:
    bad_json = stack.request("POST", "/v1/sources", body=b"{nope", admin=True)
    assert bad_json.status == 400 and bad_json.json()["error"]["code"] == "invalid_json"
    bad_field = stack.request(
        "POST", "/v1/sources", json_body={"name": "x", "verification": {"scheme": "?"}}, admin=True
    )
    assert bad_field.status == 400
    assert bad_field.json()["error"]["field"] == "verification.scheme"
    assert stack.request("GET", "/v1/sources/src_nope", admin=True).status == 404
    assert stack.request("GET", "/v1/messages?source=x&limit=0", admin=True).status == 400
    assert stack.request("GET", "/v1/messages?source=x&cursor=%21%21", admin=True).json()["error"][
        "code"
    ] == ("invalid_cursor")


def test_signed_webhook_is_stored_once_byte_for_byte(stack: Stack) -> None:
    sid = _source(stack)
    body = json.dumps({"ref": "refs/heads/main", "note": "caf\u00e9 \u2603"}, ensure_ascii=False).encode()
    resp = stack.request("POST", f"/in/{sid}", body=body, headers=_github(body))
    assert resp.status == 202, resp.body
    message_id = resp.json()["id"]
    [message] = wait_until(lambda: stack.messages(sid))
    assert message["id"] == message_id
    assert message["event_type"] == "push"
    assert message["body_sha256"] == hashlib.sha256(body).hexdigest()
    stored = stack.request("GET", f"/v1/messages/{message_id}/body", admin=True, headers={"Accept": "*/*"})
    assert stored.status == 200 and stored.body == body
    # Any client gets the bytes: urllib sends no Accept at all, many clients send application/json.
    for accept in ({}, {"Accept": "application/json"}):
        stored = stack.request("GET", f"/v1/messages/{message_id}/body", admin=True, headers=accept)
        assert (stored.status, stored.body) == (200, body), (accept, stored.body[:200])
        assert stored.headers["Content-Type"] == "application/octet-stream"
        assert stored.headers["Hookway-Content-Type"] == "application/json"


def test_the_openapi_document_is_served_without_the_admin_key(stack: Stack) -> None:
    # GIVEN the running API WHEN a client without credentials fetches the document THEN it gets it
    as_json = stack.request("GET", "/v1/openapi.json")
    as_yaml = stack.request("GET", "/v1/openapi.yaml")
    assert (as_json.status, as_yaml.status) == (200, 200)
    assert as_json.json()["openapi"].startswith("3.1")
    assert "/v1/openapi.json" in as_json.json()["paths"]
    assert as_yaml.body.startswith(b"openapi: 3.1")


def test_tampered_webhook_is_401_and_nothing_is_stored(stack: Stack) -> None:
    sid = _source(stack)
    body = b'{"amount": 100}'
    resp = stack.request("POST", f"/in/{sid}", body=b'{"amount": 999}', headers=_github(body))
    assert resp.status == 401
    assert resp.json() == {
        "error": {"code": "signature_mismatch", "message": resp.json()["error"]["message"]}
    }
    good = b'{"marker": 1}'
    stack.request("POST", f"/in/{sid}", body=good, headers=_github(good))
    wait_until(lambda: stack.messages(sid))  # the pipeline has caught up ...
    assert [m["body_sha256"] for m in stack.messages(sid)] == [
        hashlib.sha256(good).hexdigest()
    ]  # ... and only that
    rejections = stack.request("GET", f"/v1/sources/{sid}/rejections", admin=True).json()
    assert rejections["counts"] == {"total": 1, "signature_mismatch": 1}


def test_replays_and_concurrent_copies_are_stored_once(stack: Stack) -> None:
    sid = _source(stack)
    body = b'{"action": "completed"}'
    headers = _github(body, delivery="replayed-delivery")
    ids = {stack.request("POST", f"/in/{sid}", body=body, headers=headers).json()["id"] for _ in range(10)}
    results: list[int] = []
    lock = threading.Lock()

    def post() -> None:
        resp = stack.request("POST", f"/in/{sid}", body=body, headers=headers)
        with lock:
            results.append(resp.status)
            ids.add(resp.json()["id"])

    threads = [threading.Thread(target=post) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [202] * 20
    assert len(ids) == 1  # every copy was told the same message id
    wait_until(lambda: stack.queue_depth() == 0)
    assert len(stack.messages(sid)) == 1


def test_two_megabyte_binary_body_goes_through_s3_and_back(stack: Stack) -> None:
    sid = _source(stack)
    body = hashlib.sha256(b"seed").digest() * (2 * 1024 * 1024 // 32)  # 2 MiB, not UTF-8
    headers = {**_github(body), "Content-Type": "application/octet-stream"}
    resp = stack.request("POST", f"/in/{sid}", body=body, headers=headers)
    assert resp.status == 202, resp.body
    [message] = wait_until(lambda: stack.messages(sid))
    assert message["stored_in"] == "s3" and message["size"] == len(body)
    stored = stack.request(
        "GET",
        f"/v1/messages/{message['id']}/body",
        admin=True,
        headers={"Accept": "application/octet-stream"},
    )
    assert stored.body == body
    assert stored.headers["Hookway-Content-Type"] == "application/octet-stream"


def test_form_encoded_body_is_preserved_exactly(stack: Stack) -> None:
    sid = _source(stack)
    body = b"payload=%7B%22a%22%3A1%7D&x=%FF+%2B"
    headers = {**_github(body), "Content-Type": "application/x-www-form-urlencoded"}
    assert stack.request("POST", f"/in/{sid}", body=body, headers=headers).status == 202
    [message] = wait_until(lambda: stack.messages(sid))
    assert (
        stack.request("GET", f"/v1/messages/{message['id']}/body", admin=True, headers={"Accept": "*/*"}).body
        == body
    )


def test_unknown_source_and_oversized_body(stack: Stack) -> None:
    assert stack.request("POST", "/in/src_unknown", body=b"{}").json()["error"]["code"] == "source_not_found"
    sid = str(
        stack.create_source(
            {
                "name": "small",
                "max_body_bytes": 100,
                "verification": {"scheme": "github", "secrets": [GITHUB_SECRET]},
            }
        )["id"]
    )
    body = b"x" * 101
    resp = stack.request("POST", f"/in/{sid}", body=body, headers=_github(body))
    assert resp.status == 413 and resp.json()["error"]["code"] == "payload_too_large"


def test_queue_is_created_from_the_template_with_a_1_mib_limit(stack: Stack) -> None:
    for name in ("HOOKWAY_INGEST_QUEUE_URL", "HOOKWAY_DELIVERIES_QUEUE_URL"):
        attrs = stack.sqs.get_queue_attributes(QueueUrl=stack.env[name], AttributeNames=["All"])["Attributes"]
        assert attrs["MaximumMessageSize"] == "1048576"
        assert json.loads(attrs["RedrivePolicy"])["maxReceiveCount"] == MAX_RECEIVES


def test_worker_killed_mid_batch_loses_nothing(stack: Stack) -> None:
    sid = _source(stack)
    stack.kill_workers("ingest")
    sent = []
    for i in range(120):
        body = json.dumps({"n": i}).encode()
        resp = stack.request("POST", f"/in/{sid}", body=body, headers=_github(body, delivery=f"kill-{i}"))
        assert resp.status == 202
        sent.append(resp.json()["id"])
    # GIVEN a backlog, WHEN a worker is SIGKILLed while it works through it ...
    stack.start_worker("ingest")
    wait_until(lambda: 0 < len(stack.messages(sid)) < 120, timeout=30, interval=0.02)
    stack.kill_workers("ingest")
    partial = len(stack.messages(sid))
    # ... THEN a fresh worker, once the visibility timeout returns the in-flight batch, stores everything once
    stack.start_worker("ingest")
    wait_until(lambda: len(stack.messages(sid)) == 120 and stack.queue_depth() == 0, timeout=60)
    stored = [m["id"] for m in stack.messages(sid)]
    assert sorted(stored) == sorted(sent)
    assert partial < 120


def _twilio_signature(token: str, url: str, params: dict[str, str]) -> str:
    import base64

    data = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def test_twilio_url_with_slashes_and_colons_in_the_query_verifies(stack: Stack) -> None:
    from urllib.parse import urlencode

    sid = str(
        stack.create_source({"name": "tw", "verification": {"scheme": "twilio", "secrets": ["tok"]}})["id"]
    )
    query = "next=/a/b&cb=https://e.example/cb"
    url = f"{stack.base}/in/{sid}?{query}"
    params = {"CallSid": "CA1", "From": "+14158675309"}
    body = urlencode(params).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": _twilio_signature("tok", url, params),
    }
    resp = stack.request("POST", f"/in/{sid}?{query}", body=body, headers=headers)
    assert resp.status == 202, resp.body


def test_signed_url_option_pins_the_url_the_provider_signed(stack: Stack) -> None:
    from urllib.parse import urlencode

    # GIVEN a URL whose query API Gateway cannot hand over as written (a repeated name, interleaved)
    sid = str(
        stack.create_source({"name": "tw", "verification": {"scheme": "twilio", "secrets": ["tok"]}})["id"]
    )
    signed = f"{stack.base}/in/{sid}?a=1&b=2&a=3"
    params = {"CallSid": "CA2"}
    body = urlencode(params).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": _twilio_signature("tok", signed, params),
    }
    assert stack.request("POST", f"/in/{sid}?a=1&b=2&a=3", body=body, headers=headers).status == 401
    # WHEN the source is told the exact URL configured at Twilio THEN it verifies
    stack.request(
        "PATCH",
        f"/v1/sources/{sid}",
        admin=True,
        json_body={"verification": {"scheme": "twilio", "options": {"signed_url": signed}}},
    )
    assert stack.request("POST", f"/in/{sid}?a=1&b=2&a=3", body=body, headers=headers).status == 202


def test_non_utf8_bytes_in_a_text_body_are_stored_exactly(stack: Stack) -> None:
    # GIVEN a source that checks only a token (the body is not signed, so nothing else would notice)
    sid = str(
        stack.create_source(
            {
                "name": "tok",
                "verification": {"scheme": "token", "secrets": ["t0ken"], "options": {"header": "X-Token"}},
            }
        )["id"]
    )
    body = b'{"name": "caf\xe9", "raw": "\xff\xfe"}'  # Latin-1 bytes, not UTF-8, sent as JSON
    for content_type in ("application/json", "text/plain; charset=latin1", None):
        headers = {"X-Token": "t0ken", **({"Content-Type": content_type} if content_type else {})}
        marker = (content_type or "none").encode()
        resp = stack.request("POST", f"/in/{sid}", body=body + marker, headers=headers)
        assert resp.status == 202, resp.body
        message_id = resp.json()["id"]
        wait_until(
            lambda mid=message_id: stack.request("GET", f"/v1/messages/{mid}", admin=True).status == 200
        )
        stored = stack.request(
            "GET", f"/v1/messages/{message_id}/body", admin=True, headers={"Accept": "*/*"}
        )
        assert stored.body == body + marker
