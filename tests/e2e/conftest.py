"""End-to-end fixtures: one local stack for the session, with one ingest worker running."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.receivers import Receivers
from tests.stack import Stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    log_dir: Path = tmp_path_factory.mktemp("stack-logs")
    running = Stack(log_dir)
    running.start_worker("ingest")
    running.start_worker("deliveries")
    try:
        yield running
    finally:
        running.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def receivers() -> Iterator[Receivers]:
    running = Receivers()
    try:
        yield running
    finally:
        running.close()
