"""Browser fixtures: one local stack and one Chromium for the session; a fresh context per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from testkit.receivers import Receivers
from testkit.stack import Stack, running
from tests.browser.harness import launch

# Assertions wait as long as actions do (the harness's context timeout): on two shared cores a full
# `make test` runs other suites beside these, and 5 s is too tight for a delivery to show.
expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running(tmp_path_factory.mktemp("browser-stack-logs")) as stack_:
        yield stack_


@pytest.fixture(scope="session")
def receivers() -> Iterator[Receivers]:
    running = Receivers()
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        running = launch(playwright)
        try:
            yield running
        finally:
            running.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
