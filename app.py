"""Hookway's Chalice app: routes and event handlers only.

Each view unpacks the request, makes one call into ``chalicelib`` and shapes the reply. Nothing from
``chalicelib`` is imported at module level but ``chalicelib.names`` (pure, a few names): the Lambda's
cold start pays only for what a route touches.

Queue names derive from the stage. Chalice loads this module with the stage's environment in place (for
``chalice deploy --stage prod`` that is ``HOOKWAY_STAGE=prod`` from .chalice/config.json), so the
decorators below name that stage's own queues; in the Lambda the same variable gives the same names.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from typing import Any

from chalice import Chalice, Rate, Response

from chalicelib.names import names

app = Chalice(app_name="hookway")
STAGE = names(os.environ.get("HOOKWAY_STAGE", "local"))
# The sender's event source mapping may cap how many deliver functions run at once (a stage option).
SENDER_MAX_CONCURRENCY = int(os.environ.get("HOOKWAY_SENDER_MAX_CONCURRENCY") or 0) or None
# The deployed API takes every request body as binary (infra/api_gateway.py sets the API's binary media
# types to */*), so raw_body is exactly what the sender signed. app.api.binary_types stays as it is:
# Chalice uses it for responses, which are JSON or text, except /v1/messages/{id}/body (octet-stream).
app.api.binary_types.extend(["application/x-www-form-urlencoded", "multipart/form-data"])

ANY_CONTENT = ["*/*"]


def _container() -> Any:
    """The API's composition root (``chalicelib.wiring.api``)."""
    from chalicelib.wiring import api_root

    return api_root()


def _worker() -> Any:
    """The queue consumers' and the sweep's composition root (``chalicelib.wiring.worker``)."""
    from chalicelib.wiring import worker_root

    return worker_root()


def _error_response(exc: Any) -> Response:
    return Response(
        body=exc.to_body(),
        status_code=exc.status,
        headers={"Content-Type": "application/json", **exc.headers},
    )


def api(view: Callable[..., Any]) -> Callable[..., Any]:
    """Turn Hookway's errors into ``{"error": {...}}`` answers with their status code."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from chalicelib.errors import HookwayError

        try:
            return view(*args, **kwargs)
        except HookwayError as exc:
            return _error_response(exc)
        except Exception:
            # Still a JSON error in Hookway's shape; the traceback goes to the log, never to the caller.
            app.log.exception("unhandled error in %s", view.__name__)
            return _error_response(HookwayError("an internal error occurred"))
        finally:
            from chalicelib.wiring import flush_metrics

            flush_metrics()

    return wrapper


SCOPE_KEY = "hookway.scope"


@app.middleware("http")
def authenticate(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """``/v1`` needs ``Authorization: Bearer <admin key | portal token>``; tokens reach only their routes."""
    route = event.context.get("resourcePath", "")
    if route.startswith("/v1/"):
        from chalicelib import policy
        from chalicelib.errors import HookwayError

        if route not in policy.PUBLIC_ROUTES:
            try:
                scope = _authenticate(event.headers)
                policy.check(scope, event.method, route, lambda: _container().token_limiter)
            except HookwayError as exc:
                return _error_response(exc)
            event.context[SCOPE_KEY] = scope
    return get_response(event)


def _authenticate(headers: Any) -> Any:
    """A bearer credential (admin key, portal token), else the console's session cookie and CSRF token."""
    c = _container()
    if "authorization" not in headers and "hookway_session=" in headers.get("cookie", ""):
        return c.sessions.authenticate(headers)
    return c.tokens.authenticate(headers.get("authorization", ""))


@app.middleware("http")
def framework_answers(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """Chalice's own answers (405, 415, its Accept rule) in Hookway's error shape; raw bytes to any client.

    A view that returns ``bytes`` and no Content-Type gets ``application/octet-stream`` here, after
    Chalice's check that a binary response matches the request's Accept header: the deployed API's
    binary media types are ``*/*``, so API Gateway hands the bytes to every client whatever it accepts.
    """
    response = get_response(event)
    if isinstance(response.body, bytes):
        if not any(name.lower() == "content-type" for name in response.headers):
            response.headers["Content-Type"] = "application/octet-stream"
        return response
    if not isinstance(response.body, dict) or "Code" not in response.body:
        return response  # the usual case, decided without importing anything
    from chalicelib.replies import chalice_error, is_chalice_error

    if not is_chalice_error(response.body):
        return response
    allow = response.headers.get("Allow")
    headers = {"Content-Type": "application/json", **({"Allow": allow} if allow else {})}
    body = chalice_error(response.body, event.method, allow)
    return Response(body=body, status_code=response.status_code, headers=headers)


def _scope() -> Any:
    return app.current_request.context[SCOPE_KEY]


def _json_body() -> Any:
    from chalicelib.errors import BadRequestError

    raw = app.current_request.raw_body or b""
    try:
        doc = json.loads(raw) if raw.strip() else {}
        # JSON's \ud800-style escapes can smuggle in lone surrogates, which no store or signature can encode.
        # ... and NaN/Infinity, which Python reads but no receiver's JSON parser accepts.
        json.dumps(doc, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (ValueError, UnicodeError, RecursionError):
        raise BadRequestError("the body is not valid JSON", code="invalid_json") from None
    return doc


def _query() -> dict[str, str]:
    return dict(app.current_request.query_params or {})


def _page() -> Any:
    from chalicelib.ports import PageRequest

    return PageRequest.from_query(app.current_request.query_params)


def _base_url() -> str:
    """The public base URL of this API: configured, or what the caller addressed (stage included)."""
    from chalicelib.inbound.request import public_base_url

    request = app.current_request
    return public_base_url(
        _container().settings.public_url,
        request.headers,
        request.context.get("path", request.path),
        request.path,
    )


def _json(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=doc, status_code=status, headers={"Content-Type": "application/json", **(headers or {})}
    )


def _listing(page: Any, shape: Callable[[Any], Any] = lambda item: item.public()) -> Response:
    return _json({"data": [shape(item) for item in page.items], "next_cursor": page.cursor})


# ---------------------------------------------------------------------------------------------- ingest


@app.route("/in/{source_id}", methods=["POST", "GET"], content_types=ANY_CONTENT)
@api
def receive(source_id: str) -> Response:
    """Receive a webhook: verify, store durably, answer 202 with the message id."""
    from chalicelib.inbound.request import from_event

    c = _container()
    inbound = from_event(source_id, app.current_request.to_original_event(), c.settings.public_url)
    reply = c.ingest.receive(inbound)
    return Response(
        body=reply.body.decode("utf-8"),
        status_code=reply.status,
        headers={"Content-Type": reply.content_type, **reply.headers},
    )


# ------------------------------------------------------------------------------ console and portal
# Static files shipped in the package (chalicelib/web), served with nothing imported beyond this module's
# own imports. Pages use relative URLs, so they work at the root and under an API Gateway stage (/api).

WEB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "chalicelib", "web")
ASSET_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' {images}; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}"
)
_files: dict[str, tuple[str, str]] = {}


def _web_file(name: str) -> tuple[str, str]:
    """A file of chalicelib/web (all text) and its ETag, read once per container."""
    if name not in _files:
        path = os.path.join(WEB, name)
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        _files[name] = (text, f'"{os.path.getsize(path):x}-{os.stat(path).st_mtime_ns:x}"')
    return _files[name]


def _frame_ancestors() -> str:
    """Who may embed the portal: the deployment's HOOKWAY_PORTAL_FRAME_ANCESTORS, else nobody."""
    allowed = [
        item
        for item in os.environ.get("HOOKWAY_PORTAL_FRAME_ANCESTORS", "").split()
        if item == "'self'" or (item.startswith("https://") and ";" not in item and "," not in item)
    ]
    return " ".join(allowed) or "'none'"


def _static(name: str, content_type: str, headers: dict[str, str] | None = None) -> Response:
    data, etag = _web_file(name)
    common = {
        "ETag": etag,
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        **(headers or {}),
    }
    if etag in (app.current_request.headers.get("if-none-match") or ""):
        return Response(body="", status_code=304, headers=common)
    return Response(body=data, status_code=200, headers={"Content-Type": content_type, **common})


def _web_page(name: str, *, images: str, ancestors: str) -> Response:
    headers = {
        "Content-Security-Policy": _PAGE_POLICY.format(images=images, ancestors=ancestors),
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    }
    if ancestors == "'none'":
        headers["X-Frame-Options"] = "DENY"
    return _static(name, "text/html; charset=utf-8", headers)


@app.route("/", methods=["GET"], content_types=ANY_CONTENT)
def index() -> Response:
    """The console is the front page."""
    request = app.current_request
    path = request.context.get("path", request.path) or "/"
    return Response(body="", status_code=302, headers={"Location": path.rstrip("/") + "/console"})


@app.route("/console", methods=["GET"], content_types=ANY_CONTENT)
def console() -> Response:
    """The operator console (never framed by another page)."""
    return _web_page("console.html", images="data:", ancestors="'none'")


@app.route("/portal", methods=["GET"], content_types=ANY_CONTENT)
def portal() -> Response:
    """The customer portal; a platform may frame it (HOOKWAY_PORTAL_FRAME_ANCESTORS) and show its logo."""
    return _web_page("portal.html", images="data: https:", ancestors=_frame_ancestors())


@app.route("/assets/{name}", methods=["GET"], content_types=ANY_CONTENT)
def asset(name: str) -> Response:
    """The pages' scripts, stylesheet and icon; any other name is a 404 in Hookway's error shape."""
    content_type = ASSET_TYPES.get(os.path.splitext(name)[1])
    if content_type is None or name != os.path.basename(name) or not os.path.isfile(os.path.join(WEB, name)):
        return _json({"error": {"code": "not_found", "message": f"no asset {name!r}"}}, 404)
    return _static(name, content_type)


# ----------------------------------------------------------------------------------- console sign-in


@app.route("/v1/console/session", methods=["POST"], content_types=ANY_CONTENT)
@api
def sign_in() -> Response:
    """Exchange the admin key for a console session (cookie) and its CSRF token."""
    sessions = _container().sessions
    session = sessions.sign_in(_json_body())
    return _json(
        {"csrf_token": session.csrf_token, "expires_at": session.expires_at},
        201,
        {"Set-Cookie": sessions.set_cookie(session), "Cache-Control": "no-store"},
    )


@app.route("/v1/console/session", methods=["GET"], content_types=ANY_CONTENT)
@api
def current_session() -> Response:
    """The signed-in console's CSRF token (same origin only: the API sends no CORS headers)."""
    session = _container().sessions.current(app.current_request.headers.get("cookie", ""))
    return _json(
        {"csrf_token": session.csrf_token, "expires_at": session.expires_at},
        headers={"Cache-Control": "no-store"},
    )


@app.route("/v1/console/session", methods=["DELETE"], content_types=ANY_CONTENT)
@api
def sign_out() -> Response:
    """End the console session."""
    sessions = _container().sessions
    sessions.sign_out(app.current_request.headers)
    return Response(body="", status_code=204, headers={"Set-Cookie": sessions.set_cookie(None)})


@app.route("/v1/console/sessions", methods=["DELETE"], content_types=ANY_CONTENT)
@api
def end_all_sessions() -> Response:
    """End every console session (admin only: the admin key or a console session); the caller's too."""
    sessions = _container().sessions
    ended = sessions.end_all()
    return _json(
        {"ended": ended}, headers={"Set-Cookie": sessions.set_cookie(None), "Cache-Control": "no-store"}
    )


# --------------------------------------------------------------------------------------------- health


@app.route("/v1/health", methods=["GET"], content_types=ANY_CONTENT)
@api
def health() -> Response:
    """200 when the state table answers; 503 otherwise."""
    return _json(_container().health())


@app.route("/v1/openapi.json", methods=["GET"], content_types=ANY_CONTENT)
@api
def openapi_json() -> Response:
    """This API's OpenAPI 3.1 document as JSON (``docs/openapi.yaml``, copied at build time)."""
    return _api_document("openapi.json", "application/json")


@app.route("/v1/openapi.yaml", methods=["GET"], content_types=ANY_CONTENT)
@api
def openapi_yaml() -> Response:
    """This API's OpenAPI 3.1 document as written."""
    return _api_document("openapi.yaml", "application/yaml")


def _api_document(name: str, media_type: str) -> Response:
    from pathlib import Path

    text = (Path(__file__).parent / "chalicelib" / "apidoc" / name).read_text(encoding="utf-8")
    return Response(
        body=text,
        status_code=200,
        headers={"Content-Type": f"{media_type}; charset=utf-8", "Cache-Control": "public, max-age=300"},
    )


@app.route("/v1/schemes", methods=["GET"], content_types=ANY_CONTENT)
@api
def schemes() -> Response:
    """The verification schemes and signing modes: labels, headers, options, secret rules (public)."""
    from chalicelib.schemes import describe

    return _json(describe(), headers={"Cache-Control": "public, max-age=300"})


# -------------------------------------------------------------------------------------------- sources


@app.route("/v1/sources", methods=["POST"], content_types=ANY_CONTENT)
@api
def create_source() -> Response:
    """Create a source; answers 201 with its id and ingest URL."""
    from chalicelib.sources import public_source

    source = _container().sources.create(_json_body())
    return _json(public_source(source, _base_url()), 201)


@app.route("/v1/sources", methods=["GET"], content_types=ANY_CONTENT)
@api
def list_sources() -> Response:
    """List sources (secret values never included)."""
    from chalicelib.sources import public_source

    base = _base_url()
    return _listing(_container().sources.list(_page()), lambda s: public_source(s, base))


@app.route("/v1/sources/{source_id}", methods=["GET"], content_types=ANY_CONTENT)
@api
def get_source(source_id: str) -> Response:
    """One source."""
    from chalicelib.sources import public_source

    return _json(public_source(_container().sources.get(source_id), _base_url()))


@app.route("/v1/sources/{source_id}", methods=["PATCH", "PUT"], content_types=ANY_CONTENT)
@api
def update_source(source_id: str) -> Response:
    """Change a source's fields."""
    from chalicelib.sources import public_source

    return _json(public_source(_container().sources.update(source_id, _json_body()), _base_url()))


@app.route("/v1/sources/{source_id}", methods=["DELETE"], content_types=ANY_CONTENT)
@api
def delete_source(source_id: str) -> Response:
    """Delete a source."""
    _container().sources.delete(source_id)
    return Response(body="", status_code=204)


@app.route("/v1/sources/{source_id}/secrets", methods=["POST"], content_types=ANY_CONTENT)
@api
def add_source_secret(source_id: str) -> Response:
    """Add a verification secret (rotation), optionally retiring the others after a grace period."""
    source, secret = _container().sources.add_secret(source_id, _json_body())
    return _json(
        {
            "source_id": source.id,
            "secret": secret.public(),
            "secrets": [s.public() for s in source.verification.secrets],
        },
        201,
    )


@app.route("/v1/sources/{source_id}/secrets/{secret_id}", methods=["DELETE"], content_types=ANY_CONTENT)
@api
def retire_source_secret(source_id: str, secret_id: str) -> Response:
    """Retire a verification secret now."""
    _container().sources.retire_secret(source_id, secret_id)
    return Response(body="", status_code=204)


@app.route("/v1/sources/{source_id}/rejections", methods=["GET"], content_types=ANY_CONTENT)
@api
def list_rejections(source_id: str) -> Response:
    """The source's recent rejected requests and its rejection counts."""
    return _json(_container().sources.rejections(source_id))


# --------------------------------------------------------------------------------------- applications


@app.route("/v1/applications", methods=["POST"], content_types=ANY_CONTENT)
@api
def create_application() -> Response:
    """Create an application (a tenant): ``{"name", "uid"?, "metadata"?}``."""
    return _json(_container().applications.create(_json_body(), _scope()).public(), 201)


@app.route("/v1/applications", methods=["GET"], content_types=ANY_CONTENT)
@api
def list_applications() -> Response:
    """List applications, oldest first."""
    return _listing(_container().applications.list(_scope(), _page()))


@app.route("/v1/applications/{application_id}", methods=["GET"], content_types=ANY_CONTENT)
@api
def get_application(application_id: str) -> Response:
    """One application, by id or uid."""
    return _json(_container().applications.get(application_id, _scope()).public())


@app.route("/v1/applications/{application_id}", methods=["PATCH", "PUT"], content_types=ANY_CONTENT)
@api
def update_application(application_id: str) -> Response:
    """Change an application's name, uid or metadata."""
    return _json(_container().applications.update(application_id, _json_body(), _scope()).public())


@app.route("/v1/applications/{application_id}", methods=["DELETE"], content_types=ANY_CONTENT)
@api
def delete_application(application_id: str) -> Response:
    """Delete an application now and its endpoints in a background job: 202 with the job."""
    return _job(_container().applications.delete(application_id, _scope()))


@app.route("/v1/applications/{application_id}/portal-access", methods=["POST"], content_types=ANY_CONTENT)
@api
def create_portal_access(application_id: str) -> Response:
    """A portal token for one application: ``{"expires_in", "read_only"}``."""
    c = _container()
    application = c.applications.get(application_id, _scope())
    minted = c.tokens.mint(application, _json_body(), _scope())
    return _json(
        {
            "token": minted.token,
            "url": f"{_base_url()}/portal#token={minted.token}",
            "expires_at": minted.expires_at,
        },
        201,
    )


@app.route(
    "/v1/applications/{application_id}/portal-access/revoke", methods=["POST"], content_types=ANY_CONTENT
)
@api
def revoke_portal_access(application_id: str) -> Response:
    """Revoke every portal token of an application."""
    c = _container()
    application = c.applications.get(application_id, _scope())
    return _json({"application_id": application.id, "revoked_at": c.tokens.revoke(application, _scope())})


# ------------------------------------------------------------------------------------------- messages


@app.route("/v1/messages", methods=["GET"], content_types=ANY_CONTENT)
@api
def list_messages() -> Response:
    """Search messages, newest first, each with its delivery summary (filters: see the OpenAPI document)."""
    return _listing(_container().messages.listing(_query(), _scope(), _page()), lambda item: item)


@app.route("/v1/messages", methods=["POST"], content_types=ANY_CONTENT)
@api
def publish_message() -> Response:
    """Publish ``{"event_type", "payload", "application"?}``; ``Idempotency-Key`` for 24 h."""
    key = app.current_request.headers.get("idempotency-key")
    message_id = _container().publisher.publish(_json_body(), key, _scope())
    return _json({"id": message_id}, 202)


@app.route("/v1/messages/{message_id}", methods=["GET"], content_types=ANY_CONTENT)
@api
def get_message(message_id: str) -> Response:
    """One message, with the state of its delivery to each endpoint."""
    return _json(_container().messages.get(message_id, _scope(), _page()))


@app.route("/v1/messages/{message_id}/resend", methods=["POST"], content_types=ANY_CONTENT)
@api
def resend_message(message_id: str) -> Response:
    """Send a message again to its endpoints (or ``{"endpoint_ids": [...]}``): one more attempt each."""
    sent = _container().recovery.resend(message_id, _json_body(), _scope())
    return _json({"id": message_id, "endpoint_ids": sent}, 202)


@app.route("/v1/messages/{message_id}/attempts", methods=["GET"], content_types=ANY_CONTENT)
@api
def list_message_attempts(message_id: str) -> Response:
    """Every attempt to deliver a message, newest first."""
    return _listing(_container().messages.attempts(message_id, _scope(), _page()))


@app.route("/v1/messages/{message_id}/body", methods=["GET"], content_types=ANY_CONTENT)
@api
def get_message_body(message_id: str) -> Response:
    """The stored body, byte for byte (``Hookway-Content-Type`` gives the type it arrived with)."""
    message, body = _container().messages.body(message_id, _scope())
    # No Content-Type here: framework_answers sets application/octet-stream after Chalice's Accept
    # check, so clients that send no Accept (urllib) or Accept: application/json get the bytes too.
    return Response(
        body=body,
        status_code=200,
        headers={
            "Hookway-Content-Type": message.content_type,
            "Hookway-Body-Sha256": message.body_sha256,
        },
    )


# ------------------------------------------------------------------------------------------ endpoints


@app.route("/v1/endpoints", methods=["POST"], content_types=ANY_CONTENT)
@api
def create_endpoint() -> Response:
    """Create an endpoint; its signing secret (or ed25519 public key) is shown here and on /secret only."""
    from chalicelib.endpoints import public_endpoint

    endpoint, secret, public_key = _container().endpoints.create(_json_body(), _scope())
    shown = {"public_key": public_key} if public_key else {"secret": secret}
    return _json({**public_endpoint(endpoint), **shown}, 201)


@app.route("/v1/endpoints", methods=["GET"], content_types=ANY_CONTENT)
@api
def list_endpoints() -> Response:
    """List one owner's endpoints (``?application=``; a token: its own; else the operator's)."""
    from chalicelib.endpoints import public_endpoint

    return _listing(_container().endpoints.list(_query(), _scope(), _page()), public_endpoint)


@app.route("/v1/endpoints/{endpoint_id}", methods=["GET"], content_types=ANY_CONTENT)
@api
def get_endpoint(endpoint_id: str) -> Response:
    """One endpoint."""
    from chalicelib.endpoints import public_endpoint

    return _json(public_endpoint(_container().endpoints.get(endpoint_id, _scope())))


@app.route("/v1/endpoints/{endpoint_id}", methods=["PATCH", "PUT"], content_types=ANY_CONTENT)
@api
def update_endpoint(endpoint_id: str) -> Response:
    """Change an endpoint's fields."""
    from chalicelib.endpoints import public_endpoint

    return _json(public_endpoint(_container().endpoints.update(endpoint_id, _json_body(), _scope())))


@app.route("/v1/endpoints/{endpoint_id}", methods=["DELETE"], content_types=ANY_CONTENT)
@api
def delete_endpoint(endpoint_id: str) -> Response:
    """Delete an endpoint."""
    _container().endpoints.delete(endpoint_id, _scope())
    return Response(body="", status_code=204)


@app.route("/v1/endpoints/{endpoint_id}/enable", methods=["POST"], content_types=ANY_CONTENT)
@api
def enable_endpoint(endpoint_id: str) -> Response:
    """Enable an endpoint (clears its failure clock)."""
    from chalicelib.endpoints import public_endpoint

    return _json(public_endpoint(_container().endpoints.set_enabled(endpoint_id, True, _scope())))


@app.route("/v1/endpoints/{endpoint_id}/disable", methods=["POST"], content_types=ANY_CONTENT)
@api
def disable_endpoint(endpoint_id: str) -> Response:
    """Disable an endpoint: its deliveries end as skipped until it is enabled again."""
    from chalicelib.endpoints import public_endpoint

    return _json(public_endpoint(_container().endpoints.set_enabled(endpoint_id, False, _scope())))


@app.route("/v1/endpoints/{endpoint_id}/secret", methods=["GET"], content_types=ANY_CONTENT)
@api
def get_endpoint_secret(endpoint_id: str) -> Response:
    """The endpoint's current signing secret (or ed25519 public key)."""
    return _json(_container().endpoints.secret(endpoint_id, _scope()))


@app.route("/v1/endpoints/{endpoint_id}/secret/rotate", methods=["POST"], content_types=ANY_CONTENT)
@api
def rotate_endpoint_secret(endpoint_id: str) -> Response:
    """Add a new signing secret; the old one keeps signing alongside for ``retire_old_after`` seconds."""
    _, shown = _container().endpoints.rotate_secret(endpoint_id, _json_body(), _scope())
    return _json(shown, 201)


@app.route("/v1/endpoints/{endpoint_id}/recover", methods=["POST"], content_types=ANY_CONTENT)
@api
def recover_endpoint(endpoint_id: str) -> Response:
    """Send again every delivery to this endpoint that ended failed or skipped since ``{"since": unix time}``:
    202 with the background job that does it."""
    c = _container()
    return _job(c.jobs.start(c.recovery.plan_recover(endpoint_id, _json_body(), _scope())))


@app.route("/v1/endpoints/{endpoint_id}/replay", methods=["POST"], content_types=ANY_CONTENT)
@api
def replay_to_endpoint(endpoint_id: str) -> Response:
    """Send its owner's messages of ``{"since", "until"?, "source"?}`` to this endpoint once more: 202 with
    the background job that does it."""
    c = _container()
    return _job(c.jobs.start(c.recovery.plan_replay(endpoint_id, _json_body(), _scope())))


@app.route("/v1/endpoints/{endpoint_id}/attempts", methods=["GET"], content_types=ANY_CONTENT)
@api
def list_endpoint_attempts(endpoint_id: str) -> Response:
    """Attempts to an endpoint, newest first."""
    return _listing(_container().endpoints.attempts(endpoint_id, _scope(), _page()))


@app.route("/v1/endpoints/{endpoint_id}/health", methods=["GET"], content_types=ANY_CONTENT)
@api
def endpoint_health(endpoint_id: str) -> Response:
    """How an endpoint is doing: success rate and last error of its most recent attempts."""
    return _json(_container().endpoints.health(endpoint_id, _scope()))


@app.route("/v1/endpoints/{endpoint_id}/test", methods=["POST"], content_types=ANY_CONTENT)
@api
def send_test_event(endpoint_id: str) -> Response:
    """Send a test event to this endpoint only (``{"event_type"?, "payload"?}``); 202 with its message id."""
    message_id, endpoint = _container().publisher.send_test(endpoint_id, _json_body(), _scope())
    return _json({"id": message_id, "endpoint_id": endpoint.id}, 202)


# ----------------------------------------------------------------------------------------------- jobs


def _job(job: Any) -> Response:
    """A started background job: 202, its state, and where to follow it."""
    return _json(job.public(), 202, {"Location": f"/v1/jobs/{job.id}"})


@app.route("/v1/jobs/{job_id}", methods=["GET"], content_types=ANY_CONTENT)
@api
def get_job(job_id: str) -> Response:
    """A background job's state and progress (``done`` of ``total``, null while unknown)."""
    return _json(_container().jobs.get(job_id, _scope()).public())


# ------------------------------------------------------------------------------------ listen sessions


@app.route("/v1/listen-sessions", methods=["POST"], content_types=ANY_CONTENT)
@api
def open_listen_session() -> Response:
    """Open a listen session (a temporary endpoint whose deliveries the CLI pulls); 201 with its secret."""
    from chalicelib.endpoints import public_endpoint

    endpoint, secret = _container().endpoints.open_session(_json_body(), _scope())
    return _json({**public_endpoint(endpoint), "secret": secret}, 201)


@app.route("/v1/listen-sessions/{endpoint_id}/deliveries", methods=["GET"], content_types=ANY_CONTENT)
@api
def pull_listen_deliveries(endpoint_id: str) -> Response:
    """Long-poll a session's waiting deliveries after ``cursor`` (``wait`` up to 20 s), signed now."""
    return _json(_container().listen.pull(endpoint_id, _query(), _scope()))


@app.route(
    "/v1/listen-sessions/{endpoint_id}/deliveries/{delivery_id}/result",
    methods=["POST"],
    content_types=ANY_CONTENT,
)
@api
def report_listen_delivery(endpoint_id: str, delivery_id: str) -> Response:
    """Record what the local receiver answered to a pulled delivery (the attempt's outcome)."""
    return _json(_container().listen.report(endpoint_id, delivery_id, _json_body(), _scope()))


# ---------------------------------------------------------------------------------------- event types


@app.route("/v1/event-types", methods=["POST"], content_types=ANY_CONTENT)
@api
def create_event_type() -> Response:
    """Add an event type to the catalog: ``{"name", "description", "schema"?, "deprecated"?}``."""
    return _json(_container().event_types.create(_json_body(), _scope()).public(), 201)


@app.route("/v1/event-types", methods=["GET"], content_types=ANY_CONTENT)
@api
def list_event_types() -> Response:
    """The catalog, by name (readable with a portal token)."""
    return _listing(_container().event_types.list(_scope(), _page()))


@app.route("/v1/event-types/{name}", methods=["GET"], content_types=ANY_CONTENT)
@api
def get_event_type(name: str) -> Response:
    """One event type."""
    return _json(_container().event_types.get(name, _scope()).public())


@app.route("/v1/event-types/{name}", methods=["PATCH", "PUT"], content_types=ANY_CONTENT)
@api
def update_event_type(name: str) -> Response:
    """Change an event type's description, schema or deprecation."""
    return _json(_container().event_types.update(name, _json_body(), _scope()).public())


@app.route("/v1/event-types/{name}", methods=["DELETE"], content_types=ANY_CONTENT)
@api
def delete_event_type(name: str) -> Response:
    """Remove an event type from the catalog."""
    _container().event_types.delete(name, _scope())
    return Response(body="", status_code=204)


# ------------------------------------------------------------------------------------- queue handlers


@app.on_sqs_message(queue=STAGE.ingest_queue, batch_size=10)
def route_ingest(event: Any) -> None:
    """Store and fan out each accepted webhook (see chalicelib.aws.batch for the batch semantics)."""
    from chalicelib.aws.batch import process_batch_with

    c = _worker()
    try:
        # Job steps (chalicelib.jobs) share the ingest queue; the router gets the rest of the batch.
        process_batch_with(event, c.job_runner.around(c.router.route_many), c.ingest_queue)
    finally:
        c.metrics.flush()


@app.on_sqs_message(queue=STAGE.deliveries_queue, batch_size=10, maximum_concurrency=SENDER_MAX_CONCURRENCY)
def deliver(event: Any) -> None:
    """Send each delivery task, concurrently (see chalicelib.outbound.delivery and chalicelib.aws.batch)."""
    from chalicelib.aws.batch import process_batch_with

    c = _worker()
    try:
        process_batch_with(event, c.sender.handle_many, c.deliveries_queue)
    finally:
        c.metrics.flush()


@app.on_sqs_message(queue=STAGE.deliveries_dlq, batch_size=10)
def dead_letters(event: Any) -> None:
    """End the delivery of each task that reached the dead-letter queue: ``failed`` (``dead_lettered``)."""
    from chalicelib.aws.batch import process_batch_with
    from chalicelib.wiring import flush_metrics

    c = _worker()
    try:
        process_batch_with(event, c.dead_letters.handle_many, c.deliveries_dlq)
    finally:
        flush_metrics()


@app.schedule(Rate(1, unit=Rate.HOURS))
def sweep(event: Any) -> dict[str, Any]:
    """Disable endpoints that kept failing without new traffic, end expired claims; returns the report."""
    from chalicelib.wiring import flush_metrics

    try:
        return _worker().sweep.run().public()
    finally:
        flush_metrics()


# ------------------------------------------------------------------------------------ console, portal


@app.route("/v1/stats", methods=["GET"], content_types=ANY_CONTENT)
@api
def stats() -> Response:
    """Received, delivered, failed and rejected per hour (``hours``, default 24), and what needs attention."""
    return _json(_container().stats.overview(_query(), _scope()))


@app.route("/v1/branding", methods=["GET"], content_types=ANY_CONTENT)
@api
def branding() -> Response:
    """The caller's portal branding: its application's own over the deployment's defaults."""
    return _json(_container().applications.branding(_scope()).public())


# ------------------------------------------------------------------------------------------- egress


@app.route("/v1/egress", methods=["GET"], content_types=ANY_CONTENT)
@api
def egress_addresses() -> Response:
    """The addresses deliveries come from, for receivers' allowlists (static only with static egress IPs)."""
    ips = list(_container().settings.egress_ips)
    return _json({"static": bool(ips), "ips": ips})
