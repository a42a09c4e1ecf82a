"""What ``pipx install .`` puts on a laptop: the wheel built from pyproject.toml holds the CLI and the pure
verification package it uses, nothing of the server (services, adapters, wiring, the app), and works
from that alone: every CLI module imports and ``hookway verify`` runs with no other file of the tree."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from tests.unit.cli.test_cli import GITHUB_DUMP, GITHUB_SECRET

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ("hookway_cli", "chalicelib/verification")  # the CLI and the pure package `hookway verify` uses


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built offline from a copy of the tree (a build writes build/ and *.egg-info)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    shutil.copy(ROOT / "pyproject.toml", src)
    for package in ("hookway_cli", "chalicelib"):
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(tmp / "dist"),
            str(src),
        ],
        check=True,
        capture_output=True,
        timeout=240,
    )
    (built,) = (tmp / "dist").glob("hookway-*.whl")
    return built


def test_the_wheel_ships_the_cli_and_the_verification_package_only(wheel: Path) -> None:
    # GIVEN the wheel pyproject.toml builds
    names = zipfile.ZipFile(wheel).namelist()
    code = [n for n in names if ".dist-info/" not in n]
    # THEN every file in it is under the CLI or the verification package
    assert [n for n in code if not n.startswith(tuple(p + "/" for p in SHIPPED))] == []
    # AND nothing of the server rides along (the wheel used to ship 25+ chalicelib modules)
    assert not [
        n for n in code if n.startswith("chalicelib/") and not n.startswith("chalicelib/verification/")
    ]
    # AND every module of both is there, subpackages included
    for package in SHIPPED:
        expected = {p.relative_to(ROOT).as_posix() for p in (ROOT / package).rglob("*.py")}
        assert expected <= set(code), sorted(expected - set(code))
    assert "hookway_cli/commands/sources.py" in code


def test_the_wheel_alone_runs_every_cli_module_and_verify(wheel: Path, tmp_path: Path) -> None:
    # GIVEN the wheel unpacked into an empty directory, and a captured GitHub request
    tmp = tmp_path
    zipfile.ZipFile(wheel).extractall(tmp / "site")
    dump = tmp / "req.http"
    dump.write_bytes(GITHUB_DUMP)
    script = textwrap.dedent(
        f"""
        import importlib, pkgutil, sys
        sys.path.insert(0, {str(tmp / "site")!r})
        import hookway_cli
        for module in pkgutil.walk_packages(hookway_cli.__path__, "hookway_cli."):
            importlib.import_module(module.name)
        try:
            import chalicelib.sources
        except ModuleNotFoundError:
            print("no server modules")
        from hookway_cli.__main__ import main
        sys.exit(main(["verify", "--scheme", "github", "--secret", {GITHUB_SECRET!r}, "--request", {str(dump)!r}]))
        """
    )
    # WHEN a Python that sees nothing else (no site-packages, not the repo) runs it
    ran = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script],
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # THEN every module imports, the server is absent, and the signature verifies
    assert ran.returncode == 0, ran.stderr
    assert "no server modules" in ran.stdout
    assert "valid: github signature matches" in ran.stdout
