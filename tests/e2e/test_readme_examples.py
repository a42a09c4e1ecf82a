"""The README's examples, run as a reader pastes them, on the local stack ``make dev`` starts.

Only blocks marked ``<!-- readme-test: run ... -->`` (the line before a ```console fence) are run, so
prose and other blocks can change freely. From each such block, every ``$ `` line (with its ``\\``
continuations) is a command; the lines without ``$`` are sample output and are skipped. The reader's
part is played as the README asks it: ``hk_...`` is the admin key and ``whsec_...`` the demo secret
``make dev`` printed, ``src_...``/``msg_...``/``ep_...``/``app_...``/``job_...`` the id of that kind the previous
commands printed, and the ports are the ones this run's stack bound (``make dev`` uses 8000 and 8001).
Each command must succeed (curl: a 2xx, read with ``-w``; hookway: exit 0), and every delivery the
demo receiver prints must have verified.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.stack import wait_until

ROOT = Path(__file__).resolve().parents[2]
MARK = "<!-- readme-test: run"
ID = re.compile(r"\b(src|msg|ep|app|job)_[A-Za-z0-9]{6,}\b")


def runnable_blocks(readme: str) -> list[list[str]]:
    """The commands of each marked console block, continuation lines joined."""
    blocks: list[list[str]] = []
    lines = readme.splitlines()
    for number, line in enumerate(lines):
        if not line.startswith(MARK):
            continue
        fence = next((i for i in range(number + 1, len(lines)) if lines[i].strip()), None)
        assert fence is not None and lines[fence].strip() == "```console", f"README line {number + 1}"
        commands: list[str] = []
        current: str | None = None
        for text in lines[fence + 1 :]:
            if text.strip() == "```":
                break
            if current is not None:
                current += "\n" + text
            elif text.startswith("$ "):
                current = text[2:]
            if current is not None and not current.endswith("\\"):
                commands.append(current)
                current = None
        blocks.append(commands)
    return blocks


def test_the_readme_marks_its_runnable_examples() -> None:
    # the extraction itself: the marked blocks are found, whole, and hold only what this test can run
    blocks = runnable_blocks((ROOT / "README.md").read_text())
    assert len(blocks) >= 4 and all(blocks)
    for command in (c for block in blocks for c in block):
        assert command.split()[0] in ("curl", "hookway", "export"), command
        assert not command.endswith("\\"), command


def _expand(command: str, known: dict[str, str], base: str, demo_port: int) -> str:
    command = command.replace("localhost:8000", base.removeprefix("http://"))
    command = command.replace("http://127.0.0.1:8000", base)
    command = command.replace("127.0.0.1:8001", f"127.0.0.1:{demo_port}")
    return re.sub(r"\b(hk|whsec|src|msg|ep|app|job)_\.\.\.", lambda m: known[m.group(1)], command)


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[tuple[str, int, str, str, Path]]:
    """``python -m local dev`` (what ``make dev`` runs) on free ports, with its state in tmp_path."""
    key = "hk_readme_test_key"
    env = {
        **os.environ,
        "HOOKWAY_ADMIN_KEY": key,
        "HOOKWAY_PORT": "0",
        "HOOKWAY_DEMO_PORT": "0",
        "HOOKWAY_LOCAL_DIR": str(tmp_path / "local"),
    }
    env.pop("HOOKWAY_PUBLIC_URL", None)
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "local", "dev"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until(lambda: f"admin key:  {key}" in log.read_text(), timeout=60)
        banner = log.read_text()
        base = re.search(r"API:        (http://127\.0\.0\.1:[0-9]+)\n", banner)
        demo = re.search(
            r"http://127\.0\.0\.1:([0-9]+)/hooks \(verifies with (whsec_[A-Za-z0-9+/=]+)\)", banner
        )
        assert base and demo, banner
        yield base.group(1), int(demo.group(1)), demo.group(2), key, log
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_every_marked_readme_example_works_as_pasted(
    dev: tuple[str, int, str, str, Path], tmp_path: Path
) -> None:
    base, demo_port, demo_secret, key, log = dev
    known = {"hk": key, "whsec": demo_secret}
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "HOOKWAY_CONFIG_DIR": str(tmp_path / "config"),
        "PYTHONPATH": str(ROOT),  # the checkout under test, whichever tree .venv/bin/hookway was made from
    }
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / ".curlrc").write_text('write-out = "\\n%{http_code}"\n')
    published: list[str] = []
    ran = 0
    # GIVEN the README's marked blocks, in order (a later block uses what an earlier one made)
    for block in runnable_blocks((ROOT / "README.md").read_text()):
        for command in block:
            line = _expand(command, known, base, demo_port)
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").split("#")[0].strip().partition("=")
                env[name] = " ".join(shlex.split(value))
                continue
            # WHEN each command runs as pasted (curl says its status on a last line: ~/.curlrc)
            is_curl = line.startswith("curl ")

            def paste(script: str = line) -> subprocess.CompletedProcess[str]:
                return subprocess.run(
                    ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=150, check=False
                )

            def stored(script: str = line) -> subprocess.CompletedProcess[str] | None:
                again = paste(script)
                return None if "message_not_yet_stored" in again.stdout else again

            done = paste()
            # a reader takes a second or two between commands: a message read right after its 202 may
            # still be on the ingest queue (documented: 404 message_not_yet_stored), so wait as they would
            if "message_not_yet_stored" in done.stdout:
                done = wait_until(stored)
            # THEN it succeeds
            if is_curl:
                body, _, status = done.stdout.rpartition("\n")
                assert done.returncode == 0 and status.startswith("2"), (line, done.stdout, done.stderr)
            else:
                body = done.stdout
                assert done.returncode == 0, (line, done.stdout, done.stderr)
            ran += 1
            for found in ID.finditer(body):
                known[found.group(1)] = found.group(0)
            if re.search(r"/v1/messages -H .* -d |^hookway send ", line, re.DOTALL):
                published.append(ID.search(body).group(0))  # type: ignore[union-attr]
    assert ran >= 15 and len(published) >= 3

    # AND every published event reached the demo receiver, which verified its signature
    def received() -> dict[str, bool]:
        seen: dict[str, bool] = {}
        for row in log.read_text().splitlines():
            if row.startswith("{") and '"webhook_id"' in row:
                doc = json.loads(row)
                seen[doc["webhook_id"]] = seen.get(doc["webhook_id"], True) and doc.get("verified") is True
        return seen

    wait_until(lambda: set(published) <= set(received()) or None, timeout=60)
    assert all(received().values()), [r for r in log.read_text().splitlines() if '"verified"' in r]
