"""Rules that keep the suite's outcome independent of timing and of other suites on the machine."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import settings

ROOT = Path(__file__).resolve().parents[2]


def test_property_tests_have_no_per_example_deadline() -> None:
    # GIVEN the profile every test runs under THEN no example fails for being slow on a loaded machine
    assert settings.default.deadline is None


def test_no_server_is_started_on_a_port_chosen_beforehand() -> None:
    # GIVEN the test code and the local stack WHEN a server is started THEN it binds port 0 and reports
    # its port: a port found free and bound later can be taken meanwhile by another suite's server.
    offenders = []
    for path in [*ROOT.glob("tests/**/*.py"), *ROOT.glob("local/*.py")]:
        text = path.read_text(encoding="utf-8")
        for number, line in enumerate(text.splitlines(), 1):
            if re.search(r"\bfree_port\(\)", line) and "def free_port" not in line:
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
