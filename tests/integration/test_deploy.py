"""``make deploy`` and ``make destroy`` against moto's server standing in for a fresh AWS account.

moto cannot import a REST API definition (``ImportRestApi`` answers 500 in moto 5.2), and that is the last
thing ``chalice deploy`` does. So the deploy runs as far as moto allows (infrastructure stack, functions,
roles, event source mappings, schedule), the test checks all of that on moto, and checks the REST API's
part on the artifacts instead: the post-deploy settings against a REST API made in moto by hand, and the
merged template of the ``chalice package`` path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from chalicelib.names import FUNCTIONS, names
from infra import api_gateway, chalice_config
from infra.deploy import restore_record, save_record
from infra.package import LOGICAL_IDS, package
from infra.stack import MEMORY, stage_options
from local.emulator import _CfnLoader
from testkit import aws

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MOTO_LACKS = "ImportRestApi"


@pytest.fixture(scope="module")
def account() -> Iterator[str]:
    """A fresh emulated account of its own (the other integration tests share theirs)."""
    with aws.moto_server() as url:
        yield url


def make(target: str, stage: str, endpoint: str) -> subprocess.CompletedProcess[str]:
    """Run a make target as a person would, pointed at the emulator the way the AWS CLI is."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HOOKWAY_"))}
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_MAX_ATTEMPTS": "1",  # moto's 500 on ImportRestApi would otherwise be retried with backoff
        }
    )
    return subprocess.run(
        ["make", "--no-print-directory", target, f"STAGE={stage}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def _deployed_as_far_as_moto_allows(result: subprocess.CompletedProcess[str]) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert MOTO_LACKS in output, output  # and nothing earlier failed:
    assert "[deploy] chalice deploy --stage" in output, output
    # AND the person running it reads one sentence about the emulator, not Chalice's chained tracebacks
    assert "[deploy] error: the AWS emulator at http://127.0.0.1:" in result.stderr, output
    assert "so the deploy stops there" in result.stderr, output
    assert "Traceback" not in output, output


def test_the_local_stage_name_is_never_deployed_or_packaged(account: str) -> None:
    # GIVEN an account WHEN make deploy STAGE=local runs (that name once turned the SSRF guard off)
    result = make("deploy", "local", account)
    # THEN it is refused before anything is created
    assert result.returncode != 0
    assert "the stage name 'local' is the local stack's (make dev) and cannot be deployed" in result.stderr
    stacks = aws.client("cloudformation", account).list_stacks()["StackSummaries"]
    assert not [s for s in stacks if s["StackName"].startswith("hookway-local")]
    # AND the package path refuses it too
    packaged = subprocess.run(
        [sys.executable, "-m", "infra.package", "--stage", "local", "--no-lint"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert packaged.returncode == 1 and "cannot be deployed" in packaged.stderr, packaged.stderr


@pytest.mark.parametrize("name", chalice_config.LOCAL_ONLY)
def test_a_stage_config_cannot_turn_a_local_exception_on(name: str) -> None:
    base = {"stages": {"dev": {"environment_variables": {name: "true"}}}}
    with pytest.raises(ValueError, match=name):
        chalice_config.config_for(names("dev"), stage_options("dev"), outputs=None, base=base)


@pytest.fixture(scope="module")
def dev(account: str) -> dict[str, Any]:
    result = make("deploy", "dev", account)
    _deployed_as_far_as_moto_allows(result)
    return {**inventory(account, "dev"), "output": result.stdout + result.stderr}


def inventory(endpoint: str, stage: str) -> dict[str, Any]:
    """What a stage has in the account, read back from the emulator."""
    n = names(stage)
    lam = aws.client("lambda", endpoint)
    cfn = aws.client("cloudformation", endpoint)
    stack = cfn.describe_stacks(StackName=n.infra_stack)["Stacks"][0]
    functions = {
        f["FunctionName"]: lam.get_function(FunctionName=f["FunctionName"])["Configuration"]
        for f in lam.list_functions()["Functions"]
        if f["FunctionName"] in {n.function(k) for k in FUNCTIONS}
    }
    mappings = [
        m
        for m in lam.list_event_source_mappings()["EventSourceMappings"]
        if m["FunctionArn"].rsplit(":", 1)[-1] in functions
    ]
    iam = aws.client("iam", endpoint)
    roles = {}
    for config in functions.values():
        role = config["Role"].rsplit("/", 1)[-1]
        [policy] = iam.list_role_policies(RoleName=role)["PolicyNames"]
        roles[role] = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    return {
        "stack": stack,
        "outputs": outputs,
        "functions": functions,
        "mappings": mappings,
        "roles": roles,
        "parameters": [
            p["Name"]
            for p in aws.client("ssm", endpoint).describe_parameters()["Parameters"]
            if f"/{stage}/" in p["Name"]
        ],
    }


def test_make_deploy_creates_the_stage_from_zero(dev: dict[str, Any]) -> None:
    # GIVEN an empty account WHEN make deploy STAGE=dev ran (fixture) THEN the stack is complete
    assert dev["stack"]["StackStatus"] == "CREATE_COMPLETE"
    n = names("dev")
    # ... every function exists on python3.13 with every environment value filled in from the stack
    assert set(dev["functions"]) == {n.function(k) for k in FUNCTIONS}
    outputs = dev["outputs"]
    for key in FUNCTIONS:
        config = dev["functions"][n.function(key)]
        # ... on Graviton (the package built for it) with the memory measured for that function
        assert config["Architectures"] == ["arm64"], key
        assert config["MemorySize"] == MEMORY[key], key
    # ... and each got the JSON log configuration right after Chalice made it (moto keeps no LoggingConfig:
    # the deploy's own account of the calls is checked; tests/unit/test_deploy_logging.py checks the calls)
    assert (
        "[deploy] log configuration JSON (system WARN, application INFO) set on "
        + ", ".join(n.function(k) for k in FUNCTIONS)
    ) in dev["output"]
    for config in dev["functions"].values():
        assert config["Runtime"] == "python3.13"
        env = config["Environment"]["Variables"]
        assert all(value != "" for value in env.values()), env
        assert env["HOOKWAY_STAGE"] == "dev"
        assert env["HOOKWAY_TABLE"] == outputs["StateTableName"]
        assert env["HOOKWAY_BUCKET"] == outputs["PayloadBucketName"]
        assert env["HOOKWAY_INGEST_QUEUE_URL"] == outputs["IngestQueueUrl"]
        assert env["HOOKWAY_DELIVERIES_QUEUE_URL"] == outputs["DeliveriesQueueUrl"]
        assert env["HOOKWAY_DELIVERIES_DLQ_URL"] == outputs["DeliveriesDeadLetterQueueUrl"]
        assert env["HOOKWAY_SLOW_DELIVERIES_QUEUE_URL"] == outputs["SlowDeliveriesQueueUrl"]
        assert env["HOOKWAY_ADMIN_KEY_PARAMETER"] == "/hookway/dev/admin-key"
        assert env["HOOKWAY_KMS_KEY_ID"] == outputs["SecretsKeyArn"]
    # ... one role per function, and the event source mappings consume this stage's queues
    assert len(dev["roles"]) == len(FUNCTIONS)
    consumed = {m["FunctionArn"].rsplit(":", 1)[-1]: m["EventSourceArn"] for m in dev["mappings"]}
    assert consumed == {
        n.function("route_ingest"): outputs["IngestQueueArn"],
        n.function("deliver"): outputs["DeliveriesQueueArn"],
        n.function("deliver_slow"): outputs["SlowDeliveriesQueueArn"],
        n.function("dead_letters"): outputs["DeliveriesDeadLetterQueueArn"],
    }
    # ... the slow lane's mapping is capped (the stage option slow_lane_max_concurrency, default 5), so
    # failing or slow endpoints never take more senders than that; the main lane's is not (dev sets none)
    scaling = {m["FunctionArn"].rsplit(":", 1)[-1]: m.get("ScalingConfig") for m in dev["mappings"]}
    assert scaling[n.function("deliver_slow")] == {"MaximumConcurrency": 5}
    assert not (scaling[n.function("deliver")] or {}).get("MaximumConcurrency")
    assert dev["parameters"] == ["/hookway/dev/admin-key"]


def test_a_new_stage_s_table_records_that_it_holds_no_old_listing_index(
    account: str, dev: dict[str, Any]
) -> None:
    from chalicelib.aws.dynamodb.listing import ERA_KEY, Era

    # GIVEN dev deployed from zero THEN its table's listing era says no old index entry exists (so no
    # listing ever reads one) and no message came before the deploy
    item = aws.client("dynamodb", account).get_item(TableName=dev["outputs"]["StateTableName"], Key=ERA_KEY)
    era = Era.of_item(item["Item"])
    assert era.legacy_until == 0 and 0 < era.since <= time.time()


def test_each_function_may_do_only_what_it_does_on_its_own_stage(dev: dict[str, Any]) -> None:
    roles = dev["roles"]
    outputs = dev["outputs"]

    def actions(key: str) -> set[str]:
        return {a for s in roles[f"hookway-dev-{key}"]["Statement"] for a in s["Action"]}

    def resources(key: str) -> set[str]:
        return {r for s in roles[f"hookway-dev-{key}"]["Statement"] for r in s["Resource"]}

    # Only the API answers the admin key; it and the router (whose job steps delete a deleted application's
    # endpoints) delete items; the sender and the dead-letter handler delete only a fifo endpoint's ended
    # deliveries from its list (a condition on the partition key); only the sender reads client certificates
    # (and the router, which makes first attempts with the sender's code: router_first_attempt, the default).
    assert "ssm:GetParameter" in actions("api_handler") and "dynamodb:DeleteItem" in actions("api_handler")
    assert "dynamodb:DeleteItem" in actions("route_ingest")
    for key in ("deliver", "dead_letters"):
        deletes = [
            s for s in roles[f"hookway-dev-{key}"]["Statement"] if "dynamodb:DeleteItem" in s["Action"]
        ]
        assert [(s["Action"], s["Condition"]) for s in deletes] == [
            (["dynamodb:DeleteItem"], {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["EP#*#FIFO"]}})
        ], key
    assert "s3:PutObject" not in actions("deliver")  # the router parks large bodies; the sender only reads
    assert "secretsmanager:GetSecretValue" in actions("deliver")
    # The main lane's and the slow lane's: the same sender; the router sends first attempts by default.
    senders = ("deliver", "deliver_slow", "route_ingest")
    assert "secretsmanager:GetSecretValue" in actions("deliver_slow")
    assert not any(a.startswith("secretsmanager") for k in FUNCTIONS if k not in senders for a in actions(k))
    # Each lane consumes only its own queue.
    assert outputs["SlowDeliveriesQueueArn"] not in {
        r
        for s in roles["hookway-dev-deliver"]["Statement"]
        if "sqs:ReceiveMessage" in s["Action"]
        for r in s["Resource"]
    }
    # The dead-letter handler reads and writes attempts, adds to the hourly counters, hands a fifo
    # endpoint's turn on (its list: query, delete; the next task to the deliveries queue) and consumes only
    # its own queue.
    assert actions("dead_letters") == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:Query",
        "dynamodb:DeleteItem",
        "sqs:SendMessage",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",  # a failed record comes back after a short backoff
        "sqs:GetQueueAttributes",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
    assert outputs["DeliveriesDeadLetterQueueArn"] in resources("dead_letters")
    assert outputs["IngestQueueArn"] not in resources("dead_letters")
    # Only the API and the sender may use the secrets key (and the router, which signs its first attempts
    # by default): the stage's own (its ARN names no stage).
    assert {k for k in FUNCTIONS if any(a.startswith("kms:") for a in actions(k))} == {
        "api_handler",
        "deliver",
        "deliver_slow",
        "route_ingest",
    }
    for key in FUNCTIONS:
        for resource in resources(key):
            if resource.startswith("arn:aws:kms:"):
                assert resource == outputs["SecretsKeyArn"], (key, resource)
                continue
            assert resource != "*" and "dev" in resource, (key, resource)
            assert "prod" not in resource


def test_a_rerun_converges_without_duplicate_event_source_mappings(account: str, dev: dict[str, Any]) -> None:
    # GIVEN dev deployed (as far as moto allows) WHEN make deploy runs again
    _deployed_as_far_as_moto_allows(make("deploy", "dev", account))
    again = inventory(account, "dev")
    # THEN there is still exactly one mapping per consumer, and the stack was updated in place
    assert sorted(m["FunctionArn"] for m in again["mappings"]) == sorted(
        m["FunctionArn"] for m in dev["mappings"]
    )
    assert len(again["mappings"]) == 4  # ingest, deliveries, the slow lane, the dead-letter queue
    assert again["stack"]["StackStatus"] in ("UPDATE_COMPLETE", "CREATE_COMPLETE")
    assert again["outputs"] == dev["outputs"]


def test_prod_beside_dev_shares_nothing(account: str, dev: dict[str, Any]) -> None:
    # GIVEN dev WHEN make deploy STAGE=prod runs in the same account and region
    _deployed_as_far_as_moto_allows(make("deploy", "prod", account))
    prod = inventory(account, "prod")

    def identifiers(stage: dict[str, Any]) -> set[str]:
        ids = (
            set(stage["outputs"].values())
            | set(stage["functions"])
            | set(stage["roles"])
            | set(stage["parameters"])
        )
        ids |= {m["EventSourceArn"] for m in stage["mappings"]}
        ids |= {
            c["Environment"]["Variables"]["HOOKWAY_ADMIN_KEY_PARAMETER"] for c in stage["functions"].values()
        }
        return ids

    # THEN no queue, table, bucket, parameter, function, role or mapping source is the other's
    assert identifiers(dev) & identifiers(prod) == set()
    assert len(prod["functions"]) == len(FUNCTIONS) and len(prod["mappings"]) == 4
    for config in prod["functions"].values():
        assert "dev" not in json.dumps(config["Environment"])


def test_both_deploy_paths_give_the_same_runtime_environment_iam_and_api_settings(
    account: str, dev: dict[str, Any], tmp_path: Path
) -> None:
    # GIVEN what make deploy made on moto, and the chalice package path's template for the same stage
    template = yaml.load(package("dev", tmp_path, lint=False).read_text(), Loader=_CfnLoader)
    outputs = dev["outputs"]
    region, account_id = "us-east-1", dev["stack"]["StackId"].split(":")[4]

    def resolve(value: Any) -> Any:
        """The package template's expressions, evaluated against the deployed stack."""
        if isinstance(value, dict) and len(value) == 1:
            ((fn, arg),) = value.items()
            if fn == "Ref":
                return outputs.get(f"{arg}Name") or outputs[f"{arg}Url"]
            if fn == "Fn::GetAtt":
                return outputs[f"{arg[0]}Arn"]
            if fn == "Fn::Sub":
                return arg.replace("${AWS::Region}", region).replace("${AWS::AccountId}", account_id)
            if fn == "Fn::Join":
                return arg[0].join(resolve(v) for v in arg[1])
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        return value

    globals_env = resolve(template["Globals"]["Function"]["Environment"]["Variables"])
    for key, logical in LOGICAL_IDS.items():
        packaged = template["Resources"][logical]["Properties"]
        deployed = dev["functions"][names("dev").function(key)]
        # THEN the runtime, timeout and the whole environment are equal
        assert packaged["Runtime"] == deployed["Runtime"] == "python3.13"
        assert packaged["Timeout"] == deployed["Timeout"]
        assert packaged["MemorySize"] == deployed["MemorySize"] == MEMORY[key]
        assert packaged["Architectures"] == deployed["Architectures"] == ["arm64"]
        # ... the handler: the API function's entry (chalicelib.api.entry), Chalice's own for the others
        assert packaged["Handler"] == deployed["Handler"], key
        assert (deployed["Handler"] == chalice_config.API_HANDLER) == (key == "api_handler"), key
        assert packaged["LoggingConfig"] == chalice_config.logging_config("INFO")  # what deploy applies
        assert {**globals_env, **resolve(packaged["Environment"]["Variables"])} == deployed["Environment"][
            "Variables"
        ]
        # ... and so is the IAM policy, statement for statement
        role = template["Resources"][packaged["Role"]["Fn::GetAtt"][0]]["Properties"]
        [policy] = role["Policies"]
        assert resolve(policy["PolicyDocument"]) == dev["roles"][f"hookway-dev-{key}"]
    # ... the REST API's binary media types and gateway responses: the merge template's definition carries
    # the values the post-deploy step applies (api_gateway.apply, checked on moto below)
    definition = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    assert definition["x-amazon-apigateway-binary-media-types"] == api_gateway.BINARY_MEDIA_TYPES == ["*/*"]
    assert definition["x-amazon-apigateway-gateway-responses"] == api_gateway.gateway_responses()


def test_the_post_deploy_step_sets_what_chalice_cannot_on_a_rest_api(account: str) -> None:
    # GIVEN a REST API in moto, made by hand because moto cannot import Chalice's definition
    client = aws.client("apigateway", account)
    api_id = client.create_rest_api(name="hookway")["id"]
    root = client.get_resources(restApiId=api_id)["items"][0]["id"]
    client.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
    client.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK")
    # WHEN the post-deploy step runs twice (reruns converge)
    api_gateway.apply(client, api_id, "dev")
    api_gateway.apply(client, api_id, "dev")
    # THEN every body is binary, and API Gateway's own answers use Hookway's error shape
    assert client.get_rest_api(restApiId=api_id)["binaryMediaTypes"] == ["*/*"]
    responses = {r["responseType"]: r for r in client.get_gateway_responses(restApiId=api_id)["items"]}
    missing = responses["MISSING_AUTHENTICATION_TOKEN"]
    assert missing["statusCode"] == "404"
    assert json.loads(missing["responseTemplates"]["application/json"]) == {
        "error": {"code": "not_found", "message": "no such route"}
    }
    assert responses["REQUEST_TOO_LARGE"]["statusCode"] == "413"
    assert responses["THROTTLED"]["statusCode"] == "429"
    assert responses["DEFAULT_5XX"]["responseParameters"] == {
        "gatewayresponse.header.Content-Type": "'application/json'"
    }


def test_the_deploy_record_follows_the_stage_not_the_checkout(
    account: str, dev: dict[str, Any], tmp_path: Path
) -> None:
    # GIVEN the record Chalice wrote after a deploy from one checkout, kept in a bucket
    s3 = aws.client("s3", account)
    bucket = f"records-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    first = tmp_path / "laptop"
    (first / ".chalice" / "deployed").mkdir(parents=True)
    record = {"resources": [{"name": "rest_api", "resource_type": "rest_api", "rest_api_id": "a1b2c3"}]}
    (first / ".chalice" / "deployed" / "dev.json").write_text(json.dumps(record))
    assert save_record(s3, bucket, first, "dev")
    # WHEN another checkout (a CI runner, nothing under build/) prepares its deploy
    second = tmp_path / "ci-runner"
    assert restore_record(s3, bucket, second, "dev")
    # THEN Chalice there updates what was deployed instead of creating a second REST API
    assert json.loads((second / ".chalice" / "deployed" / "dev.json").read_text()) == record
    assert not restore_record(s3, bucket, second, "prod")  # no record for a stage never deployed
    # (That the bucket's lifecycle expires only the payload prefixes, never deploy/, is asserted on the
    # template in test_infra: moto's CloudFormation does not apply a bucket's lifecycle configuration.)


def test_make_destroy_removes_a_stage_and_keeps_the_other(account: str, dev: dict[str, Any]) -> None:
    # GIVEN dev and prod (prod deployed by the test above, or now)
    if names("prod").infra_stack not in {
        s["StackName"]
        for s in aws.client("cloudformation", account).list_stacks()["StackSummaries"]
        if s["StackStatus"] != "DELETE_COMPLETE"
    }:
        _deployed_as_far_as_moto_allows(make("deploy", "prod", account))
    # WHEN make destroy STAGE=dev runs
    result = make("destroy", "dev", account)
    assert result.returncode == 0, result.stdout + result.stderr
    # THEN dev's functions, roles, mappings, stack, parameter and (not retained in dev) bucket are gone
    lam = aws.client("lambda", account)
    left = {f["FunctionName"] for f in lam.list_functions()["Functions"]}
    assert not {names("dev").function(k) for k in FUNCTIONS} & left
    assert {names("prod").function(k) for k in FUNCTIONS} <= left
    arns = {m["EventSourceArn"] for m in lam.list_event_source_mappings()["EventSourceMappings"]}
    assert arns and all(":hookway-prod-" in a for a in arns)
    stacks = {
        s["StackName"]
        for s in aws.client("cloudformation", account).list_stacks()["StackSummaries"]
        if s["StackStatus"] != "DELETE_COMPLETE"
    }
    assert names("dev").infra_stack not in stacks and names("prod").infra_stack in stacks
    assert dev["outputs"]["PayloadBucketName"] not in {
        b["Name"] for b in aws.client("s3", account).list_buckets()["Buckets"]
    }
    assert [p["Name"] for p in aws.client("ssm", account).describe_parameters()["Parameters"]] == [
        "/hookway/prod/admin-key"
    ]
