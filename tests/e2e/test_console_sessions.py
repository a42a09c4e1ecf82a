"""Attack: a console session cookie that outlives the admin key it was signed in with.

An operator rotates the admin key (the SSM parameter, as ``make deploy`` keeps it) because a laptop was
lost; the console cookie on that laptop must stop working once the functions have read the new key
(``HOOKWAY_ADMIN_KEY_CACHE_SECONDS``), not eight hours later. And "end all sessions" signs every console
out at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from testkit import aws
from testkit.stack import Stack

PARAMETER = "/hookway/local/admin-key"


@pytest.fixture(scope="module")
def ssm_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # The API reads its key from SSM (in the emulator), kept 1 s instead of 60 for the test.
    stack = Stack(
        tmp_path_factory.mktemp("ssm-stack"),
        env={
            "HOOKWAY_ADMIN_KEY": "",
            "HOOKWAY_ADMIN_KEY_PARAMETER": PARAMETER,
            "HOOKWAY_ADMIN_KEY_CACHE_SECONDS": "1",
        },
    )
    try:
        yield stack
    finally:
        stack.close()


def _set_key(stack: Stack, key: str) -> None:
    aws.client("ssm", stack.endpoint).put_parameter(
        Name=PARAMETER, Value=key, Type="SecureString", Overwrite=True
    )


def _sign_in(stack: Stack, key: str) -> dict[str, str]:
    """The headers a signed-in console sends: its cookie and its CSRF token."""
    resp = stack.request("POST", "/v1/console/session", json_body={"admin_key": key})
    assert resp.status == 201, resp.body
    cookie = resp.headers["Set-Cookie"].split(";")[0]
    return {"Cookie": cookie, "X-Hookway-CSRF": resp.json()["csrf_token"]}


def _code(stack: Stack, console: dict[str, str]) -> int:
    return stack.request("GET", "/v1/sources", headers=console).status


def test_rotating_the_admin_key_ends_the_old_keys_console_sessions(ssm_stack: Stack) -> None:
    # GIVEN a console signed in with the admin key of the day (a stolen cookie is just this)
    _set_key(ssm_stack, "hk_rotation_before_0123456789")
    console = _sign_in(ssm_stack, "hk_rotation_before_0123456789")
    assert _code(ssm_stack, console) == 200
    # WHEN the operator rotates the key, and the cache time passes
    _set_key(ssm_stack, "hk_rotation_after_0123456789")
    time.sleep(1.2)
    # THEN the old session is refused, on every route and on the session route itself
    assert _code(ssm_stack, console) == 401
    current = ssm_stack.request("GET", "/v1/console/session", headers={"Cookie": console["Cookie"]})
    assert current.status == 401 and current.json()["error"]["code"] == "session_expired", current.body
    # AND the old key itself no longer signs in, while the new one does
    assert (
        ssm_stack.request(
            "POST", "/v1/console/session", json_body={"admin_key": "hk_rotation_before_0123456789"}
        ).status
        == 401
    )
    assert _code(ssm_stack, _sign_in(ssm_stack, "hk_rotation_after_0123456789")) == 200


def test_end_all_sessions_signs_every_console_out(ssm_stack: Stack) -> None:
    key = "hk_end_all_0123456789"
    _set_key(ssm_stack, key)
    time.sleep(1.2)
    # GIVEN two consoles signed in
    first, second = _sign_in(ssm_stack, key), _sign_in(ssm_stack, key)
    assert _code(ssm_stack, first) == 200 and _code(ssm_stack, second) == 200
    # AND a portal token may not end them
    app = ssm_stack.request(
        "POST", "/v1/applications", json_body={"name": "t"}, headers={"Authorization": f"Bearer {key}"}
    )
    token = ssm_stack.request(
        "POST",
        f"/v1/applications/{app.json()['id']}/portal-access",
        json_body={},
        headers={"Authorization": f"Bearer {key}"},
    ).json()["token"]
    refused = ssm_stack.request(
        "DELETE", "/v1/console/sessions", headers={"Authorization": f"Bearer {token}"}
    )
    assert refused.status == 403, refused.body
    # WHEN the first console ends all sessions (its CSRF token with it)
    ended = ssm_stack.request("DELETE", "/v1/console/sessions", headers=first)
    assert ended.status == 200, ended.body
    assert json.loads(ended.body)["ended"] >= 2
    assert "Max-Age=0" in ended.headers["Set-Cookie"]
    # THEN neither console is signed in any more
    assert _code(ssm_stack, first) == 401 and _code(ssm_stack, second) == 401
