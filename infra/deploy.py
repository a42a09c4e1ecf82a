"""``make deploy STAGE=dev`` and ``make destroy STAGE=dev``: one command from an empty account, and back.

Deploy, in order (each step converges, so a rerun after a failure picks up where it stopped):

1. the infrastructure stack ``hookway-<stage>-infra`` (``infra/stack.py``) is created or updated, and its
   outputs read; a new stage's table gets its listing era (``record_new_table``: no old index to read);
2. the admin key's SSM SecureString ``/hookway/<stage>/admin-key`` is created if missing (never printed);
3. a staged copy of the project (``build/deploy/<stage>``) gets Chalice's configuration generated from the
   outputs (``infra/chalice_config.py``), one IAM policy per function (``infra/iam.py``) and the
   dependencies vendored for python3.13 without bytecode; Chalice's record of what it deployed
   (``.chalice/deployed/<stage>.json``) is kept there between runs;
4. event source mappings of this stage's functions that Chalice has no record of (left by a deploy that
   failed before Chalice wrote its record) are deleted, so Chalice's create cannot fail on a conflict or
   leave two;
5. ``chalice deploy --stage <stage>`` runs under a python3.13 interpreter (a venv is made for it in
   ``build/py313`` if this Python is another version), so the functions get runtime python3.13, the
   stage's architecture (arm64 by default, the package built for it) and their memory;
6. what Chalice cannot set is applied: each function's log configuration (JSON, Lambda's system lines at
   WARN so START/END/REPORT are not written, the application's at the stage's level; applied as soon as
   Chalice has made the functions, even if its REST API step then fails), and the REST API's binary media types ``*/*`` and gateway responses in
   Hookway's error shape (``infra/api_gateway.py``), the execute-api endpoint disabled under mTLS;
7. the optional front doors (HTTP API, mTLS domain) as ``hookway-<stage>-front`` (``infra/front.py``).

Around step 5 the subscription backfill runs (``chalicelib.backfill``): before it, joining endpoints from
before subscription pages without marking owners (the old code still serves); after it, again, marking
each owner complete. Until an owner is marked the router matches it from its full listing, so no
endpoint is missed at any point of the update.

AWS is reached the way the AWS CLI does it: ``AWS_PROFILE``, ``AWS_REGION`` / ``AWS_DEFAULT_REGION`` and
``AWS_ENDPOINT_URL`` (for an emulator) are honoured by boto3 here and by Chalice's botocore.

    python -m infra.deploy deploy --stage dev [--options '{"http_api": true}']
    python -m infra.deploy destroy --stage dev
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from chalicelib.names import FUNCTIONS, Names, names
from infra import api_gateway, chalice_config, front, iam
from infra.package import find_python313, stage_project
from infra.stack import DEPLOY_PREFIX, ROOT, Options, infrastructure, stage_options

BUILD = ROOT / "build"
RUNTIME_VENV = BUILD / "py313"
KEEP = (".chalice/deployed", ".chalice/deployments")
CHALICE_REQUIREMENT = "chalice==1.34.0"


# What an emulator (moto) does with a deploy: all but the REST API, which it cannot import.
EMULATOR_STOPS = (
    "the AWS emulator at {endpoint} cannot import the REST API (ImportRestApi), so the deploy stops there: "
    "the stack, the admin key, the functions and their queue subscriptions exist in it, the API does not "
    "(that last step needs real AWS; make dev runs the whole stack locally)"
)


class DeployError(Exception):
    """A deploy step failed; the message says which and what to do."""


def log(message: str) -> None:
    """Progress for the person running make."""
    print(f"[deploy] {message}", flush=True)


def session() -> Any:
    """A boto3 session as the AWS CLI would make it (profile, region and endpoint from the environment)."""
    import boto3

    # Like the AWS CLI v2: AWS_REGION first, then AWS_DEFAULT_REGION and the profile's region (botocore).
    made = boto3.session.Session(region_name=os.environ.get("AWS_REGION") or None)
    if not made.region_name:
        raise DeployError("no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or a profile's region)")
    os.environ["AWS_DEFAULT_REGION"] = made.region_name  # what Chalice's botocore reads
    return made


# --------------------------------------------------------------------------------------------- stacks


def _wait(cfn: Any, stack: str) -> dict[str, Any]:
    while True:
        found = cfn.describe_stacks(StackName=stack)["Stacks"][0]
        if not found["StackStatus"].endswith("_IN_PROGRESS"):
            return dict(found)
        time.sleep(2 if "amazonaws.com" in cfn.meta.endpoint_url else 0.2)


def _exists(cfn: Any, stack: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        found = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    if found["StackStatus"] == "DELETE_COMPLETE":
        return None
    return dict(found)


def ensure_stack(cfn: Any, stack: str, template: dict[str, Any]) -> dict[str, str]:
    """Create or update a stack and wait; returns its outputs. 'No updates' is success."""
    from botocore.exceptions import ClientError

    body = json.dumps(template)
    found = _exists(cfn, stack)
    if found is not None and found["StackStatus"] == "ROLLBACK_COMPLETE":
        log(f"{stack} is ROLLBACK_COMPLETE from a failed first create: deleting it to start again")
        cfn.delete_stack(StackName=stack)
        _wait_deleted(cfn, stack)
        found = None
    if found is None:
        log(f"creating stack {stack}")
        cfn.create_stack(StackName=stack, TemplateBody=body, Tags=[{"Key": "hookway:stage", "Value": stack}])
        expected = "CREATE_COMPLETE"
    else:
        try:
            cfn.update_stack(StackName=stack, TemplateBody=body)
        except ClientError as exc:
            if "No updates are to be performed" not in str(exc):
                raise
            log(f"stack {stack} is up to date")
            return _outputs(found)
        log(f"updating stack {stack}")
        expected = "UPDATE_COMPLETE"
    done = _wait(cfn, stack)
    if done["StackStatus"] != expected:
        raise DeployError(f"stack {stack} ended {done['StackStatus']}: {done.get('StackStatusReason', '')}")
    log(f"stack {stack}: {expected}")
    return _outputs(done)


def record_new_table(db: Any, table: str) -> None:
    """A stage's new table: its listing era says it holds no entry of the layouts before the packed
    listings and no message before now, so listings never read the old indexes (``listing.Era``). Not
    for an existing table: its first listing records it as upgraded. Written once (a rerun keeps it)."""
    from botocore.exceptions import ClientError

    from chalicelib.aws.dynamodb.listing import Era

    try:
        db.put_item(
            TableName=table,
            Item=Era.fresh(time.time()).to_item(),
            ConditionExpression="attribute_not_exists(pk)",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise


def _outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def _wait_deleted(cfn: Any, stack: str) -> None:
    while True:
        found = _exists(cfn, stack)
        if found is None:
            return
        if found["StackStatus"] == "DELETE_FAILED":
            raise DeployError(f"stack {stack} could not be deleted: {found.get('StackStatusReason', '')}")
        time.sleep(2 if "amazonaws.com" in cfn.meta.endpoint_url else 0.2)


# ---------------------------------------------------------------------------------------- parameters


def ensure_admin_key(ssm: Any, name: str) -> bool:
    """Create the admin key parameter if it is missing; True if it was created. The value is not printed."""
    from botocore.exceptions import ClientError

    try:
        ssm.get_parameter(Name=name)
        return False
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ParameterNotFound":
            raise
    ssm.put_parameter(Name=name, Type="SecureString", Value="hk_" + secrets.token_urlsafe(32))
    log(
        f"created the admin key in {name}: read it with aws ssm get-parameter --with-decryption --name {name}"
    )
    return True


# ------------------------------------------------------------------------------------------ runtime


def runtime_python() -> Path:
    """A python3.13 interpreter with Chalice: this one if it is 3.13, else a venv made in build/py313."""
    if sys.version_info[:2] == (3, 13):
        return Path(sys.executable)
    venv_python = RUNTIME_VENV / "bin" / "python"
    stamp = RUNTIME_VENV / f".installed-{CHALICE_REQUIREMENT}"
    if venv_python.exists() and stamp.exists():
        return venv_python
    base = _find_python313()
    log(f"making a python3.13 environment for chalice in {RUNTIME_VENV} (from {base})")
    if RUNTIME_VENV.exists():
        shutil.rmtree(RUNTIME_VENV)
    subprocess.run([*base, "-m", "venv", str(RUNTIME_VENV)], check=True)
    requirements = [CHALICE_REQUIREMENT, *_pins("boto3", "botocore")]
    subprocess.run(
        [str(venv_python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requirements],
        check=True,
    )
    stamp.touch()
    return venv_python


def chalice_command(python: Path) -> list[str]:
    """How to run Chalice's CLI with that interpreter."""
    return [str(python), "-c", "import sys; from chalice.cli import main; sys.exit(main())"]


def _pins(*packages: str) -> list[str]:
    """The versions requirements-dev.txt pins for these packages (Chalice's own AWS clients)."""
    wanted = set(packages)
    out = []
    for line in (ROOT / "requirements-dev.txt").read_text().splitlines():
        pin = line.split(";")[0].split(" \\")[0].strip()  # the lock: "name==1.2 ; marker \" then hashes
        name = pin.split("==")[0].strip().lower()
        if name in wanted and "==" in pin:
            out.append(pin)
    return out


def _find_python313() -> list[str]:
    found = find_python313()
    if found is None:
        raise DeployError("no python3.13 found: install it, or set HOOKWAY_PYTHON313 to its path")
    return found


# --------------------------------------------------------------------------------- event source maps


def _recorded(project: Path, stage: str) -> dict[str, Any]:
    path = project / ".chalice" / "deployed" / f"{stage}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _record_key(stage: str) -> str:
    return f"{DEPLOY_PREFIX}chalice-{stage}.json"


def save_record(s3: Any, bucket: str, project: Path, stage: str) -> bool:
    """Keep Chalice's deploy record in the stage's bucket (outside the payloads' lifecycle)."""
    path = project / ".chalice" / "deployed" / f"{stage}.json"
    if not path.exists():
        return False
    s3.put_object(Bucket=bucket, Key=_record_key(stage), Body=path.read_bytes())
    return True


def _fetch_record(s3: Any, bucket: str, stage: str) -> bytes | None:
    from botocore.exceptions import ClientError

    try:
        return bytes(s3.get_object(Bucket=bucket, Key=_record_key(stage))["Body"].read())
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NoSuchBucket"):
            return None
        raise


def restore_record(s3: Any, bucket: str, project: Path, stage: str) -> bool:
    """Put the bucket's deploy record into the staged project: a fresh checkout or a CI runner then updates
    the deployed functions and API instead of creating a second REST API. False if there is none yet."""
    body = _fetch_record(s3, bucket, stage)
    if body is None:
        return False
    path = project / ".chalice" / "deployed" / f"{stage}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return True


def recorded_mappings(record: dict[str, Any]) -> set[str]:
    """The event source mapping ids Chalice recorded as its own."""
    return {r["event_uuid"] for r in record.get("resources", []) if r.get("resource_type") == "sqs_event"}


def prune_event_source_mappings(client: Any, n: Names, keep: set[str]) -> list[str]:
    """Delete mappings of this stage's functions that are not in ``keep``; returns their ids."""
    from botocore.exceptions import ClientError

    ours = {n.function(key) for key in FUNCTIONS}
    pruned = []
    # Listed unfiltered and matched on the function's name: emulators differ on the FunctionName filter.
    for page in client.get_paginator("list_event_source_mappings").paginate():
        for mapping in page["EventSourceMappings"]:
            function = mapping.get("FunctionArn", "").rsplit(":function:", 1)[-1].split(":")[0]
            if function in ours and mapping["UUID"] not in keep:
                client.delete_event_source_mapping(UUID=mapping["UUID"])
                pruned.append(mapping["UUID"])
    for uuid in pruned:  # deletion is asynchronous: a create for the same pair fails until it is gone
        for _ in range(120):
            try:
                client.get_event_source_mapping(UUID=uuid)
            except ClientError:
                break
            time.sleep(1)
    if pruned:
        log(f"deleted {len(pruned)} event source mapping(s) Chalice had no record of")
    return pruned


# ------------------------------------------------------------------------------------------- deploy


def apply_logging(client: Any, n: Names, level: str) -> list[str]:
    """Set every existing function's log configuration (``chalice_config.logging_config``), which Chalice
    cannot; a function whose configuration already matches is left alone. Returns what it did."""
    from botocore.exceptions import ClientError

    wanted = chalice_config.logging_config(level)
    done = []
    for key in FUNCTIONS:
        name = n.function(key)
        try:
            config = _settled(client, name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                continue  # Chalice stopped before making it
            raise
        current = config.get("LoggingConfig", {})
        if {k: current.get(k) for k in wanted} == wanted:
            continue
        client.update_function_configuration(FunctionName=name, LoggingConfig=wanted)
        done.append(name)
    if not done:
        return []
    return [
        f"log configuration {wanted['LogFormat']} (system {wanted['SystemLogLevel']}, application "
        f"{wanted['ApplicationLogLevel']}) set on {', '.join(done)}"
    ]


def apply_handler(client: Any, n: Names) -> list[str]:
    """Point the API function at ``chalice_config.API_HANDLER`` (Chalice sets ``app.app`` on every deploy;
    the entry hands whatever is not a webhook to it). Returns what it did."""
    from botocore.exceptions import ClientError

    name = n.function("api_handler")
    try:
        config = _settled(client, name)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return []  # Chalice stopped before making it
        raise
    if config.get("Handler") == chalice_config.API_HANDLER:
        return []
    client.update_function_configuration(FunctionName=name, Handler=chalice_config.API_HANDLER)
    return [f"handler {chalice_config.API_HANDLER} set on {name}"]


def _settled(client: Any, name: str) -> dict[str, Any]:
    """The function's configuration once no create or update of it is in progress (a second update
    meanwhile would be refused with a conflict)."""
    for _ in range(300):
        config: dict[str, Any] = client.get_function_configuration(FunctionName=name)
        if config.get("State") != "Pending" and config.get("LastUpdateStatus") != "InProgress":
            return config
        time.sleep(1)
    raise DeployError(f"{name} is still being created or updated after 5 minutes")


def stage_env(n: Names, opts: Options) -> dict[str, str]:
    """The environment Chalice runs in: the stage's, so app.py's decorators name this stage's queues."""
    return {**os.environ, **chalice_config.stage_environment(n, opts)}


def prepare(n: Names, opts: Options, outputs: dict[str, str], region: str, account: str) -> Path:
    """The staged project with its generated configuration and policies."""
    project = BUILD / "deploy" / n.stage
    stage_project(project, keep=KEEP, tracing=opts.tracing, architecture=opts.architecture)
    config = chalice_config.config_for(n, opts, outputs=outputs)
    arns = iam.from_outputs(outputs, region, account)
    chalice_config.write(
        project,
        config,
        iam.policies(
            n,
            arns,
            vpc_sender=opts.static_egress,
            tracing=opts.tracing,
            router_sends=opts.router_first_attempt,
        ),
        n.stage,
    )
    return project


def backfill(n: Names, opts: Options, outputs: dict[str, str], *, mark: bool) -> None:
    """``python -m chalicelib.backfill`` against the stage's table (a finished pass is a no-op)."""
    env = {
        **stage_env(n, opts),
        **{name: outputs[key] for name, key in chalice_config.FROM_OUTPUTS.items() if key in outputs},
    }
    log(f"subscription backfill ({'join and mark owners' if mark else 'join only'})")
    subprocess.run(
        [sys.executable, "-m", "chalicelib.backfill", *([] if mark else ["--no-mark"])],
        cwd=ROOT,
        env=env,
        check=True,
    )


def deploy(stage: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Deploy a stage from zero or update it; returns a summary."""
    n = names(chalice_config.check_deployable(stage))
    opts = stage_options(stage, overrides)
    aws = session()
    region = str(aws.region_name)
    found = _exists(aws.client("cloudformation"), n.infra_stack)
    new_stage = found is None or found["StackStatus"] == "ROLLBACK_COMPLETE"
    outputs = ensure_stack(aws.client("cloudformation"), n.infra_stack, infrastructure(stage, opts))
    if new_stage:
        record_new_table(aws.client("dynamodb"), outputs["StateTableName"])
    account = str(aws.client("sts").get_caller_identity()["Account"])
    ensure_admin_key(aws.client("ssm"), n.admin_key_parameter)
    project = prepare(n, opts, outputs, region, account)
    s3 = aws.client("s3")
    if restore_record(s3, outputs["PayloadBucketName"], project, stage):
        log(f"using the deploy record kept in the stage's bucket ({_record_key(stage)})")
    lam = aws.client("lambda")
    prune_event_source_mappings(lam, n, recorded_mappings(_recorded(project, stage)))
    # Subscription backfill, pass 1 (join only): endpoints from before subscription pages join them while
    # the old code still serves; no owner is marked, so the new router falls back to the full listing
    # for any owner the old code may still add an endpoint to until pass 2 (after the update) marks it.
    backfill(n, opts, outputs, mark=False)
    python = runtime_python()
    log(f"chalice deploy --stage {stage} (python3.13, in {project.relative_to(ROOT)})")
    # Chalice's progress goes to the terminal as it happens; its errors are read here first.
    result = subprocess.run(
        [*chalice_command(python), "deploy", "--stage", stage],
        cwd=project,
        env=stage_env(n, opts),
        check=False,
        stderr=subprocess.PIPE,
        text=True,
    )
    emulator = os.environ.get("AWS_ENDPOINT_URL")
    # The functions exist once Chalice reached its REST API (its last step), whether or not that failed.
    for line in apply_logging(lam, n, chalice_config.log_level(stage)):
        log(line)
    for line in apply_handler(lam, n):
        log(line)
    if result.returncode != 0 and emulator and "ImportRestApi" in result.stderr:
        raise DeployError(EMULATOR_STOPS.format(endpoint=emulator))
    sys.stderr.write(result.stderr)
    if result.returncode != 0:
        raise DeployError(
            f"chalice deploy failed (exit {result.returncode}); rerun make deploy STAGE={stage} once fixed: "
            "every step converges, and mappings left without a record are removed first"
        )
    save_record(s3, outputs["PayloadBucketName"], project, stage)
    backfill(n, opts, outputs, mark=True)  # pass 2: the endpoints the old code wrote meanwhile; mark owners
    record = _recorded(project, stage)
    prune_event_source_mappings(lam, n, recorded_mappings(record))
    rest_api_id = next(r["rest_api_id"] for r in record["resources"] if r.get("resource_type") == "rest_api")
    for line in api_gateway.apply(
        aws.client("apigateway"), rest_api_id, stage, disable_execute_api=bool(opts.mtls_domain)
    ):
        log(line)
    function_arn = next(
        r["lambda_arn"] for r in record["resources"] if r.get("name") == "api_handler" and "lambda_arn" in r
    )
    front_outputs: dict[str, str] = {}
    template = front.template(n, opts, rest_api_id=rest_api_id, function_arn=function_arn)
    front_stack = f"{n.prefix}-front"
    if template is not None:
        front_outputs = ensure_stack(aws.client("cloudformation"), front_stack, template)
    else:
        _delete_stack(aws.client("cloudformation"), front_stack)
    api_url = f"https://{rest_api_id}.execute-api.{region}.amazonaws.com/{stage}/"
    summary = {"stage": stage, "api_url": api_url, **outputs, **front_outputs}
    log(f"done: {api_url} (admin key: {n.admin_key_parameter})")
    return summary


def _delete_stack(cfn: Any, stack: str) -> bool:
    if _exists(cfn, stack) is None:
        return False
    log(f"deleting stack {stack}")
    cfn.delete_stack(StackName=stack)
    _wait_deleted(cfn, stack)
    return True


def destroy(stage: str) -> None:
    """Remove a stage. Stages with ``retain_data`` keep their table and bucket (CloudFormation Retain)."""
    n = names(stage)
    opts = stage_options(stage)
    aws = session()
    cfn = aws.client("cloudformation")
    _delete_stack(cfn, f"{n.prefix}-front")
    project = BUILD / "deploy" / stage
    infra = _exists(cfn, n.infra_stack)
    bucket = _outputs(infra).get("PayloadBucketName") if infra is not None else None
    kept = _fetch_record(aws.client("s3"), bucket, stage) if bucket else None
    record = _recorded(project, stage) or (json.loads(kept) if kept else {})
    if (project / ".chalice" / "config.json").exists() and kept and not _recorded(project, stage):
        restore_record(aws.client("s3"), str(bucket), project, stage)
    if _recorded(project, stage):
        log(f"chalice delete --stage {stage}")
        subprocess.run(
            [*chalice_command(runtime_python()), "delete", "--stage", stage],
            cwd=project,
            env=stage_env(n, opts),
            check=True,
        )
    else:
        log(f"no record of Chalice's resources for {stage} in {project}: removing them by name")
    prune_event_source_mappings(aws.client("lambda"), n, set())
    delete_leftovers(aws, n)
    _delete_rest_api(aws.client("apigateway"), record)
    if bucket and not opts.retain_data:
        _empty_bucket(aws.client("s3"), bucket)
    _delete_stack(cfn, n.infra_stack)
    if opts.retain_data:
        log(f"kept (retain_data): the state table and payload bucket of {stage}, and {n.admin_key_parameter}")
    else:
        from botocore.exceptions import ClientError

        with contextlib.suppress(ClientError):  # already gone
            aws.client("ssm").delete_parameter(Name=n.admin_key_parameter)
    log(f"stage {stage} removed")


def delete_leftovers(aws: Any, n: Names) -> list[str]:
    """Delete this stage's functions, roles and schedule rule by name (a deploy that failed before Chalice
    wrote its record leaves them without one); what is already gone is skipped. Returns what was deleted."""
    from botocore.exceptions import ClientError

    deleted = []
    lam, iam_client, events = aws.client("lambda"), aws.client("iam"), aws.client("events")
    for key in FUNCTIONS:
        try:
            lam.delete_function(FunctionName=n.function(key))
            deleted.append(n.function(key))
        except ClientError:
            pass
        role = f"{n.prefix}-{key}"
        try:
            for policy in iam_client.list_role_policies(RoleName=role)["PolicyNames"]:
                iam_client.delete_role_policy(RoleName=role, PolicyName=policy)
            iam_client.delete_role(RoleName=role)
            deleted.append(role)
        except ClientError:
            pass
    rule = f"{n.function('sweep')}-event"
    try:
        targets = [t["Id"] for t in events.list_targets_by_rule(Rule=rule)["Targets"]]
        if targets:
            events.remove_targets(Rule=rule, Ids=targets)
        events.delete_rule(Name=rule)
        deleted.append(rule)
    except ClientError:
        pass
    if deleted:
        log(f"deleted by name: {', '.join(deleted)}")
    return deleted


def _delete_rest_api(client: Any, record: dict[str, Any]) -> None:
    """The REST API a deploy record names, if it is still there (chalice delete removes it when it ran)."""
    from botocore.exceptions import ClientError

    for resource in record.get("resources", []):
        if resource.get("resource_type") == "rest_api":
            with contextlib.suppress(ClientError):  # already gone
                client.delete_rest_api(restApiId=resource["rest_api_id"])
                log(f"deleted the REST API {resource['rest_api_id']}")


def _empty_bucket(s3: Any, bucket: str) -> None:
    from botocore.exceptions import ClientError

    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchBucket":
            raise


def main(argv: list[str] | None = None) -> None:
    """Command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["deploy", "destroy"])
    parser.add_argument("--stage", required=True)
    parser.add_argument("--options", default="", help="JSON object of infra/stack.py Options to override")
    args = parser.parse_args(argv)
    try:
        overrides = json.loads(args.options) if args.options else None
        if args.command == "deploy":
            print(json.dumps(deploy(args.stage, overrides), indent=2))
        else:
            destroy(args.stage)
    except (DeployError, ValueError) as exc:
        print(f"[deploy] error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
