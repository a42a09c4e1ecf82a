"""Build the deployable artifact: ``chalice package`` merged with the stage's infrastructure, for Python 3.13.

Chalice picks the Lambda runtime and the wheels from the Python that runs it. To target python3.13 on the
stage's architecture (arm64 unless the stage says ``x86_64``) from any local Python and machine, the
Lambda's dependencies are installed from the hash-locked ``requirements.txt`` as that platform's wheels
(``manylinux2014_aarch64`` or ``_x86_64``) into the staged project's ``vendor/``, which Chalice ships as is,
and the merge template pins the runtime and each function's log configuration. The merge template is built from the same pieces ``make deploy`` uses
(``infra/stack.py``, ``infra/iam.py``, ``infra/chalice_config.py``, ``infra/api_gateway.py``), so both
paths give the same resources, environment, IAM, runtime and API settings. Then cfn-lint checks the result.

    python -m infra.package --stage dev [--out build/package] [--no-lint]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from chalicelib.names import Names, names
from infra import api_gateway, botomodels, chalice_config, front, iam
from infra.stack import ARCHITECTURES, Options, infrastructure, stage_options

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = "python3.13"
RUNTIME_PYTHON = "3.13"
# Chalice's logical ids for the functions of each handler key.
LOGICAL_IDS = {
    "api_handler": "APIHandler",
    "route_ingest": "RouteIngest",
    "deliver": "Deliver",
    "deliver_slow": "DeliverSlow",
    "dead_letters": "DeadLetters",
    "sweep": "Sweep",
}
# Installed with the dependencies but never imported by the Lambdas: Powertools' event handler and its
# utilities other than the JMESPath helpers its logger imports (about 3.5 MB unzipped), console scripts,
# the test suites that regex and jsonschema ship (about 1 MB).
UNUSED = ("bin", "aws_lambda_powertools/event_handler", "regex/tests", "jsonschema/tests")
# The X-Ray SDK the Powertools Tracer needs: packaged only for a stage that turns tracing on.
TRACING_REQUIREMENTS = ["aws-xray-sdk==2.15.0", "wrapt==2.5.2"]
POWERTOOLS_UTILITIES_KEPT = {"__init__.py", "jmespath_utils"}


def stage_project(
    stage_dir: Path, *, keep: tuple[str, ...] = (), tracing: bool = False, architecture: str = "arm64"
) -> None:
    """Copy what the Lambda needs into a staging project whose dependencies are vendored for python3.13
    on ``architecture``.

    ``keep`` names paths under the staging directory that survive (``make deploy`` keeps Chalice's record
    of what it deployed, so a rerun updates instead of creating twice).
    """
    saved: dict[str, Path] = {}
    if stage_dir.exists():
        for rel in keep:
            if (stage_dir / rel).exists():
                tmp = stage_dir.parent / f".keep-{stage_dir.name}-{rel.replace('/', '_')}"
                if tmp.exists():
                    shutil.rmtree(tmp)
                shutil.move(str(stage_dir / rel), tmp)
                saved[rel] = tmp
        shutil.rmtree(stage_dir)
    stage_dir.mkdir(parents=True)
    shutil.copy2(ROOT / "app.py", stage_dir / "app.py")
    shutil.copytree(
        ROOT / "chalicelib", stage_dir / "chalicelib", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    # The JSON the API serves is built here from the one committed document (chalicelib/api/openapi.yaml).
    from chalicelib.api.system import as_json

    api_dir = stage_dir / "chalicelib" / "api"
    (api_dir / "openapi.json").write_text(as_json((api_dir / "openapi.yaml").read_bytes()), encoding="utf-8")
    # The botocore data the functions use, trimmed (infra/botomodels.py), from the pinned botocore.
    botomodels.write(stage_dir / botomodels.MODELS_DIR)
    (stage_dir / ".chalice").mkdir()
    for rel, tmp in saved.items():
        (stage_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(tmp), stage_dir / rel)
    (stage_dir / "requirements.txt").write_text("# vendored for the Lambda runtime: see vendor/\n")
    vendor(stage_dir / "vendor", extra=TRACING_REQUIREMENTS if tracing else [], architecture=architecture)
    compile_for_runtime(stage_dir)


def find_python313() -> list[str] | None:
    """A command that runs python3.13 (this interpreter, HOOKWAY_PYTHON313, python3.13, a pyenv 3.13), or None.

    A pyenv selection is exported into this process's environment, so later runs use the same one.
    """
    if sys.version_info[:2] == (3, 13):
        return [sys.executable]
    candidates: list[tuple[list[str], dict[str, str]]] = []
    if os.environ.get("HOOKWAY_PYTHON313"):
        candidates.append(([os.environ["HOOKWAY_PYTHON313"]], {}))
    candidates.append((["python3.13"], {}))
    if shutil.which("pyenv"):
        listed = subprocess.run(
            ["pyenv", "versions", "--bare"],  # noqa: S607 - pyenv from PATH, like the person's shell
            capture_output=True,
            text=True,
            check=False,
        )
        candidates += [
            (["python3"], {"PYENV_VERSION": v}) for v in listed.stdout.split() if v.startswith("3.13")
        ]
    for command, extra in candidates:
        if not shutil.which(command[0]):
            continue
        probe = subprocess.run(
            [*command, "-c", "import sys; print(sys.version_info[:2] == (3, 13))"],
            capture_output=True,
            text=True,
            env={**os.environ, **extra},
            check=False,
        )
        if probe.stdout.strip() == "True":
            os.environ.update(extra)
            return command
    return None


def compile_for_runtime(stage_dir: Path) -> bool:
    """Bytecode for python3.13 only, compiled by python3.13, checked by hash never by mtime (a zip's times
    are not the sources'); the runtime then skips compiling on every cold start. False if no python3.13."""
    python = find_python313()
    if python is None:
        print("no python3.13 here: the package carries no bytecode (the runtime compiles on import)")
        return False
    targets = [str(stage_dir / name) for name in ("chalicelib", "vendor")]  # Chalice ships app.py alone
    subprocess.run(
        [*python, "-m", "compileall", "-q", "-j0", "--invalidation-mode", "unchecked-hash", *targets],
        check=True,
    )
    return True


def vendor(target: Path, extra: list[str] | None = None, *, architecture: str = "arm64") -> None:
    """The Lambda's dependencies for python3.13 on ``architecture``, without bytecode compiled for this
    interpreter. Every file is checked against the lock's hashes (``make lock`` records the hashes of every
    wheel of a version, so the aarch64 and x86_64 wheels are both covered)."""
    pip = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--require-hashes",
        "--platform",
        ARCHITECTURES[architecture],
        "--python-version",
        RUNTIME_PYTHON,
        "--implementation",
        "cp",
        "--only-binary=:all:",
        "--no-compile",
        "--target",
        str(target),
    ]
    subprocess.run([*pip, "-r", str(ROOT / "requirements.txt")], check=True)
    if extra:  # without their dependencies: the X-Ray SDK would bring botocore, which the runtime has
        locked = target.parent / "requirements-extra.txt"
        locked.write_text(_locked_entries(extra, ROOT / "requirements-dev.txt"))
        try:
            subprocess.run([*pip, "--no-deps", "-r", str(locked)], check=True)
        finally:
            locked.unlink()
    for pattern in UNUSED:
        for path in target.glob(pattern):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
    utilities = target / "aws_lambda_powertools" / "utilities"
    for path in utilities.iterdir() if utilities.exists() else ():
        if path.name not in POWERTOOLS_UTILITIES_KEPT:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    for cache in list(target.rglob("__pycache__")):
        shutil.rmtree(cache)


def _locked_entries(pins: list[str], lock: Path) -> str:
    """The lines of a hash-locked requirements file (the pin, its markers and its hashes, as one line
    each) for these exact pins; ValueError if one is not locked at that version."""
    entries: dict[str, list[str]] = {}
    pin = ""
    for line in lock.read_text().splitlines():
        part = line.strip().removesuffix("\\").strip()
        if line and not line[0].isspace() and not line.startswith("#"):
            pin = part.split(";")[0].strip().lower()
            entries[pin] = [part]
        elif part.startswith("--hash=") and pin:
            entries[pin].append(part)
        else:
            pin = ""
    missing = [p for p in pins if p.lower() not in entries]
    if missing:
        raise ValueError(f"not in {lock.name} at that version: {', '.join(missing)} (run make lock)")
    return "".join(" ".join(entries[p.lower()]) + "\n" for p in pins)


def merge_template(n: Names, opts: Options) -> dict[str, Any]:
    """What ``chalice package --merge-template`` adds to Chalice's SAM template."""
    infra = infrastructure(n.stage, opts)
    resources: dict[str, Any] = dict(infra["Resources"])
    logging_config = chalice_config.logging_config(chalice_config.log_level(n.stage))
    for key, logical in LOGICAL_IDS.items():
        # Names as ``chalice deploy`` gives them: the log groups (and their retention) are the functions'.
        resources[logical] = {
            "Properties": {
                "Runtime": RUNTIME,
                "FunctionName": n.function(key),
                "LoggingConfig": logging_config,
            }
        }
        if key == "api_handler":
            resources[logical]["Properties"]["Handler"] = chalice_config.API_HANDLER
        if opts.static_egress and chalice_config.sends(key, opts):
            resources[logical]["Properties"]["VpcConfig"] = {
                "SubnetIds": [{"Ref": "PrivateSubnet0"}, {"Ref": "PrivateSubnet1"}],
                "SecurityGroupIds": [{"Ref": "SenderSecurityGroup"}],
            }
        if opts.static_egress and key == "api_handler":
            resources[logical]["Properties"]["Environment"] = {
                "Variables": {
                    "HOOKWAY_EGRESS_IPS": {"Fn::Join": [",", [{"Ref": "EgressIp0"}, {"Ref": "EgressIp1"}]]}
                }
            }
    rest_api: dict[str, Any] = {"DefinitionBody": api_gateway.definition_patch()}
    if opts.mtls_domain:
        rest_api["DisableExecuteApiEndpoint"] = True
    resources["RestAPI"] = {"Properties": rest_api}
    resources.update(
        front.resources(
            n,
            opts,
            rest_api_id={"Ref": "RestAPI"},
            function_arn={"Fn::GetAtt": ["APIHandler", "Arn"]},
            depends_on=f"RestAPI{n.stage}Stage",  # SAM's name for the REST API's stage
        )
    )
    variables: dict[str, Any] = {name: {"Ref": logical} for name, logical in _ENV_REFS.items()}
    variables["HOOKWAY_KMS_KEY_ID"] = {"Fn::GetAtt": ["SecretsKey", "Arn"]}
    return {
        "Globals": {"Function": {"Environment": {"Variables": variables}}},
        "Resources": resources,
        "Outputs": {**infra["Outputs"], **front.outputs(opts)},
    }


# The environment values the merged template takes from its own resources (chalice_config.FROM_OUTPUTS).
_ENV_REFS = {
    "HOOKWAY_TABLE": "StateTable",
    "HOOKWAY_BUCKET": "PayloadBucket",
    "HOOKWAY_INGEST_QUEUE_URL": "IngestQueue",
    "HOOKWAY_DELIVERIES_QUEUE_URL": "DeliveriesQueue",
    "HOOKWAY_SLOW_DELIVERIES_QUEUE_URL": "SlowDeliveriesQueue",
    "HOOKWAY_DELIVERIES_DLQ_URL": "DeliveriesDeadLetterQueue",
}


def package(stage: str, out: Path, *, lint: bool = True, opts: Options | None = None) -> Path:
    """Stage, run chalice package with the merge template, lint; returns the SAM template's path."""
    n = names(chalice_config.check_deployable(stage))
    opts = opts or stage_options(stage)
    stage_dir = ROOT / "build" / f"stage-{stage}"
    stage_project(stage_dir, tracing=opts.tracing, architecture=opts.architecture)
    config = chalice_config.config_for(n, opts, outputs=None)
    chalice_config.write(
        stage_dir,
        config,
        iam.policies(
            n,
            iam.for_template(n),
            vpc_sender=opts.static_egress,
            tracing=opts.tracing,
            router_sends=opts.router_first_attempt,
        ),
        stage,
    )
    merge = stage_dir / "merge.json"
    merge.write_text(json.dumps(merge_template(n, opts), indent=1))
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
            str(merge),
            "--template-format",
            "yaml",
            str(out),
        ],
        check=True,
        cwd=stage_dir,
        env={**env, **chalice_config.stage_environment(n, opts)},
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
    try:
        print(package(args.stage, args.out, lint=not args.no_lint))
    except ValueError as exc:
        print(f"[package] error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
