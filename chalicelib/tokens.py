"""Who a request comes from: the admin key, or a portal token scoped to one application.

A portal token is ``hkt_<payload>.<tag>``: the payload names the application, when it was issued, when
it expires, whether it is read-only and a random token id; the tag is an HMAC-SHA256 of the payload
under a key derived from the admin key (so a holder learns nothing usable elsewhere, and rotating the
admin key ends every token). Tags are compared in constant time. A token is refused (401) once expired,
when its application is gone, or when it was issued before the application's last revocation; tokens
need no table of their own, and checking one costs one consistent read of its application.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.commands import MintToken
from chalicelib.errors import NotFoundError, UnauthorizedError
from chalicelib.models import Application
from chalicelib.ports import AdminKey, ApplicationStore
from chalicelib.scope import OPERATOR, Scope

PREFIX = "hkt_"
DEFAULT_LIFETIME = 3600
MAX_LIFETIME = 7 * 86400
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="hookway"'}


@dataclass(frozen=True)
class Minted:
    """A new portal token and when it ends."""

    token: str
    expires_at: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _unauthorized(message: str, code: str) -> UnauthorizedError:
    return UnauthorizedError(message, code=code, headers=_CHALLENGE)


class TokenService:
    """Authenticates requests and mints, checks and revokes portal tokens."""

    def __init__(self, store: ApplicationStore, clock: Callable[[], float], admin_key: AdminKey) -> None:
        self._store = store
        self._clock = clock
        self._admin_key = admin_key

    def _key(self) -> bytes:
        return hmac.new(
            self._admin_key.current().encode(), b"hookway portal tokens v1", hashlib.sha256
        ).digest()

    def _tag(self, payload: str) -> str:
        return _b64(hmac.new(self._key(), payload.encode("ascii"), hashlib.sha256).digest())

    def authenticate(self, authorization: str) -> Scope:
        """The caller's scope from an ``Authorization`` header; 401 for anything else."""
        scheme, _, credential = authorization.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise _unauthorized("send Authorization: Bearer <admin key or portal token>", "unauthorized")
        if credential.startswith(PREFIX):
            return self._check(credential)
        expected = self._admin_key.current().encode()
        given = credential.encode("utf-8", "surrogateescape")
        if not expected or not hmac.compare_digest(given, expected):
            raise _unauthorized("send Authorization: Bearer <admin key or portal token>", "unauthorized")
        return OPERATOR

    def mint(self, application: Application, command: MintToken, scope: Scope) -> Minted:
        """A token for one application (the operator's: ``chalicelib.api.applications``)."""
        now = self._clock()
        expires_at = float(int(now) + command.expires_in)
        read_only = command.read_only
        body = [application.id, round(now * 1000), int(expires_at), int(read_only), secrets.token_hex(8)]
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        return Minted(f"{PREFIX}{payload}.{self._tag(payload)}", expires_at)

    def revoke(self, application: Application, scope: Scope) -> float:
        """End every token of an application issued until now; returns the instant."""
        now = self._clock()
        self._store.revoke_tokens(application.id, now)
        return now

    def _check(self, token: str) -> Scope:
        payload, _, tag = token.removeprefix(PREFIX).partition(".")
        if not payload or not tag or len(token) > 400:
            raise _unauthorized("the token is not valid", "token_invalid")
        if not hmac.compare_digest(tag.encode(), self._tag(payload).encode()):
            raise _unauthorized("the token is not valid", "token_invalid")
        try:
            app_id, issued_ms, expires_at, read_only, token_id = json.loads(_unb64(payload))
        except (binascii.Error, ValueError, TypeError):
            raise _unauthorized("the token is not valid", "token_invalid") from None
        if self._clock() >= expires_at:
            raise _unauthorized("the token has expired", "token_expired")
        try:
            application = self._store.get_application(app_id)
        except NotFoundError:
            raise _unauthorized("the token's application no longer exists", "token_revoked") from None
        if issued_ms <= round(application.tokens_valid_after * 1000):
            raise _unauthorized("the token has been revoked", "token_revoked")
        return Scope(application_id=app_id, read_only=bool(read_only), token_id=str(token_id))
