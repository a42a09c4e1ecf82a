"""Build the deployable artifact: ``chalice package`` merged with ``infra/template.yaml``, for Python 3.13.

Chalice picks the Lambda runtime and the wheels from the Python that runs it. To target python3.13 from any
local Python, the Lambda's dependencies are installed for that platform into the staged project's
``vendor/`` (which Chalice ships as is) and the template pins the runtime. Then cfn-lint checks the result.

    python -m infra.package --stage dev [--out build/package] [--no-lint]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_PYTHON = "3.13"
PLATFORM = "manylinux2014_x86_64"


def stage_project(stage_dir: Path) -> None:
    """Copy what the Lambda needs into a staging project whose dependencies are vendored for python3.13."""
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    stage_dir.mkdir(parents=True)
    shutil.copy2(ROOT / "app.py", stage_dir / "app.py")
    shutil.copytree(
        ROOT / "chalicelib", stage_dir / "chalicelib", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    shutil.copytree(
        ROOT / ".chalice", stage_dir / ".chalice", ignore=shutil.ignore_patterns("deployments", "venv")
    )
    (stage_dir / "requirements.txt").write_text("# vendored for the Lambda runtime: see vendor/\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--platform",
            PLATFORM,
            "--python-version",
            RUNTIME_PYTHON,
            "--implementation",
            "cp",
            "--only-binary=:all:",
            "--target",
            str(stage_dir / "vendor"),
            "-r",
            str(ROOT / "requirements.txt"),
        ],
        check=True,
    )


def package(stage: str, out: Path, *, lint: bool = True) -> Path:
    """Stage, run chalice package with the merge template, lint; returns the SAM template's path."""
    stage_dir = ROOT / "build" / "stage"
    stage_project(stage_dir)
    if out.exists():
        shutil.rmtree(out)
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    subprocess.run(
        [
            str(Path(sys.executable).with_name("chalice")),
            "package",
            "--stage",
            stage,
            "--merge-template",
            str(ROOT / "infra" / "template.yaml"),
            "--template-format",
            "yaml",
            str(out),
        ],
        check=True,
        cwd=stage_dir,
        env=env,
    )
    template = out / "sam.yaml"
    if lint:
        subprocess.run([str(Path(sys.executable).with_name("cfn-lint")), str(template)], check=True)
    return template


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "package")
    parser.add_argument("--no-lint", action="store_true")
    args = parser.parse_args()
    print(package(args.stage, args.out, lint=not args.no_lint))


if __name__ == "__main__":
    main()
