"""Chalice's configuration for one stage, generated: nobody types queue URLs or ARNs into config.json.

The checked-in ``.chalice/config.json`` holds what a person chooses (log level per stage); this
module adds what the infrastructure decides: the resource names from the stack's outputs, one policy file
per function (``infra/iam.py``), timeouts, memory (``infra/stack.py`` ``MEMORY``) and reserved concurrency
per function, the architecture, the sender's network and maximum concurrency, tracing. The functions' log
configuration (``logging_config``), which Chalice cannot set, goes into the merged template
(``infra/package.py``) and is applied after ``chalice deploy`` (``infra/deploy.py``). Both deploy paths
write the result into a staged copy of the project (``build/...``), never into the checked-in file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chalicelib.names import FUNCTIONS, Names
from infra.stack import MEMORY, RESERVED_CONCURRENCY, ROOT, TIMEOUTS, Options

BASE_CONFIG = ROOT / ".chalice" / "config.json"

# Environment names the functions read, and the infrastructure stack output that fills each one.
FROM_OUTPUTS = {
    "HOOKWAY_TABLE": "StateTableName",
    "HOOKWAY_BUCKET": "PayloadBucketName",
    "HOOKWAY_INGEST_QUEUE_URL": "IngestQueueUrl",
    "HOOKWAY_DELIVERIES_QUEUE_URL": "DeliveriesQueueUrl",
    "HOOKWAY_SLOW_DELIVERIES_QUEUE_URL": "SlowDeliveriesQueueUrl",
    "HOOKWAY_DELIVERIES_DLQ_URL": "DeliveriesDeadLetterQueueUrl",
    "HOOKWAY_KMS_KEY_ID": "SecretsKeyArn",
}


# The API function's Lambda handler: ``/in/{source_id}`` served without importing the Chalice app, every
# other event handed to it (``chalicelib.api.entry``). Chalice names ``app.app``; the merged template
# (``infra/package.py``) and the step after ``chalice deploy`` (``infra/deploy.py``) set this instead.
API_HANDLER = "chalicelib.api.entry.handler"


# The local stack's own name and exceptions: never deployed (chalicelib.config refuses the exceptions
# without the emulator too; this says so before anything is created).
LOCAL_STAGE = "local"
LOCAL_ONLY = ("HOOKWAY_ALLOW_PRIVATE_DESTINATIONS", "HOOKWAY_ALLOW_HTTP", "HOOKWAY_INSECURE_COOKIES")


# Python's level names as Lambda's log-level filter spells them (TRACE, DEBUG, INFO, WARN, ERROR, FATAL).
LAMBDA_LEVELS = {"DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "WARN", "ERROR": "ERROR", "CRITICAL": "FATAL"}


def log_level(stage: str, base: dict[str, Any] | None = None) -> str:
    """The stage's ``HOOKWAY_LOG_LEVEL`` (its own, else the default of ``.chalice/config.json``), as Lambda
    spells it; ValueError for a name neither Python nor Lambda knows."""
    doc = base if base is not None else json.loads(BASE_CONFIG.read_text())
    stage_env = doc.get("stages", {}).get(stage, {}).get("environment_variables", {})
    level = str(
        stage_env.get(
            "HOOKWAY_LOG_LEVEL", doc.get("environment_variables", {}).get("HOOKWAY_LOG_LEVEL", "INFO")
        )
    )
    if level.upper() not in LAMBDA_LEVELS:
        raise ValueError(
            f"HOOKWAY_LOG_LEVEL {level!r} for stage {stage}: use one of {', '.join(LAMBDA_LEVELS)}"
        )
    return LAMBDA_LEVELS[level.upper()]


def logging_config(level: str) -> dict[str, str]:
    """Every function's ``LoggingConfig``: JSON lines, Lambda's own START/END/REPORT lines (INFO) dropped at
    the source, the application's lines filtered at the stage's level (``log_level``)."""
    return {"LogFormat": "JSON", "SystemLogLevel": "WARN", "ApplicationLogLevel": level}


def check_deployable(stage: str) -> str:
    """The stage, or ValueError for ``local``: that name is the local stack's, never an AWS stage."""
    if stage == LOCAL_STAGE:
        raise ValueError(
            "the stage name 'local' is the local stack's (make dev) and cannot be deployed: "
            "use another name, such as STAGE=dev"
        )
    return stage


def stage_environment(n: Names, opts: Options) -> dict[str, str]:
    """The environment every function of a stage gets, apart from the resource names."""
    env = {
        "HOOKWAY_STAGE": n.stage,
        "HOOKWAY_ADMIN_KEY_PARAMETER": n.admin_key_parameter,
        "POWERTOOLS_SERVICE_NAME": "hookway",
        "POWERTOOLS_METRICS_NAMESPACE": "Hookway",
        "HOOKWAY_TRACING": "true" if opts.tracing else "false",
    }
    # Read by app.py at import: the slow lane's event source mapping's MaximumConcurrency.
    env["HOOKWAY_SLOW_LANE_MAX_CONCURRENCY"] = str(opts.slow_lane_max_concurrency)
    if opts.sender_max_concurrency:
        # Read by app.py at import, where Chalice's SQS decorator takes it.
        env["HOOKWAY_SENDER_MAX_CONCURRENCY"] = str(opts.sender_max_concurrency)
    # Read by the router's composition root only; written either way (on is the default).
    env["HOOKWAY_ROUTER_FIRST_ATTEMPT"] = "true" if opts.router_first_attempt else "false"
    return env


def sends(key: str, opts: Options) -> bool:
    """Whether a function POSTs deliveries (the sender; the router too with ``router_first_attempt``):
    it then runs where the stage's egress is (private subnets behind the NAT's Elastic IPs)."""
    return key in ("deliver", "deliver_slow") or (key == "route_ingest" and opts.router_first_attempt)


def config_for(
    n: Names,
    opts: Options,
    *,
    outputs: dict[str, str] | None,
    base: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole config.json for a stage. ``outputs`` None: the values come from the merged template."""
    doc = json.loads(json.dumps(base if base is not None else json.loads(BASE_CONFIG.read_text())))
    doc.pop("iam_policy_file", None)
    doc["autogen_policy"] = False
    stages = doc.setdefault("stages", {})
    stage_doc = stages.setdefault(n.stage, {})
    env = {**stage_doc.get("environment_variables", {}), **stage_environment(n, opts)}
    if outputs is not None:
        env.update({name: outputs[key] for name, key in FROM_OUTPUTS.items()})
    refused = sorted(name for name in LOCAL_ONLY if name in env)
    if refused:
        raise ValueError(f"{', '.join(refused)} in .chalice/config.json: only the local stack may set them")
    stage_doc["environment_variables"] = env
    stage_doc["api_gateway_stage"] = n.stage  # the API's stage is the alarm's dimension: one per stage
    stage_doc["autogen_policy"] = False
    stage_doc["xray"] = opts.tracing
    stage_doc["lambda_architecture"] = opts.architecture
    functions: dict[str, Any] = {}
    for key in FUNCTIONS:
        fn: dict[str, Any] = {
            "lambda_timeout": TIMEOUTS[key],
            "lambda_memory_size": MEMORY[key],
            "iam_policy_file": f"policy-{n.stage}-{key}.json",
            "autogen_policy": False,
        }
        reserved = getattr(opts, RESERVED_CONCURRENCY[key])
        if reserved:
            fn["reserved_concurrency"] = reserved
        if sends(key, opts) and opts.static_egress and outputs is not None:
            fn["subnet_ids"] = outputs["PrivateSubnetIds"].split(",")
            fn["security_group_ids"] = [outputs["SenderSecurityGroupId"]]
        if key == "api_handler" and opts.static_egress and outputs is not None:
            fn["environment_variables"] = {"HOOKWAY_EGRESS_IPS": outputs["EgressIps"]}
        functions[key] = fn
    stage_doc["lambda_functions"] = functions
    doc.pop("lambda_functions", None)
    return doc


def write(project: Path, config: dict[str, Any], policies: dict[str, dict[str, Any]], stage: str) -> None:
    """Write config.json and the policy files into a staged project's .chalice directory."""
    chalice_dir = project / ".chalice"
    chalice_dir.mkdir(parents=True, exist_ok=True)
    (chalice_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    for key, policy in policies.items():
        (chalice_dir / f"policy-{stage}-{key}.json").write_text(json.dumps(policy, indent=2) + "\n")
