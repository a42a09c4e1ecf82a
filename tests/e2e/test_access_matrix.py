"""Every route of the OpenAPI document, called with every kind of credential, on the local stack.

The table below is the expected answer of each cell. Columns:

    admin    the admin key, on application A's things
    tok      a portal token of A, on A's things
    ro       a read-only token of A, on A's things
    tok>B    A's token, on application B's things (ids in the path, or named in the query or body)
    expired  a validly signed token of A whose lifetime is over
    revoked  a token of A issued before A's tokens were revoked

A token reaches only its application: B's ids answer 404 as if they did not exist, operator-only routes 403,
changes through a read-only token 403; expired and revoked tokens 401 on every authenticated route.
"""

from __future__ import annotations

import http.client
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from chalicelib.aws.parameters import FixedAdminKey
from chalicelib.commands import MintToken
from chalicelib.models import Application
from chalicelib.scope import OPERATOR
from chalicelib.tokens import TokenService
from testkit.stack import ADMIN_KEY, Stack, github_headers, wait_until

SPEC = Path(__file__).resolve().parents[2] / "chalicelib" / "api" / "openapi.yaml"
COLUMNS = ("admin", "tok", "ro", "tok>B", "expired", "revoked", "session")
METHODS = ("get", "post", "put", "patch", "delete")

OPERATOR_ONLY = (403, 403, 403, 401, 401)
# (method, path): admin, tok, ro, tok>B, expired, revoked. The console's session (cookie + CSRF header,
# no Authorization) is the operator, so its column repeats the admin's (added below the table).
BEARER: dict[tuple[str, str], tuple[int, ...]] = {
    ("POST", "/in/{source_id}"): (401, 401, 401, 401, 401, 401),  # unsigned: the source's own check
    ("GET", "/in/{source_id}"): (405, 405, 405, 405, 405, 405),
    ("GET", "/v1/health"): (200, 200, 200, 200, 200, 200),
    ("GET", "/v1/egress"): (200, 200, 200, 200, 401, 401),  # any live token: receivers allowlist it
    ("GET", "/v1/openapi.json"): (200, 200, 200, 200, 200, 200),
    ("GET", "/v1/openapi.yaml"): (200, 200, 200, 200, 200, 200),
    ("GET", "/v1/schemes"): (200, 200, 200, 200, 200, 200),  # public metadata, no secret
    ("POST", "/v1/sources"): (201, *OPERATOR_ONLY),
    ("GET", "/v1/sources"): (200, *OPERATOR_ONLY),
    ("GET", "/v1/sources/{source_id}"): (200, *OPERATOR_ONLY),
    ("PATCH", "/v1/sources/{source_id}"): (200, *OPERATOR_ONLY),
    ("PUT", "/v1/sources/{source_id}"): (200, *OPERATOR_ONLY),
    ("DELETE", "/v1/sources/{source_id}"): (204, *OPERATOR_ONLY),
    ("POST", "/v1/sources/{source_id}/secrets"): (201, *OPERATOR_ONLY),
    ("DELETE", "/v1/sources/{source_id}/secrets/{secret_id}"): (204, *OPERATOR_ONLY),
    ("GET", "/v1/sources/{source_id}/rejections"): (200, *OPERATOR_ONLY),
    ("POST", "/v1/applications"): (201, *OPERATOR_ONLY),
    ("GET", "/v1/applications"): (200, *OPERATOR_ONLY),
    ("GET", "/v1/applications/{application_id}"): (200, 200, 200, 403, 401, 401),
    ("PATCH", "/v1/applications/{application_id}"): (200, *OPERATOR_ONLY),
    ("PUT", "/v1/applications/{application_id}"): (200, *OPERATOR_ONLY),
    ("DELETE", "/v1/applications/{application_id}"): (202, *OPERATOR_ONLY),  # a job deletes its endpoints
    ("POST", "/v1/applications/{application_id}/portal-access"): (201, *OPERATOR_ONLY),
    ("POST", "/v1/applications/{application_id}/portal-access/revoke"): (200, *OPERATOR_ONLY),
    ("GET", "/v1/messages"): (200, 200, 200, 403, 401, 401),
    ("POST", "/v1/messages"): (202, *OPERATOR_ONLY),
    ("GET", "/v1/messages/{message_id}"): (200, 200, 200, 404, 401, 401),
    ("POST", "/v1/messages/{message_id}/resend"): (202, 202, 403, 404, 401, 401),
    ("GET", "/v1/messages/{message_id}/attempts"): (200, 200, 200, 404, 401, 401),
    ("GET", "/v1/messages/{message_id}/body"): (200, 200, 200, 404, 401, 401),
    ("POST", "/v1/endpoints"): (201, 201, 403, 403, 401, 401),
    ("GET", "/v1/endpoints"): (200, 200, 200, 403, 401, 401),
    ("GET", "/v1/endpoints/{endpoint_id}"): (200, 200, 200, 404, 401, 401),
    ("PATCH", "/v1/endpoints/{endpoint_id}"): (200, 200, 403, 404, 401, 401),
    ("PUT", "/v1/endpoints/{endpoint_id}"): (200, 200, 403, 404, 401, 401),
    ("DELETE", "/v1/endpoints/{endpoint_id}"): (204, 204, 403, 404, 401, 401),
    ("POST", "/v1/endpoints/{endpoint_id}/enable"): (200, 200, 403, 404, 401, 401),
    ("POST", "/v1/endpoints/{endpoint_id}/disable"): (200, 200, 403, 404, 401, 401),
    ("GET", "/v1/endpoints/{endpoint_id}/secret"): (200, 200, 200, 404, 401, 401),
    ("POST", "/v1/endpoints/{endpoint_id}/secret/rotate"): (201, 201, 403, 404, 401, 401),
    ("POST", "/v1/endpoints/{endpoint_id}/recover"): (202, 202, 403, 404, 401, 401),
    ("POST", "/v1/endpoints/{endpoint_id}/replay"): (202, 202, 403, 404, 401, 401),
    ("GET", "/v1/jobs/{job_id}"): (200, 200, 200, 404, 401, 401),  # a token: its application's jobs only
    ("GET", "/v1/endpoints/{endpoint_id}/attempts"): (200, 200, 200, 404, 401, 401),
    ("GET", "/v1/endpoints/{endpoint_id}/health"): (200, 200, 200, 404, 401, 401),
    ("POST", "/v1/endpoints/{endpoint_id}/test"): (202, 202, 403, 404, 401, 401),
    ("POST", "/v1/endpoints/{endpoint_id}/transformation/simulate"): (200, 200, 403, 404, 401, 401),
    ("GET", "/v1/stats"): (200, *OPERATOR_ONLY),
    ("GET", "/v1/branding"): (200, 200, 200, 200, 401, 401),  # each caller's own: nothing of B's to name
    ("POST", "/v1/listen-sessions"): (201, 201, 403, 403, 401, 401),
    ("GET", "/v1/listen-sessions/{endpoint_id}/deliveries"): (200, 200, 200, 404, 401, 401),
    ("POST", "/v1/listen-sessions/{endpoint_id}/deliveries/{delivery_id}/result"): (
        200,
        200,
        403,
        404,
        401,
        401,
    ),
    ("POST", "/v1/event-types"): (201, *OPERATOR_ONLY),
    ("GET", "/v1/event-types"): (200, 200, 200, 200, 401, 401),
    ("GET", "/v1/event-types/{name}"): (200, 200, 200, 200, 401, 401),
    ("PATCH", "/v1/event-types/{name}"): (200, *OPERATOR_ONLY),
    ("PUT", "/v1/event-types/{name}"): (200, *OPERATOR_ONLY),
    ("DELETE", "/v1/event-types/{name}"): (204, *OPERATOR_ONLY),
    # A filter tested against a stored message: B's message is 404 to A's token, as if it did not exist.
    ("POST", "/v1/filters/test"): (200, 200, 200, 404, 401, 401),
}
MATRIX = {route: (*row, row[0]) for route, row in BEARER.items()}
# The pages and the console's sign-in: admin, tok, ro, tok>B, expired, revoked, session.
MATRIX.update(
    {
        ("GET", "/"): (302, 302, 302, 302, 302, 302, 302),
        ("GET", "/console"): (200, 200, 200, 200, 200, 200, 200),
        ("GET", "/portal"): (200, 200, 200, 200, 200, 200, 200),
        ("GET", "/assets/{name}"): (200, 200, 200, 200, 200, 200, 200),
        # Sign-in checks the key in the body, whatever the request's other credentials.
        ("POST", "/v1/console/session"): (201, 201, 201, 201, 201, 201, 201),
        # Only the session cookie names a session: a bearer credential is not one.
        ("GET", "/v1/console/session"): (401, 401, 401, 401, 401, 401, 200),
        ("DELETE", "/v1/console/session"): (401, 401, 401, 401, 401, 401, 204),
        # Ending every session is the operator's, by key or by session (it ends the cell's own session too:
        # the shared one is opened again after it, see _call).
        ("DELETE", "/v1/console/sessions"): (200, 403, 403, 403, 401, 401, 200),
    }
)

# A valid body for each changing route, so the admin's cell proves the route works.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/in/{source_id}"): {"unsigned": True},
    ("POST", "/v1/console/session"): {"admin_key": ADMIN_KEY},
    ("POST", "/v1/sources"): {"name": "m", "verification": {"scheme": "github", "secrets": ["s" * 20]}},
    ("PATCH", "/v1/sources/{source_id}"): {"description": "patched"},
    ("PUT", "/v1/sources/{source_id}"): {"description": "put"},
    ("POST", "/v1/sources/{source_id}/secrets"): {"secret": "t" * 20},
    ("POST", "/v1/applications"): {"name": "m"},
    ("PATCH", "/v1/applications/{application_id}"): {"metadata": {"k": "v"}},
    ("PUT", "/v1/applications/{application_id}"): {"metadata": {"k": "w"}},
    ("POST", "/v1/applications/{application_id}/portal-access"): {"expires_in": 600},
    ("POST", "/v1/messages"): {"event_type": "matrix.test", "payload": {}},
    ("POST", "/v1/messages/{message_id}/resend"): {},
    ("POST", "/v1/endpoints"): {"url": "http://127.0.0.1:9/matrix", "enabled": False},
    ("PATCH", "/v1/endpoints/{endpoint_id}"): {"description": "patched"},
    ("PUT", "/v1/endpoints/{endpoint_id}"): {"description": "put"},
    ("POST", "/v1/endpoints/{endpoint_id}/secret/rotate"): {},
    ("POST", "/v1/endpoints/{endpoint_id}/recover"): {"since": 0},
    ("POST", "/v1/endpoints/{endpoint_id}/replay"): {"since": 0},
    ("POST", "/v1/endpoints/{endpoint_id}/test"): {"event_type": "matrix.test.event"},
    ("POST", "/v1/endpoints/{endpoint_id}/transformation/simulate"): {
        "code": "function handler(w) { return w; }",
        "payload": {"n": 1},
    },
    # A filter nothing else publishes: a session without one would take every later message of its owner.
    ("POST", "/v1/listen-sessions"): {"expires_in": 600, "filter": {"event_types": ["matrix.listen.none"]}},
    ("POST", "/v1/listen-sessions/{endpoint_id}/deliveries/{delivery_id}/result"): {"status": 200},
    ("POST", "/v1/event-types"): {"name": "placeholder"},
    ("PATCH", "/v1/event-types/{name}"): {"description": "patched"},
    ("PUT", "/v1/event-types/{name}"): {"description": "put"},
}


class Tenant:
    """One application and the things of its own the matrix needs, made fresh where a cell may destroy them."""

    def __init__(self, stack: Stack, name: str) -> None:
        self.stack = stack
        self.app = self._created("POST", "/v1/applications", {"name": name})
        self.id = str(self.app["id"])
        # A stored message of this application (a few routes only read it, resend sends it again).
        resp = stack.request(
            "POST",
            "/v1/messages",
            admin=True,
            json_body={"event_type": "matrix.seed", "payload": {"t": name}, "application": self.id},
        )
        assert resp.status == 202, resp.body
        self.message = str(resp.json()["id"])
        wait_until(lambda: stack.request("GET", f"/v1/messages/{self.message}", admin=True).status == 200)

    def _created(self, method: str, path: str, body: Any) -> dict[str, Any]:
        resp = self.stack.request(method, path, admin=True, json_body=body)
        assert resp.status in (200, 201), (path, resp.status, resp.body)
        return dict(resp.json())

    def _listen_delivery(self) -> dict[str, str]:
        """A listen session of this application with one delivery waiting in it."""
        event_type = f"matrix.listen.{uuid.uuid4().hex[:8]}"
        session = self._created(
            "POST", "/v1/listen-sessions", {"application": self.id, "filter": {"event_types": [event_type]}}
        )
        published = self.stack.request(
            "POST",
            "/v1/messages",
            admin=True,
            json_body={"event_type": event_type, "payload": {}, "application": self.id},
        )
        assert published.status == 202, published.body

        def waiting() -> str | None:
            resp = self.stack.request("GET", f"/v1/listen-sessions/{session['id']}/deliveries", admin=True)
            data = resp.json()["data"]
            return str(data[0]["id"]) if data else None

        return {"endpoint_id": session["id"], "delivery_id": wait_until(waiting)}

    def params(self, path: str, *, throwaway_app: bool) -> dict[str, str]:
        """Path parameters for one cell; destructible things are new for every cell."""
        out: dict[str, str] = {}
        if "{source_id}" in path:
            source = self._created(
                "POST",
                "/v1/sources",
                {"name": "m", "verification": {"scheme": "github", "secrets": ["a" * 20, "b" * 20]}},
            )
            out["source_id"] = source["id"]
            out["secret_id"] = source["verification"]["secrets"][0]["id"]
        if "{application_id}" in path:
            out["application_id"] = (
                self._created("POST", "/v1/applications", {"name": "throwaway"})["id"]
                if throwaway_app
                else self.id
            )
        if "{message_id}" in path:
            out["message_id"] = self.message
        if path.startswith("/v1/listen-sessions/"):
            out.update(self._listen_delivery())
        elif "{endpoint_id}" in path:
            # A test event needs an enabled endpoint (one attempt, to a port nobody listens on).
            testing = path.endswith("/test")
            out["endpoint_id"] = self._created(
                "POST",
                "/v1/endpoints",
                {
                    "url": "http://127.0.0.1:9/m",
                    "enabled": testing,
                    "application": self.id,
                    **({"retry_schedule": [0]} if testing else {}),
                },
            )["id"]
        if "{job_id}" in path:
            # A recovery job of one of this application's endpoints, started by the operator.
            endpoint = self._created(
                "POST",
                "/v1/endpoints",
                {"url": "http://127.0.0.1:9/j", "enabled": False, "application": self.id},
            )
            resp = self.stack.request(
                "POST", f"/v1/endpoints/{endpoint['id']}/recover", admin=True, json_body={"since": 0}
            )
            assert resp.status == 202, resp.body
            out["job_id"] = str(resp.json()["id"])
        if "{name}" in path:
            out["name"] = self._created(
                "POST", "/v1/event-types", {"name": f"matrix.{uuid.uuid4().hex[:12]}"}
            )["name"]
        return out


def _documented() -> set[tuple[str, str]]:
    doc = yaml.safe_load(SPEC.read_text())
    return {(m.upper(), path) for path, item in doc["paths"].items() for m in item if m in METHODS}


def _console_session(stack: Stack) -> dict[str, str]:
    """The headers the console sends: its session cookie and CSRF token, no Authorization."""
    resp = stack.request("POST", "/v1/console/session", json_body={"admin_key": ADMIN_KEY})
    assert resp.status == 201, resp.body
    cookie = resp.headers["Set-Cookie"].split(";")[0]
    return {"Cookie": cookie, "X-Hookway-CSRF": str(resp.json()["csrf_token"])}


def _token(stack: Stack, application: str) -> str:
    resp = stack.request("POST", f"/v1/applications/{application}/portal-access", admin=True, json_body={})
    assert resp.status == 201, resp.body
    return str(resp.json()["token"])


@pytest.fixture(scope="module")
def tenants(stack: Stack) -> dict[str, Any]:
    a, b = Tenant(stack, "A"), Tenant(stack, "B")
    revoked_app = Tenant(stack, "R")
    revoked = _token(stack, revoked_app.id)
    time.sleep(0.01)  # revocation is by issue time, in milliseconds
    assert (
        stack.request("POST", f"/v1/applications/{revoked_app.id}/portal-access/revoke", admin=True).status
        == 200
    )
    # Signed with the deployment's key like any other, but issued two hours ago for one hour.
    past = TokenService(store=None, clock=lambda: time.time() - 7200, admin_key=FixedAdminKey(ADMIN_KEY))  # type: ignore[arg-type]
    expired = past.mint(
        Application(id=a.id, name="A", created_at=0, updated_at=0), MintToken(expires_in=3600), OPERATOR
    )
    read_only = stack.request(
        "POST", f"/v1/applications/{a.id}/portal-access", admin=True, json_body={"read_only": True}
    ).json()["token"]
    return {
        "a": a,
        "b": b,
        "auth": {
            "admin": ADMIN_KEY,
            "tok": _token(stack, a.id),
            "ro": read_only,
            "tok>B": _token(stack, a.id),
            "expired": expired.token,
            "revoked": revoked,
            "session": _console_session(stack),
        },
    }


def test_the_matrix_covers_every_documented_route() -> None:
    assert set(MATRIX) == _documented()


def _call(stack: Stack, tenants: dict[str, Any], method: str, path: str, column: str) -> tuple[int, Any]:
    owner: Tenant = tenants["b"] if column == "tok>B" else tenants["a"]
    destructive = column in ("admin", "session") and (method == "DELETE" or path.endswith("/revoke"))
    params = owner.params(path, throwaway_app=destructive)
    url = path.format(**params)
    query = ""
    body = BODIES.get((method, path))
    if column == "tok>B":
        # Without an id in the path, B is named where the route takes an application.
        if (method, path) in (("GET", "/v1/messages"), ("GET", "/v1/endpoints")):
            query = f"?application={owner.id}"
        if (method, path) in (("POST", "/v1/endpoints"), ("POST", "/v1/listen-sessions")):
            body = {**body, "application": owner.id}
    if (method, path) == ("POST", "/v1/event-types"):
        body = {"name": f"matrix.{uuid.uuid4().hex[:12]}"}
    if (method, path) == ("POST", "/v1/filters/test"):
        body = {"filter": {"event_types": ["matrix.*"]}, "message_id": owner.message}
    if column != "session":
        headers = {"Authorization": f"Bearer {tenants['auth'][column]}"}
    elif (method, path) == ("DELETE", "/v1/console/session"):
        headers = _console_session(stack)  # signing out ends it: not the one the other cells use
    else:
        headers = dict(tenants["auth"]["session"])
    if path == "/assets/{name}":
        url = "/assets/console.js"
    if path == "/":  # the redirect itself, not the page it leads to
        connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
        connection.request(method, url, headers=headers)
        answer = connection.getresponse()
        answer.read()
        connection.close()
        return answer.status, answer
    if path.startswith("/in/"):
        raw = b'{"unsigned": true}'
        headers.update({k: v for k, v in github_headers(raw, "d").items() if k != "X-Hub-Signature-256"})
        resp = stack.request(method, url, headers=headers, body=raw if method == "POST" else None)
    elif body is not None:
        resp = stack.request(method, url + query, headers=headers, json_body=body)
    else:
        resp = stack.request(method, url + query, headers=headers)
    if (method, path) == ("DELETE", "/v1/console/sessions") and resp.status < 400:
        # Every session ended, the shared one included: the next cells get a new one.
        tenants["auth"]["session"] = _console_session(stack)
    return resp.status, resp


@pytest.mark.parametrize(("method", "path"), sorted(MATRIX))
def test_each_route_answers_each_credential_as_the_table_says(
    stack: Stack, tenants: dict[str, Any], method: str, path: str
) -> None:
    got: dict[str, int] = {}
    for column in COLUMNS:
        status, resp = _call(stack, tenants, method, path, column)
        got[column] = status
        if status >= 400:
            error = resp.json()["error"]  # every refusal in Hookway's shape, with a stable code
            assert isinstance(error["code"], str) and isinstance(error["message"], str)
    assert tuple(got[c] for c in COLUMNS) == MATRIX[(method, path)], got
