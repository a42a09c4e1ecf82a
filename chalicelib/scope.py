"""Who is calling: the operator (admin key) or one application (a portal token), and what it may touch.

Every service method that reads or changes tenant data takes a ``Scope``. An application's scope sees only
its own application's endpoints, messages and attempts: anything else answers exactly as if it did not
exist (404), so ids of other tenants cannot even be probed. Operator-only routes are refused before they
reach a service (403), and a read-only scope is refused every change (403).
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.errors import ForbiddenError


@dataclass(frozen=True)
class Scope:
    """The caller's reach: ``application_id`` None is the operator, who sees every application."""

    application_id: str | None = None
    read_only: bool = False
    token_id: str | None = None

    @property
    def is_operator(self) -> bool:
        """True for the admin key."""
        return self.application_id is None

    def sees(self, owner: str | None) -> bool:
        """Whether something owned by ``owner`` (an application id, None: the operator's) is visible."""
        return self.application_id is None or owner == self.application_id

    def require_write(self) -> None:
        """Refuse a change through a read-only token."""
        if self.read_only:
            raise ForbiddenError("this token is read-only", code="read_only_token")

    def require_operator(self) -> None:
        """Refuse an operator-only action through an application token."""
        if not self.is_operator:
            raise ForbiddenError("an application token cannot do this", code="forbidden")


OPERATOR = Scope()
