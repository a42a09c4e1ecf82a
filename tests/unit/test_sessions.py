"""Console sessions: the admin key exchanged once, a cookie after, every request CSRF-checked."""

from __future__ import annotations

import pytest

from chalicelib.api.console import parse_sign_in
from chalicelib.errors import ForbiddenError, UnauthorizedError, ValidationError
from chalicelib.sessions import COOKIE, LIFETIME, SessionService, cookie_value
from tests.conftest import ADMIN_KEY, make_services


def _signed_in(**settings: object) -> tuple[SessionService, dict[str, str], object]:
    services = make_services(**settings)
    sessions = services.api.sessions
    session = sessions.sign_in(ADMIN_KEY)
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
        parse_sign_in(doc)


def test_a_wrong_key_signs_nobody_in() -> None:
    services = make_services()
    with pytest.raises(UnauthorizedError) as caught:
        services.api.sessions.sign_in(ADMIN_KEY + "x")
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
    other = sessions.sign_in(ADMIN_KEY)
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
        make_services().api.sessions.current(cookie)


def test_the_cookie_is_http_only_strict_and_secure_unless_the_local_stack_says_otherwise() -> None:
    # The stage's name decides nothing: a stage called local sends Secure cookies too.
    local, _, _ = _signed_in(insecure_cookies=True)
    prod, _, _ = _signed_in(stage="local")
    session = prod.sign_in(ADMIN_KEY)
    cookie = prod.set_cookie(session)
    assert cookie.startswith(f"{COOKIE}={session.session_id}; Path=/; Max-Age={LIFETIME}")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and cookie.endswith("; Secure")
    assert "Secure" not in local.set_cookie(session)
    assert "Max-Age=0" in prod.set_cookie(None)


class _Rotating:
    """An admin key the test rotates (``AdminKey``)."""

    def __init__(self, key: list[str]) -> None:
        self._key = key

    def current(self) -> str:
        return self._key[0]


def test_a_rotated_admin_key_ends_the_old_keys_sessions() -> None:
    # GIVEN a console signed in with the admin key of the time
    key = ["hk_before_rotation"]
    services = make_services()
    sessions = SessionService(services.store, services.clock, _Rotating(key), secure=True)
    session = sessions.sign_in(key[0])
    headers = {"cookie": f"{COOKIE}={session.session_id}", "x-hookway-csrf": session.csrf_token}
    assert sessions.authenticate(headers).is_operator
    # WHEN the key is rotated
    key[0] = "hk_after_rotation"
    # THEN the session (its cookie, whatever CSRF token it shows) is no longer found
    with pytest.raises(UnauthorizedError) as caught:
        sessions.current(headers["cookie"])
    assert caught.value.code == "session_expired"
    with pytest.raises(UnauthorizedError):
        sessions.authenticate({**headers, "x-hookway-csrf": sessions._csrf(session.session_id)})
    # AND the new key signs in as before
    fresh = sessions.sign_in(key[0])
    assert sessions.current(f"{COOKIE}={fresh.session_id}").session_id == fresh.session_id


def test_end_all_ends_every_session() -> None:
    sessions, headers, services = _signed_in()
    other = sessions.sign_in(ADMIN_KEY)
    assert sessions.end_all() == 2
    for cookie in (headers["cookie"], f"{COOKIE}={other.session_id}"):
        with pytest.raises(UnauthorizedError):
            sessions.current(cookie)
    assert services.store.sessions == {}  # type: ignore[attr-defined]


class _Ssm:
    """SSM's get_parameter over one parameter, counting reads."""

    def __init__(self, value: str) -> None:
        self.value, self.reads = value, 0

    def get_parameter(self, Name: str, WithDecryption: bool) -> dict[str, dict[str, str]]:
        self.reads += 1
        return {"Parameter": {"Value": self.value}}


def test_a_warm_function_reads_a_rotated_key_within_the_cache_time() -> None:
    # GIVEN the API reading its key from SSM, kept 60 s (HOOKWAY_ADMIN_KEY_CACHE_SECONDS)
    ssm = _Ssm("hk_old")
    services = make_services({"ssm": ssm}, admin_key="", admin_key_parameter="/hookway/dev/admin-key")
    container = services.api
    assert (
        container.admin_key.current() == "hk_old"
        and container.admin_key.current() == "hk_old"
        and ssm.reads == 1
    )
    session = container.sessions.sign_in("hk_old")
    # WHEN the parameter is rotated
    ssm.value = "hk_new"
    services.clock.advance(59)  # type: ignore[attr-defined]
    assert container.admin_key.current() == "hk_old"
    services.clock.advance(1)  # type: ignore[attr-defined]
    # THEN within the minute the function uses the new key, and the old key's console session is gone
    assert container.admin_key.current() == "hk_new" and ssm.reads == 2
    with pytest.raises(UnauthorizedError):
        container.sessions.current(f"{COOKIE}={session.session_id}")
    with pytest.raises(UnauthorizedError):
        container.tokens.authenticate("Bearer hk_old")
