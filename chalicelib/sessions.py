"""Console sign-in: the admin key, typed once, exchanged for a short-lived session held in a cookie.

The cookie (``HttpOnly``, ``SameSite=Strict``, ``Secure`` unless the local stack turns it off) carries a
random session id; the table keeps only an HMAC of it under a key derived from the admin key, and when it
ends, so signing out ends it for real and a reader of the table learns nothing that signs in. Keyed by
the admin key, a session is bound to the key it signed in with: once the key is rotated (and the
functions have read the new one, ``HOOKWAY_ADMIN_KEY_CACHE_SECONDS``), no session of the old key is
found. ``end_all`` ends every session at once (``DELETE /v1/console/sessions``). Every request a session authenticates must also carry
``X-Hookway-CSRF``: an HMAC of the session id under a key derived from the admin key. A page of another
site can make the browser send the cookie (``SameSite`` aside) but cannot read or forge that header, and
the API sends no CORS headers, so no other origin can read ``GET /v1/console/session`` to learn it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from chalicelib.errors import ForbiddenError, UnauthorizedError
from chalicelib.ports import AdminKey, SessionStore
from chalicelib.scope import OPERATOR, Scope

COOKIE = "hookway_session"
CSRF_HEADER = "x-hookway-csrf"
LIFETIME = 8 * 3600
_ID_BYTES = 32


@dataclass(frozen=True)
class Session:
    """A signed-in console: the cookie's value, the header every request repeats, and when it ends."""

    session_id: str
    csrf_token: str
    expires_at: float


def cookie_value(cookie_header: str) -> str:
    """The session id in a ``Cookie`` header, or ``""`` (no import of http.cookies on the hot path)."""
    for part in cookie_header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return value.strip()
    return ""


class SessionService:
    """Signs the console in and out and authenticates the requests it makes."""

    def __init__(
        self, store: SessionStore, clock: Callable[[], float], admin_key: AdminKey, *, secure: bool
    ) -> None:
        self._store = store
        self._clock = clock
        self._admin_key = admin_key
        self._secure = secure

    def _digest(self, session_id: str) -> str:
        """What the table keeps of a session id: an HMAC under the admin key, so a rotation ends it."""
        key = hmac.new(
            self._admin_key.current().encode(), b"hookway console session v2", hashlib.sha256
        ).digest()
        return hmac.new(key, session_id.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()

    def _csrf(self, session_id: str) -> str:
        key = hmac.new(
            self._admin_key.current().encode(), b"hookway console csrf v1", hashlib.sha256
        ).digest()
        return hmac.new(key, session_id.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()

    def sign_in(self, given: str) -> Session:
        """A new session for the admin key given; 401 for a wrong key (compared in constant time)."""
        expected = self._admin_key.current().encode()
        if not expected or not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected):
            raise UnauthorizedError("that is not this deployment's admin key", code="wrong_admin_key")
        session_id = secrets.token_urlsafe(_ID_BYTES)
        expires_at = float(int(self._clock()) + LIFETIME)
        self._store.put_session(self._digest(session_id), expires_at)
        return Session(session_id, self._csrf(session_id), expires_at)

    def current(self, cookie_header: str) -> Session:
        """The session a ``Cookie`` header names, still live; 401 otherwise."""
        session_id = cookie_value(cookie_header)
        if not session_id or len(session_id) > 100:
            raise UnauthorizedError("sign in to the console", code="signed_out")
        expires_at = self._store.session_expires_at(self._digest(session_id))
        if expires_at is None or self._clock() >= expires_at:
            raise UnauthorizedError("the console session has ended: sign in again", code="session_expired")
        return Session(session_id, self._csrf(session_id), expires_at)

    def authenticate(self, headers: Mapping[str, str]) -> Scope:
        """The operator's scope for a request of a live session that repeats its CSRF token."""
        session = self.current(headers.get("cookie", ""))
        given = headers.get(CSRF_HEADER, "")
        if not given or not hmac.compare_digest(
            given.encode("utf-8", "surrogateescape"), session.csrf_token.encode()
        ):
            raise ForbiddenError(
                "the request did not come from the console (missing or wrong X-Hookway-CSRF)",
                code="csrf_failed",
            )
        return OPERATOR

    def sign_out(self, headers: Mapping[str, str]) -> None:
        """End the session (a request of that session, CSRF token included)."""
        self.authenticate(headers)
        self._store.delete_session(self._digest(cookie_value(headers.get("cookie", ""))))

    def end_all(self) -> int:
        """End every console session (the operator's call, after a leak or a rotation); returns how many."""
        return self._store.end_sessions()

    def set_cookie(self, session: Session | None) -> str:
        """The ``Set-Cookie`` value that holds a session, or clears it (``None``)."""
        secure = "; Secure" if self._secure else ""
        if session is None:
            return f"{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure}"
        max_age = max(0, int(session.expires_at - self._clock()))
        return f"{COOKIE}={session.session_id}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
