"""End-to-end fixtures: one local stack for the session, with one ingest worker running."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testkit.receivers import Receivers
from testkit.stack import Stack, running


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running(tmp_path_factory.mktemp("stack-logs")) as stack_:
        yield stack_


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
