"""Settings parsing: defaults, overrides, and clear errors for bad values."""

from __future__ import annotations

import pytest

from chalicelib.config import Settings
from chalicelib.errors import ConfigError


def test_defaults() -> None:
    s = Settings.from_env({})
    assert s.stage == "local"
    # The stage's name turns nothing on: every local exception is its own setting, off by default.
    assert (s.allow_private_destinations, s.allow_http, s.insecure_cookies) == (False, False, False)
    assert s.admin_key_cache_seconds == 60
    assert s.claim_check_bytes == 900 * 1024
    assert s.replay_window_seconds == 3 * 86400


EMULATOR = {"HOOKWAY_AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}
LOCAL_EXCEPTIONS = {
    "HOOKWAY_ALLOW_PRIVATE_DESTINATIONS": "allow_private_destinations",
    "HOOKWAY_ALLOW_HTTP": "allow_http",
    "HOOKWAY_INSECURE_COOKIES": "insecure_cookies",
}


def test_deployed_stages_never_allow_private_destinations() -> None:
    assert Settings.from_env({"HOOKWAY_STAGE": "prod"}).allow_private_destinations is False
    with pytest.raises(ConfigError):
        Settings.from_env({"HOOKWAY_STAGE": "prod", "HOOKWAY_ALLOW_PRIVATE_DESTINATIONS": "true"})


@pytest.mark.parametrize("name", LOCAL_EXCEPTIONS)
def test_the_stage_name_local_turns_no_exception_on(name: str) -> None:
    # GIVEN a stage named local, on real AWS (no emulator) WHEN nothing else is set THEN the guard is on
    s = Settings.from_env({"HOOKWAY_STAGE": "local"})
    assert not (s.allow_private_destinations or s.allow_http or s.insecure_cookies)
    # AND an exception asked for on real AWS is refused, whatever the stage is called
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({"HOOKWAY_STAGE": "local", name: "true"})


@pytest.mark.parametrize("name", LOCAL_EXCEPTIONS)
def test_local_exceptions_hold_only_with_a_loopback_public_url(name: str) -> None:
    # the local stack: the emulator on loopback, the API on loopback (or not yet known)
    for public in ("", "http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"):
        s = Settings.from_env({**EMULATOR, name: "true", "HOOKWAY_PUBLIC_URL": public})
        assert getattr(s, LOCAL_EXCEPTIONS[name]) is True
    # a tunnel makes the stack reachable from outside: the exceptions are refused
    with pytest.raises(ConfigError, match="not a loopback"):
        Settings.from_env({**EMULATOR, name: "true", "HOOKWAY_PUBLIC_URL": "https://tunnel.example.test"})
    # and an emulator elsewhere is not the local stack
    with pytest.raises(ConfigError, match="HOOKWAY_AWS_ENDPOINT_URL"):
        Settings.from_env({"HOOKWAY_AWS_ENDPOINT_URL": "http://10.0.0.5:5000", name: "true"})


def test_the_emulator_address_is_known_only_for_a_loopback_emulator() -> None:
    assert Settings.from_env(EMULATOR).emulator_address == ("127.0.0.1", 5000)
    assert Settings.from_env({"HOOKWAY_AWS_ENDPOINT_URL": "http://localhost:4566"}).emulator_address == (
        "127.0.0.1",
        4566,
    )
    assert Settings.from_env({}).emulator_address is None
    assert Settings.from_env({"AWS_ENDPOINT_URL": "https://vpce.example.test"}).emulator_address is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HOOKWAY_MAX_BODY_BYTES", "lots"),
        ("HOOKWAY_MAX_BODY_BYTES", "0"),
        ("HOOKWAY_ALLOW_PRIVATE_DESTINATIONS", "maybe"),
        ("HOOKWAY_CLAIM_CHECK_BYTES", str(1024 * 1024)),
        ("HOOKWAY_RETENTION_SECONDS", "5"),
    ],
)
def test_bad_values_are_clear_errors(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env({name: value})
    assert err.value.code == "invalid_config"
    assert err.value.status == 503  # even /in answers 503 then: providers retry until the config is fixed


def test_endpoint_and_resource_names_come_from_the_environment() -> None:
    s = Settings.from_env(
        {
            "HOOKWAY_AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
            "HOOKWAY_TABLE": "t",
            "HOOKWAY_INGEST_QUEUE_URL": "q",
            "HOOKWAY_PUBLIC_URL": "https://x.example/",
        }
    )
    assert (s.endpoint_url, s.table_name, s.ingest_queue_url, s.public_url) == (
        "http://127.0.0.1:5000",
        "t",
        "q",
        "https://x.example",
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HOOKWAY_RETENTION_SECONDS", str(40 * 86400)),  # longer than the bucket keeps bodies
        ("HOOKWAY_INLINE_BODY_BYTES", str(390 * 1024)),  # a message item would pass DynamoDB's 400 KB
    ],
)
def test_limits_that_would_lose_data_are_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigError):
        Settings.from_env({name: value})


def test_a_job_step_is_bounded_both_ways() -> None:
    # A step is one bounded piece of work: 500 items by default, a stage may take fewer, never more.
    assert Settings.from_env({}).job_step_items == 500
    assert Settings.from_env({"HOOKWAY_JOB_STEP_ITEMS": "100"}).job_step_items == 100
    for bad in ("501", "9", "lots"):
        with pytest.raises(ConfigError, match="HOOKWAY_JOB_STEP_ITEMS"):
            Settings.from_env({"HOOKWAY_JOB_STEP_ITEMS": bad})
