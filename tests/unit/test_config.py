"""Settings parsing: defaults, overrides, and clear errors for bad values."""

from __future__ import annotations

import pytest

from chalicelib.config import Settings
from chalicelib.errors import ConfigError


def test_defaults() -> None:
    s = Settings.from_env({})
    assert s.stage == "local"
    assert s.allow_private_destinations is True  # only the local stage defaults to allowing demo receivers
    assert s.claim_check_bytes == 900 * 1024
    assert s.replay_window_seconds == 3 * 86400


def test_deployed_stages_never_allow_private_destinations() -> None:
    assert Settings.from_env({"HOOKWAY_STAGE": "prod"}).allow_private_destinations is False
    with pytest.raises(ConfigError):
        Settings.from_env({"HOOKWAY_STAGE": "prod", "HOOKWAY_ALLOW_PRIVATE_DESTINATIONS": "true"})


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
