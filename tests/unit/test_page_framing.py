"""Who may frame the pages: the portal follows HOOKWAY_PORTAL_FRAME_ANCESTORS, the console never.

The pages are static files served by the app itself, so Chalice's test client (no container, no AWS)
is enough; the variable is read per request, so a deployment changes it without a code change.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from chalice.test import Client

import app as app_module

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def client() -> Iterator[Client]:
    with Client(app_module.app, stage_name="local", project_dir=str(ROOT)) as test_client:
        yield test_client


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
        # Anything that is not 'self' or an https origin is dropped, so it cannot widen or break the policy.
        ("http://plain.example.com *", "'none'"),
        ("https://ok.example.com; script-src *", "'none'"),
        ("https://a.example.com,https://b.example.com", "'none'"),
    ],
)
def test_the_portal_may_be_framed_only_by_the_configured_ancestors(
    client: Client, monkeypatch: pytest.MonkeyPatch, setting: str | None, expected: str
) -> None:
    # GIVEN a deployment's HOOKWAY_PORTAL_FRAME_ANCESTORS (or none)
    if setting is None:
        monkeypatch.delenv("HOOKWAY_PORTAL_FRAME_ANCESTORS", raising=False)
    else:
        monkeypatch.setenv("HOOKWAY_PORTAL_FRAME_ANCESTORS", setting)
    # WHEN the portal is served, THEN its CSP names exactly the allowed ancestors
    assert _ancestors(client, "/portal") == expected
    headers = client.http.get("/portal").headers
    # ... and X-Frame-Options (which cannot name origins) is sent only when nobody may frame it
    assert ("X-Frame-Options" in headers) == (expected == "'none'")


def test_the_console_is_never_framable_whatever_the_portal_allows(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a deployment that lets its platform frame the portal
    monkeypatch.setenv("HOOKWAY_PORTAL_FRAME_ANCESTORS", "'self' https://app.example.com")
    # WHEN the console is served, THEN no page may frame it
    assert _ancestors(client, "/console") == "'none'"
    assert client.http.get("/console").headers["X-Frame-Options"] == "DENY"
