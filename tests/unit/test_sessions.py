"""Console sessions: the admin key exchanged once, a cookie after, every request CSRF-checked."""

from __future__ import annotations

import pytest

from chalicelib.errors import ForbiddenError, UnauthorizedError, ValidationError
from chalicelib.sessions import COOKIE, LIFETIME, SessionService, cookie_value
from tests.conftest import ADMIN_KEY, make_services


def _signed_in(**settings: object) -> tuple[SessionService, dict[str, str], object]:
    services = make_services(**settings)
    sessions = services.container.sessions
    session = sessions.sign_in({"admin_key": ADMIN_KEY})
    headers = {"cookie": f"other=1; {COOKIE}={session.session_id}", "x-hookway-csrf": session.csrf_token}
    return sessions, headers, services


def test_a_session_authenticates_the_operator_and_stores_only_a_digest() -> None:
    sessions, headers, services = _signed_in()
    assert sessions.authenticate(headers).is_operator
    (digest,) = services.store.sessions  # type: ignore[attr-defined]
    assert cookie_value(headers["cookie"]) not in digest and len(digest) == 64


@pytest.mark.parametrize("doc", [{}, {"admin_key": ""}, {"admin_key": 7}, [], None])
def test_sign_in_needs_the_key(doc: object) -> None:
    with pytest.raises(ValidationError):
        make_services().container.sessions.sign_in(doc)


def test_a_wrong_key_signs_nobody_in() -> None:
    services = make_services()
    with pytest.raises(UnauthorizedError) as caught:
        services.container.sessions.sign_in({"admin_key": ADMIN_KEY + "x"})
    assert caught.value.code == "wrong_admin_key"
    assert services.store.sessions == {}  # type: ignore[attr-defined]


@pytest.mark.parametrize("csrf", ["", "0" * 64, None])
def test_a_request_without_its_csrf_token_is_refused(csrf: str | None) -> None:
    sessions, headers, _ = _signed_in()
    if csrf is None:
        del headers["x-hookway-csrf"]
    else:
        headers["x-hookway-csrf"] = csrf
    with pytest.raises(ForbiddenError) as caught:
        sessions.authenticate(headers)
    assert caught.value.code == "csrf_failed"


def test_another_sessions_csrf_token_does_not_fit() -> None:
    sessions, headers, _ = _signed_in()
    other = sessions.sign_in({"admin_key": ADMIN_KEY})
    with pytest.raises(ForbiddenError):
        sessions.authenticate({**headers, "x-hookway-csrf": other.csrf_token})


def test_a_session_ends_after_its_lifetime_and_at_sign_out() -> None:
    sessions, headers, services = _signed_in()
    services.clock.advance(LIFETIME - 1)  # type: ignore[attr-defined]
    assert sessions.authenticate(headers).is_operator
    services.clock.advance(1)  # type: ignore[attr-defined]
    with pytest.raises(UnauthorizedError) as caught:
        sessions.authenticate(headers)
    assert caught.value.code == "session_expired"

    sessions, headers, _ = _signed_in()
    sessions.sign_out(headers)
    with pytest.raises(UnauthorizedError):
        sessions.authenticate(headers)


@pytest.mark.parametrize("cookie", ["", "hookway_session=", f"{COOKIE}={'x' * 101}", f"{COOKIE}=forged"])
def test_no_or_an_unknown_cookie_is_signed_out(cookie: str) -> None:
    with pytest.raises(UnauthorizedError):
        make_services().container.sessions.current(cookie)


def test_the_cookie_is_http_only_strict_and_secure_unless_the_local_stack_says_otherwise() -> None:
    # The stage's name decides nothing: a stage called local sends Secure cookies too.
    local, _, _ = _signed_in(insecure_cookies=True)
    prod, _, _ = _signed_in(stage="local")
    session = prod.sign_in({"admin_key": ADMIN_KEY})
    cookie = prod.set_cookie(session)
    assert cookie.startswith(f"{COOKIE}={session.session_id}; Path=/; Max-Age={LIFETIME}")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and cookie.endswith("; Secure")
    assert "Secure" not in local.set_cookie(session)
    assert "Max-Age=0" in prod.set_cookie(None)
