"""Figures 12 and 13: the deployment package's size, and the cold start on python3.13 against its floor.

Figure 12 builds the package as ``make package`` does (``infra.package``: chalice package, dependencies
vendored for python3.13, bytecode compiled by python3.13 only, Powertools' unused parts left out) and reports the zip's size,
zipped and unzipped, and its largest parts.

Figure 13 times, on a python3.13 interpreter (the runtime's version; ``build/py313`` is made for it if this
Python is another), a fresh interpreter from its start to the first ``202`` of a GitHub webhook handed to
the API function's configured handler (``chalicelib.api.entry.handler``; also through the Chalice app, as
before it) as API Gateway's event, with real boto3 clients against moto's server on loopback (the
source already stored; the admin key from the environment, so no SSM read). The floor is a fresh
interpreter that imports boto3, makes one SQS client and sends one message to the same emulator. Both run
from a staged copy of the package (app, chalicelib and vendored dependencies with their python3.13
bytecode, none written: Lambda's package is read-only; its trimmed botocore data, ``infra/botomodels.py``), boto3 and
botocore from the interpreter's own site-packages as in the Lambda runtime.
Wall time is measured around the child process, so interpreter start-up is in both. The observability
share is the same cold start with the Powertools log formatter left out (``configure_logging`` replaced by
a no-op): what the JSON logs cost a cold start (nothing since the formatter is built on the first line
written). The CPU time of each child is reported beside its wall time: on a loaded shared machine it moves
less, and the gap between the two shows what the SQS and KMS clients made on threads overlap.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
import zipfile
from pathlib import Path
from typing import Any

from bench.report import ROOT, Row, median, say

TARGET = 1.10  # issue 16: the first 202 within 1.10x of the floor
BUILD = ROOT / "build" / "bench-coldstart"

_OURS = """
import json, sys
sys.path[:0] = [{vendor!r}, {project!r}]
if {bare!r}:
    import chalicelib.observability as observability
    observability.configure_logging = lambda level: None
if {untrimmed!r}:
    import chalicelib.aws.botomodels as botomodels
    botomodels.MODELS_DIR = None
from {module} import {function} as handler
event = json.loads({event!r})
class Context:
    function_name = "hookway-bench"; memory_limit_in_mb = 512; aws_request_id = "r-1"
    def get_remaining_time_in_millis(self): return 30000
reply = handler(event, Context())
assert reply["statusCode"] == 202, reply
"""

_FLOOR = """
import boto3
sqs = boto3.client("sqs")
sqs.send_message(QueueUrl={queue!r}, MessageBody="x")
"""

# The same floor without ``import boto3``: botocore's session makes the same client (what the function does).
_BOTOCORE_FLOOR = """
import botocore.session
sqs = botocore.session.get_session().create_client("sqs")
sqs.send_message(QueueUrl={queue!r}, MessageBody="x")
"""

# The design's own floor: the source is read from DynamoDB before the message goes to SQS (two clients).
_TWO_CLIENTS = """
import boto3
boto3.client("dynamodb").get_item(TableName={table!r}, Key={{"pk": {{"S": "x"}}, "sk": {{"S": "x"}}}})
boto3.client("sqs").send_message(QueueUrl={queue!r}, MessageBody="x")
"""


def _sizes(out: Path) -> tuple[int, int, list[zipfile.ZipInfo]]:
    """(zipped, unzipped, entries) of a built package."""
    archive = zipfile.ZipFile(out / "deployment.zip")
    infos = archive.infolist()
    return (out / "deployment.zip").stat().st_size, sum(i.file_size for i in infos), infos


def package_size(quick: bool) -> list[Row]:
    """Figure 12: build the prod package (arm64, the default) and measure it, beside the same for x86_64."""
    from dataclasses import replace

    from infra.package import package
    from infra.stack import stage_options

    say("== 12. deployment package (make package STAGE=prod: python3.13 on arm64, bytecode for 3.13 only)")
    out = BUILD / "package"
    opts = stage_options("prod")
    package("prod", out, lint=False, opts=opts)
    zipped, unzipped, infos = _sizes(out)
    x86 = BUILD / "package-x86_64"
    package("prod", x86, lint=False, opts=replace(opts, architecture="x86_64"))
    x86_zipped, x86_unzipped, _ = _sizes(x86)
    parts: dict[str, int] = {}
    for info in infos:
        top = info.filename.split("/", 1)[0]
        parts[top] = parts.get(top, 0) + info.file_size
    largest = sorted(parts.items(), key=lambda kv: -kv[1])[:5]
    pyc = sum(1 for i in infos if i.filename.endswith(".pyc"))
    web = [i for i in infos if i.filename.startswith("chalicelib/web/")]
    web_zipped = sum(i.compress_size for i in web)
    say(
        f"   {opts.architecture}: {zipped / 1e6:.2f} MB zipped, {unzipped / 1e6:.2f} MB unzipped, {len(infos)} "
        f"files, {pyc} .pyc; x86_64: {x86_zipped / 1e6:.2f} MB zipped, {x86_unzipped / 1e6:.2f} MB unzipped"
    )
    say("   largest: " + ", ".join(f"{name} {size / 1e6:.2f} MB" for name, size in largest))
    note = f"{opts.architecture}; {len(infos)} files, {pyc} .pyc; largest unzipped: " + ", ".join(
        f"{name} {size / 1e6:.2f} MB" for name, size in largest
    )
    return [
        Row("deployment package, zipped", zipped / 1e6, None, "MB", note=note),
        Row("deployment package, unzipped", unzipped / 1e6, None, "MB", note="Lambda's limit is 250 MB"),
        Row(
            "deployment package, zipped, arm64 against x86_64",
            zipped / 1e6,
            x86_zipped / 1e6,
            "MB",
            note=f"reference: the same stage built with the architecture option x86_64 "
            f"({x86_unzipped / 1e6:.2f} MB unzipped); the native wheels (cryptography, cffi, regex, rpds-py, quickjs-ng) "
            "differ, the rest is the same",
        ),
        Row(
            "deployment package, zipped, with the console and portal",
            zipped / 1e6,
            (zipped - web_zipped) / 1e6,
            "MB",
            note=f"reference: without them; {len(web)} files, {web_zipped / 1024:.1f} KB compressed in the zip",
        ),
    ]


def _child(python: Path, code: str, env: dict[str, str], cwd: Path) -> float:
    return _child_times(python, code, env, cwd)[0]


def _child_times(python: Path, code: str, env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of a fresh interpreter running ``code``: the CPU time (user + system, the
    child's own) is what a loaded 2-core machine disturbs least; wall time is what a provider waits."""
    start = time.perf_counter()
    # The clock stops at the first reply: the child then leaves without the interpreter's teardown (its
    # final collection and module cleanup), which a Lambda container never runs after its first request.
    code += "\nimport os as _os\n_os._exit(0)\n"
    child = subprocess.Popen(
        [str(python), "-c", code], cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    err = child.stderr.read() if child.stderr else b""
    child.wait()
    if status != 0:
        raise RuntimeError(f"the cold start child failed: {err.decode(errors='replace')[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def cold_start(quick: bool) -> list[Row]:
    """Figure 13: cold start to the first 202 on python3.13, against the boto3 floor."""
    from bench.fixtures import GITHUB_SECRET, ingest_event, json_body
    from infra.chalice_config import API_HANDLER
    from infra.deploy import runtime_python
    from infra.package import stage_project
    from local import emulator
    from testkit import aws

    say("== 13. cold start on python3.13: fresh interpreter to the first 202 (real boto3 against moto)")
    python = runtime_python()
    project = BUILD / "project"
    # Staged for this machine's CPU (the deployed package is arm64: its native modules would not load here).
    stage_project(project, architecture="arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64")
    runs = 5 if quick else 11
    with aws.moto_server() as endpoint:
        env_aws = emulator.deploy(endpoint)
        env = {
            "PATH": os.environ.get("PATH", ""),
            **env_aws,
            "AWS_ENDPOINT_URL": endpoint,
            "HOOKWAY_STAGE": "local",
            "HOOKWAY_ADMIN_KEY": "hk_bench_cold",
            "HOOKWAY_LOG_LEVEL": "INFO",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        source_id = _create_source(env, GITHUB_SECRET)
        times: dict[str, list[float]] = {
            "ours": [],
            "through the Chalice app": [],
            "bare logging": [],
            "untrimmed": [],
            "floor": [],
            "botocore floor": [],
            "two clients": [],
        }
        cpu: dict[str, list[float]] = {name: [] for name in times}
        queue, table = env_aws["HOOKWAY_INGEST_QUEUE_URL"], env_aws["HOOKWAY_TABLE"]
        codes: dict[str, Any] = {
            "floor": _FLOOR.format(queue=queue),
            "two clients": _TWO_CLIENTS.format(queue=queue, table=table),
            "botocore floor": _BOTOCORE_FLOOR.format(queue=queue),
        }
        # The API function's configured handler (its lean entry), or the Chalice app it falls back to.
        entry_module, entry_function = API_HANDLER.rsplit(".", 1)
        for _ in range(runs):
            for name, samples in times.items():
                if name in codes:
                    code = codes[name]
                else:
                    event = ingest_event(source_id, json_body(1024), f"d-{time.time_ns()}")
                    via_app = name == "through the Chalice app"
                    code = _OURS.format(
                        vendor=str(project / "vendor"),
                        project=str(project),
                        bare=name == "bare logging",
                        untrimmed=name == "untrimmed",
                        event=json.dumps(event),
                        module="app" if via_app else entry_module,
                        function="app" if via_app else entry_function,
                    )
                wall, used = _child_times(python, code, env, project)
                samples.append(wall * 1000)
                cpu[name].append(used * 1000)
    med = {name: median(values) for name, values in times.items()}
    med_cpu = {name: median(values) for name, values in cpu.items()}
    ratio = med["ours"] / med["floor"]
    growth = med["ours"] / med["bare logging"]
    say(
        f"   ours {med['ours']:.0f} ms, floor {med['floor']:.0f} ms: {ratio:.2f}x (target {TARGET}x); "
        f"two clients (DynamoDB GetItem + SQS send) {med['two clients']:.0f} ms: {med['ours'] / med['two clients']:.2f}x; "
        f"without the JSON log formatter {med['bare logging']:.0f} ms: observability adds {growth:.3f}x "
        f"(median of {runs}, min ours {min(times['ours']):.0f} ms, min floor {min(times['floor']):.0f} ms); "
        f"CPU time ours {med_cpu['ours']:.0f} ms, floor {med_cpu['floor']:.0f} ms: "
        f"{med_cpu['ours'] / med_cpu['floor']:.2f}x; through the Chalice app {med['through the Chalice app']:.0f} ms "
        f"(CPU {med_cpu['through the Chalice app']:.0f} ms); botocore floor {med['botocore floor']:.0f} ms "
        f"(CPU {med_cpu['botocore floor']:.0f} ms); without the trimmed botocore data {med['untrimmed']:.0f} ms "
        f"(CPU {med_cpu['untrimmed']:.0f} ms)"
    )
    return [
        Row(
            "cold start to first 202, python3.13",
            med["ours"],
            med["floor"],
            "ms",
            TARGET,
            note="reference: a fresh python3.13 that imports boto3, makes an SQS client and sends one message "
            f"to the same emulator; both from a fresh interpreter, the package's python3.13 bytecode; median of {runs}",
        ),
        Row(
            "  CPU time to first 202, python3.13",
            med_cpu["ours"],
            med_cpu["floor"],
            "ms",
            note="reference: the floor's CPU time (user + system of the child); the machine's load moves wall "
            "time more than CPU time, and the wall time hides what the clients made on threads overlap",
        ),
        Row(
            "  through the Chalice app (app.app) instead of the entry",
            med["through the Chalice app"],
            med["floor"],
            "ms",
            note="reference: the floor; the same webhook handed to the Chalice app, as the function's handler "
            "was before chalicelib.api.entry (Chalice, every resource's routes and modules imported first)",
        ),
        Row(
            "  CPU time against a floor without import boto3",
            med_cpu["ours"],
            med_cpu["botocore floor"],
            "ms",
            note="reference: a fresh python3.13 that makes the SQS client with botocore's session (as the "
            "function does: boto3's own layer is never imported) and sends one message; what is left to gain",
        ),
        Row(
            "  against DynamoDB read + SQS send",
            med["ours"],
            med["two clients"],
            "ms",
            note="reference: a fresh python3.13 that makes a DynamoDB and an SQS client, reads one item and sends "
            "one message: what the first 202 needs at least (the source is read before the message is stored)",
        ),
        Row(
            "  against the package without its trimmed botocore data",
            med["ours"],
            med["untrimmed"],
            "ms",
            note="reference: the same cold start with botocore's own data (the session's loader as botocore "
            f"makes it): CPU {med_cpu['ours']:.0f} ms against {med_cpu['untrimmed']:.0f} ms; the package's "
            "chalicelib/aws/botocore-data holds its services' models with only the operations the functions call "
            "and no documentation, and endpoints.json with only those services (infra/botomodels.py)",
        ),
        Row(
            "  of which observability (JSON logs)",
            med["ours"],
            med["bare logging"],
            "ms",
            1.10,
            note="reference: the same cold start with configure_logging a no-op (no Powertools formatter); "
            "metrics are EMF lines written with json, no import",
        ),
    ]


def _create_source(env: dict[str, str], secret: str) -> str:
    """A GitHub source in the emulated table, through the composition root."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        from chalicelib import wiring
        from chalicelib.api.sources import parse_create as parse_create_source

        wiring.reset()
        source = wiring.api_root().sources.create(
            parse_create_source(
                {
                    "name": "bench",
                    "dedupe": "header:X-GitHub-Delivery",
                    "verification": {"scheme": "github", "secrets": [secret]},
                }
            )
        )
        return str(source.id)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        from chalicelib import wiring

        wiring.reset()
