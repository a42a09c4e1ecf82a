"""Every dependency is pinned with its hashes and installed hash-checked (issue 19, security item 18).

The human-edited inputs are ``requirements*.in``; ``make lock`` compiles the hashed locks beside them.
A fresh venv with ``pip install --require-hashes -r requirements-dev.txt`` is what ``make install`` does.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ("requirements-pip.txt", "requirements.txt", "requirements-dev.txt")
_PIN = re.compile(r"^([A-Za-z0-9_.\[\],-]+)==([^ ;\\]+)")


def _entries(lock: str) -> dict[str, tuple[str, str, list[str]]]:
    """name -> (version, marker, hashes) for each requirement of a lock (a name may appear under two
    markers: the last one is kept, which is enough for these checks)."""
    out: dict[str, tuple[str, str, list[str]]] = {}
    text = (ROOT / lock).read_text()
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        first = block.splitlines()[0]
        if first.startswith("#"):
            continue
        match = _PIN.match(first)
        assert match, f"{lock}: not an exact pin: {first!r}"
        name = re.sub(r"\[.*\]", "", match.group(1)).lower().replace("_", "-")
        marker = first.split(";", 1)[1].rstrip(" \\") if ";" in first else ""
        out[name] = (match.group(2), marker, re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return out


@pytest.mark.parametrize("lock", LOCKS)
def test_every_requirement_of_a_lock_is_pinned_with_hashes(lock: str) -> None:
    # GIVEN a lock WHEN read THEN every requirement is name==version with at least one sha256 hash,
    # and nothing is pulled from elsewhere (no -r, -e, URL or path)
    entries = _entries(lock)
    assert entries
    assert all(hashes for _, _, hashes in entries.values()), [n for n, e in entries.items() if not e[2]]
    lines = [ln for ln in (ROOT / lock).read_text().splitlines() if ln and not ln.startswith((" ", "#"))]
    assert not [ln for ln in lines if ln.startswith(("-", "http:", "https:", "file:", ".", "/", "git+"))]


@pytest.mark.parametrize(("source", "lock"), [(n.replace(".txt", ".in"), n) for n in LOCKS])
def test_the_locks_hold_the_inputs_pins(source: str, lock: str) -> None:
    # GIVEN the human-edited input WHEN compared with its lock THEN each pinned input is locked at that
    # version (a stale lock after an edit of the .in fails here: run make lock)
    locked = _entries(lock)
    for line in (ROOT / source).read_text().splitlines():
        match = _PIN.match(line.strip())
        if match:
            name = re.sub(r"\[.*\]", "", match.group(1)).lower().replace("_", "-")
            assert locked[name][0] == match.group(2), (source, name)


def test_the_dev_lock_installs_the_lambdas_versions() -> None:
    # GIVEN the Lambda's lock and the dev tools' lock THEN they agree on every package they share, so the
    # tests run what the package ships
    runtime, dev = _entries("requirements.txt"), _entries("requirements-dev.txt")
    assert set(runtime) <= set(dev)
    assert {n: v[0] for n, v in runtime.items()} == {n: dev[n][0] for n in runtime}
    # and the pip installed first is the one the dev tools accept (chalice bounds it)
    assert _entries("requirements-pip.txt")["pip"][0] == dev["pip"][0]


def test_the_locks_cover_python_3_11_to_3_13() -> None:
    # GIVEN markers in the dev lock THEN none names a Python below 3.11, and where a package differs by
    # version both sides are locked
    text = (ROOT / "requirements-dev.txt").read_text()
    assert "python_full_version < '3.11'" not in text and "python_version < '3.11'" not in text
    header = text.splitlines()[:2]
    assert header[1].strip() == "#    make lock"
    for below in re.findall(r"^([a-z0-9-]+)==\S+ ; python_full_version < '3\.1(\d)'", text, re.M):
        assert re.search(rf"^{below[0]}==\S+ ; python_full_version >= '3\.1{below[1]}'", text, re.M), below


def test_make_installs_pip_and_everything_hash_checked() -> None:
    # GIVEN the Makefile THEN pip comes from its lock (never an unpinned upgrade) and every install
    # of requirements is hash-checked; make lock compiles the locks
    makefile = (ROOT / "Makefile").read_text()
    assert "--upgrade pip" not in makefile
    installs = re.findall(r"pip install [^\n]*-r (\S+)", makefile)
    assert set(installs) == {"requirements-pip.txt", "requirements-dev.txt"}
    for line in makefile.splitlines():
        if re.search(r"pip install [^\n]*-r requirements", line):
            assert "--require-hashes" in line, line
    assert re.search(r"^lock: ", makefile, re.M) and "--generate-hashes" in makefile


def test_deploy_reads_chalices_aws_client_pins_from_the_lock() -> None:
    from infra.deploy import _pins

    pins = _pins("boto3", "botocore")
    assert [p.split("==")[0] for p in pins] == ["boto3", "botocore"]
    assert all(re.fullmatch(r"[a-z0-9]+==[0-9.]+", p) for p in pins), pins


def test_the_tracing_extras_are_vendored_hash_checked_from_the_dev_lock() -> None:
    from infra.package import TRACING_REQUIREMENTS, _locked_entries

    # GIVEN the X-Ray SDK pins the package adds for a stage that traces WHEN their lock entries are read
    lines = _locked_entries(TRACING_REQUIREMENTS, ROOT / "requirements-dev.txt").splitlines()
    # THEN each is the exact pin with its hashes (pip then checks every wheel, the aarch64 ones included)
    assert [line.split()[0] for line in lines] == TRACING_REQUIREMENTS
    assert all(re.search(r"--hash=sha256:[0-9a-f]{64}", line) for line in lines)
    # AND a pin the lock does not hold at that version is refused, not installed unchecked
    with pytest.raises(ValueError, match=re.escape("wrapt==0.0.1")):
        _locked_entries(["wrapt==0.0.1"], ROOT / "requirements-dev.txt")
