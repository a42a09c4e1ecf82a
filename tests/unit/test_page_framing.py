"""Who may frame the pages: the portal follows the deployment's checked setting, the console never.

The portal's ``frame-ancestors`` is ``Settings.portal_frame_ancestors_csp`` (HOOKWAY_PORTAL_FRAME_ANCESTORS,
checked when the settings are read: a value that is not ``'self'`` or https origins stops the deployment
with a ConfigError instead of being filtered quietly per request).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from chalice.test import Client

import app as app_module
from chalicelib import wiring
from chalicelib.config import ConfigError, Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def client() -> Iterator[Client]:
    with Client(app_module.app, stage_name="local", project_dir=str(ROOT)) as test_client:
        yield test_client


def _deployed_with(monkeypatch: pytest.MonkeyPatch, setting: str | None) -> None:
    """The API's root built afresh from the environment with HOOKWAY_PORTAL_FRAME_ANCESTORS set (or not)."""
    if setting is None:
        monkeypatch.delenv("HOOKWAY_PORTAL_FRAME_ANCESTORS", raising=False)
    else:
        monkeypatch.setenv("HOOKWAY_PORTAL_FRAME_ANCESTORS", setting)
    monkeypatch.setattr(wiring, "_shared", None)
    monkeypatch.setattr(wiring, "_api", None)


def _ancestors(client: Client, path: str) -> str:
    csp = client.http.get(path).headers["Content-Security-Policy"]
    found = re.search(r"frame-ancestors ([^;]+)", csp)
    assert found, csp
    return found.group(1).strip()


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (None, "'none'"),
        ("", "'none'"),
        ("https://app.example.com", "https://app.example.com"),
        (
            "'self' https://a.example.com https://b.example.com",
            "'self' https://a.example.com https://b.example.com",
        ),
        ("  https://*.acme.example:8443   'self' ", "https://*.acme.example:8443 'self'"),
    ],
)
def test_the_portal_may_be_framed_only_by_the_configured_ancestors(
    client: Client, monkeypatch: pytest.MonkeyPatch, setting: str | None, expected: str
) -> None:
    # GIVEN a deployment's HOOKWAY_PORTAL_FRAME_ANCESTORS (or none)
    _deployed_with(monkeypatch, setting)
    # WHEN the portal is served, THEN its CSP names exactly the ancestors of the tested setting
    assert _ancestors(client, "/portal") == expected
    assert expected == wiring.api_root().settings.portal_frame_ancestors_csp
    headers = client.http.get("/portal").headers
    # ... and X-Frame-Options (which cannot name origins) is sent only when nobody may frame it
    assert ("X-Frame-Options" in headers) == (expected == "'none'")


@pytest.mark.parametrize(
    "setting",
    [
        "http://plain.example.com *",
        "https://ok.example.com; script-src *",
        "https://a.example.com,https://b.example.com",
        # the filter app.py once applied let these through: a path, a query, a quote
        "https://app.example.com/embed",
        "https://app.example.com?x=1",
        "https://app.example.com'",
    ],
)
def test_a_setting_that_could_widen_or_break_the_policy_stops_the_deployment(setting: str) -> None:
    # GIVEN a value that is not 'self' or https origins, WHEN the settings are read, THEN it is refused
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"HOOKWAY_PORTAL_FRAME_ANCESTORS": setting})
    assert "HOOKWAY_PORTAL_FRAME_ANCESTORS" in err.value.message


def test_the_console_is_never_framable_whatever_the_portal_allows(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a deployment that lets its platform frame the portal
    _deployed_with(monkeypatch, "'self' https://app.example.com")
    # WHEN the console is served, THEN no page may frame it
    assert _ancestors(client, "/console") == "'none'"
    assert client.http.get("/console").headers["X-Frame-Options"] == "DENY"
