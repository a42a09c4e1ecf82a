"""The console and the portal: static files shipped in the package (``chalicelib/web``), with a strict CSP.

Served with nothing imported beyond this module's own imports (the portal reads its frame ancestors from
``Settings``). Pages use relative URLs, so they work at the root and under an API Gateway stage (/api).
"""

from __future__ import annotations

import os

from chalice.app import Response

from chalicelib.api.resource import Resource, container, json_reply

routes = Resource(__name__)

WEB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "web")
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


def _static(name: str, content_type: str, headers: dict[str, str] | None = None) -> Response:
    data, etag = _web_file(name)
    common: dict[str, str | list[str]] = {
        "ETag": etag,
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        **(headers or {}),
    }
    if etag in (routes.current_request.headers.get("if-none-match") or ""):
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


@routes.page("/")
def index() -> Response:
    """The console is the front page."""
    request = routes.current_request
    path = request.context.get("path", request.path) or "/"
    return Response(body="", status_code=302, headers={"Location": path.rstrip("/") + "/console"})


@routes.page("/console")
def console() -> Response:
    """The operator console (never framed by another page)."""
    return _web_page("console.html", images="data:", ancestors="'none'")


@routes.page("/portal")
def portal() -> Response:
    """The customer portal; a platform may frame it (``Settings.portal_frame_ancestors``, checked when the
    deployment's settings are read) and show its logo."""
    ancestors = container().settings.portal_frame_ancestors_csp
    return _web_page("portal.html", images="data: https:", ancestors=ancestors)


@routes.page("/assets/{name}")
def asset(name: str) -> Response:
    """The pages' scripts, stylesheet and icon; any other name is a 404 in Hookway's error shape."""
    content_type = ASSET_TYPES.get(os.path.splitext(name)[1])
    if content_type is None or name != os.path.basename(name) or not os.path.isfile(os.path.join(WEB, name)):
        return json_reply({"error": {"code": "not_found", "message": f"no asset {name!r}"}}, 404)
    return _static(name, content_type)
