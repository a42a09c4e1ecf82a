"""Answers the framework and the gateway give on their own, in Hookway's one error shape.

Every error any client sees is ``{"error": {"code": ..., "message": ...}}``. Hookway's own errors get it
from ``chalicelib.errors``; this module covers the answers that never reach a view:

    Chalice (app.py's middleware)           code
      405 MethodNotAllowedError             method_not_allowed      (the Allow header is kept)
      415 UnsupportedMediaType              unsupported_media_type
      400 BadRequest (its Accept rule)      not_acceptable
      500 InternalServerError               internal_error
    the local gateway (local/gateway.py)
      400 Content-Length not a number       invalid_content_length
      404 no route for the path             not_found
      413 body over the platform's limit    payload_too_large
      431 a header line or count too large  header_too_large
      any other framing error               by status, see GATEWAY_CODES

Pure and dependency-free, so the Lambda imports it only when such an answer is made.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: Chalice's error names (``{"Code": ..., "Message": ...}`` bodies) to Hookway's codes.
CHALICE_CODES = {
    "MethodNotAllowedError": "method_not_allowed",
    "UnsupportedMediaType": "unsupported_media_type",
    "BadRequest": "not_acceptable",
    "InternalServerError": "internal_error",
}

#: Status codes the HTTP layer answers by itself (``http.server``'s framing checks) to Hookway's codes.
GATEWAY_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    411: "length_required",
    413: "payload_too_large",
    414: "uri_too_long",
    431: "header_too_large",
    500: "internal_error",
    501: "not_implemented",
    505: "http_version_not_supported",
}

_WORDS = re.compile(r"(?<!^)(?=[A-Z])")


def error_body(code: str, message: str) -> dict[str, Any]:
    """The one error shape."""
    return {"error": {"code": code, "message": message}}


def error_bytes(code: str, message: str) -> bytes:
    """The one error shape as JSON bytes."""
    return json.dumps(error_body(code, message), separators=(",", ":")).encode()


def is_chalice_error(body: Any) -> bool:
    """True for the ``{"Code", "Message"}`` bodies Chalice answers with on its own."""
    return isinstance(body, dict) and len(body) == 2 and "Code" in body and "Message" in body


def chalice_error(body: dict[str, Any], method: str, allow: str | None) -> dict[str, Any]:
    """Chalice's error body in Hookway's shape, with a message a client can act on."""
    name = str(body["Code"])
    code = CHALICE_CODES.get(name) or _WORDS.sub("_", name.removesuffix("Error")).lower() or "internal_error"
    if code == "method_not_allowed":
        message = f"{method} is not allowed here" + (f"; use {allow}" if allow else "")
    elif code == "not_acceptable":
        message = "the Accept header does not admit the type of this response"
    elif code == "internal_error":
        message = "an internal error occurred"
    else:
        message = str(body["Message"])
    return error_body(code, message)


def gateway_code(status: int) -> str:
    """Hookway's code for a status the HTTP layer answers by itself."""
    return GATEWAY_CODES.get(status, "bad_request" if status < 500 else "internal_error")
