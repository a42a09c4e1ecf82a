"""The whole exception tree of Hookway, and the one table that maps it to HTTP.

    HookwayError                      status 500  internal_error
    +-- BadRequestError               status 400  bad_request
    |   +-- ValidationError           status 400  invalid_request   (a field of a request body)
    +-- UnauthorizedError             status 401  unauthorized      (admin API key)
    +-- ForbiddenError                status 403  forbidden
    +-- NotFoundError                 status 404  not_found
    +-- MethodNotAllowedError         status 405  method_not_allowed (with an Allow header)
    +-- ConflictError                 status 409  conflict
    +-- GoneError                     status 410  gone              (a listen session that has ended)
    +-- PayloadTooLargeError          status 413  payload_too_large
    +-- TooManyRequestsError          status 429  rate_limited      (with a Retry-After header)
    +-- UnprocessableError            status 422  unprocessable     (a payload breaks its event type's schema)
    +-- RejectedError                 status 401, or the source's rejection_status; code = the reason
    +-- StorageError                  status 503  storage_unavailable (an AWS call failed; retry later)
    +-- ConfigError                   status 503  invalid_config (the deployment's settings are unusable)

The status lives on the class; only ``RejectedError`` takes one per instance, because a source chooses
the status its rejections answer (``rejection_status``). Verification raises its own ``chalicelib.verification.VerificationError`` (a pure library that users
reuse on its own); the ingest service turns it into a ``RejectedError``. Adapters catch modelled
botocore errors and raise ``StorageError`` ``from`` them, so nothing above the adapters sees boto3.
"""

from __future__ import annotations

from typing import Any


class HookwayError(Exception):
    """Base of every error Hookway raises on purpose; carries its HTTP status and a stable code."""

    status = 500
    code = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.headers = headers or {}
        self.details = details or {}

    def to_body(self) -> dict[str, Any]:
        """The JSON error body every API answer uses: ``{"error": {"code", "message", ...}}``."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        error.update(self.details)
        return {"error": error}


class BadRequestError(HookwayError):
    """The request is malformed (bad JSON, bad query parameter)."""

    status = 400
    code = "bad_request"


class ValidationError(BadRequestError):
    """A field of a request body is missing or invalid."""

    code = "invalid_request"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code, details={"field": field} if field else None)
        self.field = field


class UnauthorizedError(HookwayError):
    """The admin API key is missing or wrong."""

    status = 401
    code = "unauthorized"


class ForbiddenError(HookwayError):
    """The caller is known but not allowed to do this."""

    status = 403
    code = "forbidden"


class NotFoundError(HookwayError):
    """The named resource does not exist."""

    status = 404
    code = "not_found"


class TooManyRequestsError(HookwayError):
    """The caller made too many requests of this kind; ``Retry-After`` says when to try again."""

    status = 429
    code = "rate_limited"


class ConflictError(HookwayError):
    """The request conflicts with the current state (idempotency key reused with another body)."""

    status = 409
    code = "conflict"


class GoneError(HookwayError):
    """The resource existed and has ended (a listen session past its expiry)."""

    status = 410
    code = "gone"


class PayloadTooLargeError(HookwayError):
    """The request body is larger than the source or the platform allows."""

    status = 413
    code = "payload_too_large"


class UnprocessableError(HookwayError):
    """The request is well formed but its content is refused (a payload that breaks its schema)."""

    status = 422
    code = "unprocessable"


class MethodNotAllowedError(HookwayError):
    """The route does not serve this method (``Allow`` lists the ones it does)."""

    status = 405
    code = "method_not_allowed"


class RejectedError(HookwayError):
    """An inbound webhook failed verification or an access rule; nothing was stored."""

    status = 401
    code = "rejected"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int = 401,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, code=code, headers=headers)
        self.status = status  # the source's rejection_status


class StorageError(HookwayError):
    """A durable store (SQS, DynamoDB, S3) failed; the caller should retry later."""

    status = 503
    code = "storage_unavailable"


class ConfigError(HookwayError):
    """The deployment's own settings are unusable: 503, so senders retry until an operator fixes it."""

    status = 503
    code = "invalid_config"
