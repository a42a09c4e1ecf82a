"""The infrastructure stack of every stage and option combination: cfn-lint clean, properties asserted,
and deployable on its own (moto's CloudFormation over HTTP: CREATE_COMPLETE, then UPDATE_COMPLETE)."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from chalicelib.names import FUNCTIONS, names
from infra import chalice_config, front, iam
from infra.stack import MAX_RECEIVES, MIB, TIMEOUTS, Options, infrastructure, stage_options
from testkit import aws

MTLS = {
    "mtls_domain": "hooks.example.com",
    "mtls_certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/abc",
    "mtls_truststore_uri": "s3://truststore-bucket/ca.pem",
}
SWITCHES: dict[str, dict[str, Any]] = {
    "http_api": {"http_api": True},
    "function_url": {"function_url": True},
    "mtls": MTLS,
    "static_egress": {"static_egress": True},
    "concurrency": {
        "sender_reserved_concurrency": 20,
        "sender_max_concurrency": 10,
        "api_reserved_concurrency": 250,
        "router_reserved_concurrency": 150,
        "dead_letters_reserved_concurrency": 5,
        "sweep_reserved_concurrency": 1,
        "slow_lane_reserved_concurrency": 5,
        "slow_lane_max_concurrency": 4,
    },
    "warm": {"table_warm_read_units": 30_000, "table_warm_write_units": 20_000},
    "tracing": {"tracing": True},
}
FAKE_OUTPUTS_EXTRA = {
    "PrivateSubnetIds": "subnet-1,subnet-2",
    "SenderSecurityGroupId": "sg-1",
    "EgressIps": "198.51.100.1,198.51.100.2",
}


def combinations() -> list[tuple[str, tuple[str, ...], Options]]:
    """Every stage x option combination that the options allow (http_api with mTLS is refused)."""
    out = []
    for stage in ("dev", "prod"):
        for size in range(len(SWITCHES) + 1):
            for combo in itertools.combinations(SWITCHES, size):
                if {"http_api", "mtls"} <= set(combo):
                    continue
                fields: dict[str, Any] = {}
                for switch in combo:
                    fields.update(SWITCHES[switch])
                out.append((stage, combo, replace(stage_options(stage), **fields).check()))
    return out


COMBOS = combinations()


def _outputs_for(stage: str, opts: Options) -> dict[str, str]:
    """Outputs as the stack would report them (names shaped like CloudFormation's)."""
    n = names(stage)
    out = {
        "StateTableName": f"{n.infra_stack}-StateTable-X",
        "StateTableArn": f"arn:aws:dynamodb:us-east-1:123456789012:table/{n.infra_stack}-StateTable-X",
        "PayloadBucketName": f"{n.infra_stack}-payloadbucket-x",
        "PayloadBucketArn": f"arn:aws:s3:::{n.infra_stack}-payloadbucket-x",
        "SecretsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555",
    }
    for logical, queue in (
        ("IngestQueue", n.ingest_queue),
        ("DeliveriesQueue", n.deliveries_queue),
        ("SlowDeliveriesQueue", n.slow_deliveries_queue),
        ("DeliveriesDeadLetterQueue", n.deliveries_dlq),
    ):
        out[f"{logical}Url"] = f"https://sqs.us-east-1.amazonaws.com/123456789012/{queue}"
        out[f"{logical}Arn"] = f"arn:aws:sqs:us-east-1:123456789012:{queue}"
    if opts.static_egress:
        out.update(FAKE_OUTPUTS_EXTRA)
    return out


def test_every_combination_is_cfn_lint_clean(tmp_path: Path) -> None:
    # GIVEN the infrastructure stack and the front stack of every stage and option combination
    # (352 templates, 18 of them distinct today: each distinct one is written once, cfn-lint's answer on a
    # template depends only on its text)
    templates: dict[str, Path] = {}
    total = 0

    def write(kind: str, i: int, template: dict[str, Any]) -> None:
        nonlocal total
        total += 1
        key = json.dumps(template, sort_keys=True)
        if key not in templates:
            templates[key] = tmp_path / f"{kind}-{i}.json"
            templates[key].write_text(json.dumps(template))

    for i, (stage, _combo, opts) in enumerate(COMBOS):
        write("infra", i, infrastructure(stage, opts))
        fronted = front.template(
            names(stage),
            opts,
            rest_api_id="a1b2c3d4e5",
            function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:hookway-{stage}",
        )
        if fronted is not None:
            write("front", i, fronted)
    files = list(templates.values())
    # WHEN cfn-lint checks them all
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), *map(str, files)],
        check=False,
        capture_output=True,
        text=True,
    )
    # THEN it finds nothing
    assert result.returncode == 0, result.stdout + result.stderr
    assert total > len(COMBOS) and len(files) > 2  # front stacks too, and the options change the stacks


def _consumers() -> dict[str, str]:
    return {
        "IngestQueue": "route_ingest",
        "DeliveriesQueue": "deliver",
        "SlowDeliveriesQueue": "deliver_slow",  # the slow lane: the same redrive as the main lane
        "DeliveriesDeadLetterQueue": "dead_letters",
    }


@pytest.mark.parametrize(
    ("stage", "combo", "opts"), COMBOS, ids=[f"{s}-{'+'.join(c) or 'default'}" for s, c, _ in COMBOS]
)
def test_properties_hold_in_every_combination(stage: str, combo: tuple[str, ...], opts: Options) -> None:
    # GIVEN one combination's stack, Chalice configuration and policies
    n = names(stage)
    template = infrastructure(stage, opts)
    resources = template["Resources"]
    outputs = _outputs_for(stage, opts)
    config = chalice_config.config_for(n, opts, outputs=outputs)["stages"][stage]
    policies = iam.policies(
        n,
        iam.from_outputs(outputs, "us-east-1", "123456789012"),
        vpc_sender=opts.static_egress,
        tracing=opts.tracing,
    )

    # THEN every queue has an explicit 1 MiB limit, consumed queues a DLQ, visibility >= 6x the consumer
    queues = {k: r["Properties"] for k, r in resources.items() if r["Type"] == "AWS::SQS::Queue"}
    assert len(queues) == 6  # ingest, deliveries, the slow lane, two dead-letter queues, the parked DLQ
    for props in queues.values():
        assert props["MaximumMessageSize"] == MIB
        assert props["QueueName"].startswith(f"hookway-{stage}-")
    for queue, function in _consumers().items():
        props = queues[queue]
        assert props["VisibilityTimeout"] >= 6 * TIMEOUTS[function]
        assert config["lambda_functions"][function]["lambda_timeout"] == TIMEOUTS[function]
        dlq = queues[props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]]
        assert dlq["MessageRetentionPeriod"] > props["MessageRetentionPeriod"]
        assert props["RedrivePolicy"]["maxReceiveCount"] == (
            MAX_RECEIVES + 10 if queue == "DeliveriesDeadLetterQueue" else MAX_RECEIVES
        )
    # ... the table has TTL and point-in-time recovery, the bucket encryption and a public access block
    table = resources["StateTable"]
    assert table["Properties"]["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert (
        "TableName" not in table["Properties"]
    )  # generated from the stack's name: a retained one never clashes
    bucket = resources["PayloadBucket"]["Properties"]
    assert "BucketName" not in bucket
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    rules = bucket["LifecycleConfiguration"]["Rules"]
    assert {r["Prefix"] for r in rules} == {"ingest/", "messages/"}  # never deploy/ (Chalice's record)
    assert {r["ExpirationInDays"] for r in rules} == {35}
    expected_policy = "Retain" if opts.retain_data else "Delete"
    assert (
        resources["StateTable"]["DeletionPolicy"]
        == resources["PayloadBucket"]["DeletionPolicy"]
        == expected_policy
    )
    # ... every function has a log group with the stage's retention
    groups = {
        r["Properties"]["LogGroupName"]: r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Logs::LogGroup"
    }
    assert set(groups) == {n.log_group(k) for k in FUNCTIONS}
    assert {g["RetentionInDays"] for g in groups.values()} == {opts.log_retention_days}
    # ... the alarms: DLQs not empty, ingest 5xx, delivery failure rate, oldest message, errors and throttles
    alarms = {k for k, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert {
        "IngestDeadLetterQueueNotEmpty",
        "DeliveriesDeadLetterQueueNotEmpty",
        "ParkedDeadLetterQueueNotEmpty",
        "Ingest5xx",
        "DeliveryFailureRate",
        "DeadLettered",
        "IngestQueueOldMessage",
        "DeliveriesQueueOldMessage",
        "SlowDeliveriesQueueOldMessage",
        "SlowDeliveriesQueueInFlight",
    } <= alarms
    for key in FUNCTIONS:
        camel = "".join(p.capitalize() for p in key.split("_"))
        assert {f"{camel}Errors", f"{camel}Throttles"} <= alarms
    assert resources["Dashboard"]["Properties"]["DashboardName"] == f"hookway-{stage}"
    # ... IAM: no wildcard action; data services only on this stage's ARNs with account and region
    for key, policy in policies.items():
        for statement in policy["Statement"]:
            assert all(a != "*" and not a.endswith(":*") for a in statement["Action"]), (key, statement)
            services = {a.split(":")[0] for a in statement["Action"]}
            if "kms" in services:
                continue  # below: only the stage's key, only with its encryption context
            if services & {"dynamodb", "sqs", "s3", "ssm", "secretsmanager", "logs"}:
                for resource in statement["Resource"]:
                    assert resource != "*" and re.search(rf"hookway[-/]{stage}[-/:]", resource), resource
                    if not resource.startswith("arn:aws:s3"):
                        assert ":us-east-1:123456789012:" in resource, resource
            else:
                assert services <= {"ec2", "xray"}, statement  # services AWS cannot scope to a resource
    # ... secrets at rest: the stage's KMS key rotates, has an alias, refuses use without the stage's
    # context; only the API (seal and open) and the sender (open) may use it, and only that key
    key = resources["SecretsKey"]
    assert key["Properties"]["EnableKeyRotation"] is True and key["DeletionPolicy"] == expected_policy
    deny = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if s["Effect"] == "Deny"]
    assert deny and deny[0]["Condition"] == {
        "StringNotEquals": {"kms:EncryptionContext:hookway:stage": stage}
    }
    assert resources["SecretsKeyAlias"]["Properties"]["AliasName"] == f"alias/hookway-{stage}-secrets"
    assert config["environment_variables"]["HOOKWAY_KMS_KEY_ID"] == outputs["SecretsKeyArn"]
    key_use = {
        fn: sorted(a for st in policy["Statement"] for a in st["Action"] if a.startswith("kms:"))
        for fn, policy in policies.items()
    }
    assert key_use == {
        "api_handler": ["kms:Decrypt", "kms:GenerateDataKey"],
        "route_ingest": [],
        "deliver": ["kms:Decrypt"],
        "deliver_slow": ["kms:Decrypt"],
        "dead_letters": [],
        "sweep": [],
    }
    for policy in (policies["api_handler"], policies["deliver"]):
        [statement] = [st for st in policy["Statement"] if st["Sid"] == "SecretsKey"]
        assert statement["Resource"] == [outputs["SecretsKeyArn"]]
        assert statement["Condition"] == {"StringEquals": {"kms:EncryptionContext:hookway:stage": stage}}
    # ... and each option shows up exactly when it is on
    assert ("Vpc" in resources) is opts.static_egress
    deliver = config["lambda_functions"]["deliver"]
    if opts.static_egress:
        assert [k for k, r in resources.items() if r["Type"] == "AWS::EC2::NatGateway"] == [
            "NatGateway0",
            "NatGateway1",
        ]
        assert deliver["subnet_ids"] == ["subnet-1", "subnet-2"] and deliver["security_group_ids"] == ["sg-1"]
        slow_lane = config["lambda_functions"]["deliver_slow"]  # the same egress IPs as the main lane
        assert slow_lane["subnet_ids"] == deliver["subnet_ids"]
        assert "EgressIps" in template["Outputs"]
        assert config["lambda_functions"]["api_handler"]["environment_variables"]["HOOKWAY_EGRESS_IPS"]
    else:
        assert "subnet_ids" not in deliver
        assert not any(s["Sid"] == "VpcNetworkInterfaces" for s in policies["deliver"]["Statement"])
    reserved = {key: fn.get("reserved_concurrency") for key, fn in config["lambda_functions"].items()}
    assert reserved == (
        {
            "api_handler": 250,
            "route_ingest": 150,
            "deliver": 20,
            "deliver_slow": 5,
            "dead_letters": 5,
            "sweep": 1,
        }
        if "concurrency" in combo
        else dict.fromkeys(reserved)
    )
    table = resources["StateTable"]["Properties"]
    warm = {"ReadUnitsPerSecond": 30_000, "WriteUnitsPerSecond": 20_000} if "warm" in combo else None
    assert table.get("WarmThroughput") == warm
    assert all(index.get("WarmThroughput") == warm for index in table["GlobalSecondaryIndexes"])
    assert config["environment_variables"].get("HOOKWAY_SENDER_MAX_CONCURRENCY") == (
        "10" if "concurrency" in combo else None
    )
    assert config["xray"] is opts.tracing
    fronted = front.resources(n, opts, rest_api_id="api", function_arn="fn")
    assert ("HttpApi" in fronted) is opts.http_api
    if opts.http_api:
        routes = {
            r["Properties"]["RouteKey"] for r in fronted.values() if r["Type"] == "AWS::ApiGatewayV2::Route"
        }
        assert routes == {"POST /in/{source_id}", "GET /in/{source_id}"}  # the management API stays on REST
        assert fronted["HttpApiIntegration"]["Properties"]["PayloadFormatVersion"] == "1.0"
    assert ("FunctionUrl" in fronted) is opts.function_url
    if opts.function_url:
        url = fronted["FunctionUrl"]["Properties"]
        # ... public (each source verifies its senders; publish checks its bearer credential), CORS off,
        # on the API function, which answers only /in/{source_id} and POST /v1/messages from it
        assert url == {"TargetFunctionArn": "fn", "AuthType": "NONE", "InvokeMode": "BUFFERED"}
        grants = {
            r["Properties"]["Action"]: r["Properties"]
            for r in fronted.values()
            if r["Type"] == "AWS::Lambda::Permission"
            and r["Properties"]["FunctionName"] == "fn"
            and r["Properties"]["Principal"] == "*"
        }
        assert grants["lambda:InvokeFunctionUrl"]["FunctionUrlAuthType"] == "NONE"
        assert grants["lambda:InvokeFunction"]["InvokedViaFunctionUrl"] is True
        assert front.outputs(opts)["FunctionUrlIngestUrl"] == {
            "Value": {"Fn::Sub": "${FunctionUrl.FunctionUrl}in/"}
        }
        assert front.outputs(opts)["FunctionUrlPublishUrl"] == {
            "Value": {"Fn::Sub": "${FunctionUrl.FunctionUrl}v1/messages"}
        }
    else:
        assert not any(k.startswith("FunctionUrl") for k in front.outputs(opts))
    assert ("IngestDomain" in fronted) is bool(opts.mtls_domain)
    if opts.mtls_domain:
        domain = fronted["IngestDomain"]["Properties"]
        assert domain["MutualTlsAuthentication"]["TruststoreUri"] == MTLS["mtls_truststore_uri"]
        assert domain["SecurityPolicy"] == "TLS_1_2"


@pytest.mark.parametrize(
    "fields",
    [
        {"api_reserved_concurrency": -1},
        {"sender_reserved_concurrency": 10, "sender_max_concurrency": 20},  # the mapping would be throttled
        {"table_warm_read_units": 12_000},  # reads and writes go together
        {"table_warm_read_units": 1_000, "table_warm_write_units": 4_000},  # below a new table's own
        {"table_warm_read_units": 12_000, "table_warm_write_units": 500_000},
    ],
)
def test_inconsistent_capacity_options_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Options(**fields).check()


def test_alarms_page_on_in_flight_messages_and_on_throttling_of_the_table_and_every_index() -> None:
    # GIVEN a stage's stack
    resources = infrastructure("dev", Options())["Resources"]
    # THEN each consumed queue pages when its in-flight count climbs, well below SQS's ~120,000 cap
    for queue in ("IngestQueue", "DeliveriesQueue", "SlowDeliveriesQueue"):
        alarm = resources[f"{queue}InFlight"]["Properties"]
        assert alarm["Namespace"] == "AWS/SQS"
        assert alarm["MetricName"] == "ApproximateNumberOfMessagesNotVisible"
        assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": [queue, "QueueName"]}
        assert 0 < alarm["Threshold"] <= 120_000 / 4
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]

    def watched(name: str) -> list[dict[str, str]]:
        metrics = resources[name]["Properties"]["Metrics"]
        assert [m["Id"] for m in metrics if m.get("ReturnData")] == ["total"]
        return [
            {d["Name"]: d["Value"] for d in m["MetricStat"]["Metric"]["Dimensions"]}
            | {"metric": m["MetricStat"]["Metric"]["MetricName"]}
            for m in metrics
            if "MetricStat" in m
        ]

    # ... the table's throttled requests, for every operation a function's policy grants
    table = {"Ref": "StateTable"}
    operations = {d["Operation"] for d in watched("StateTableThrottledRequests")}
    granted = {a.split(":")[1] for a in (*iam.DYNAMO_READ, *iam.DYNAMO_WRITE, "dynamodb:DeleteItem")}
    assert granted | {"TransactWriteItems"} <= operations
    assert all(d["TableName"] == table for d in watched("StateTableThrottledRequests"))
    # ... and write throttle events of the table and of each of its indexes (GSI back-pressure)
    indexes = {i["IndexName"] for i in resources["StateTable"]["Properties"]["GlobalSecondaryIndexes"]}
    events = watched("StateTableWriteThrottles")
    assert {d.get("GlobalSecondaryIndexName", "") for d in events} == indexes | {""}
    assert {d["metric"] for d in events} == {"WriteThrottleEvents"}
    assert len(events) <= 9  # a metric-math alarm takes at most 10 metrics, the expression included


def test_http_api_and_mtls_together_are_refused() -> None:
    # GIVEN both front door options WHEN checked THEN refused: the HTTP API would bypass mTLS
    with pytest.raises(ValueError, match="bypass"):
        Options(http_api=True, **MTLS).check()


def _wait(cfn: Any, stack: str) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
        if not status.endswith("_IN_PROGRESS"):
            return str(status)
        time.sleep(0.2)
    raise AssertionError(f"{stack} did not settle")


def test_the_stack_deploys_on_its_own_and_updates(endpoint: str) -> None:
    # GIVEN moto's CloudFormation and the standalone stack of a stage called "ci"
    cfn = aws.client("cloudformation", endpoint)
    stack = names("ci").infra_stack
    # WHEN it is created (with launch-day warm throughput on the table and its indexes)
    warm = {"table_warm_read_units": 12_000, "table_warm_write_units": 4_000}
    cfn.create_stack(
        StackName=stack,
        TemplateBody=json.dumps(infrastructure("ci", Options(log_retention_days=14, **warm))),
    )
    # THEN it completes, and the queues exist under the stage's names with their attributes
    assert _wait(cfn, stack) == "CREATE_COMPLETE"
    sqs = aws.client("sqs", endpoint)
    url = sqs.get_queue_url(QueueName="hookway-ci-deliveries")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["MaximumMessageSize"] == str(MIB) and attrs["VisibilityTimeout"] == "720"
    logs = aws.client("logs", endpoint)
    group = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/hookway-ci-deliver")["logGroups"][0]
    assert group["retentionInDays"] == 14

    # WHEN a change is deployed (the static egress option: a VPC, NAT gateways, Elastic IPs)
    changed = infrastructure(
        "ci",
        Options(log_retention_days=14, static_egress=True, **warm),
    )
    cfn.update_stack(StackName=stack, TemplateBody=json.dumps(changed))
    # THEN the update completes and the new resources report their outputs
    assert _wait(cfn, stack) == "UPDATE_COMPLETE"
    outputs = {
        o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]
    }
    assert len(outputs["EgressIps"].split(",")) == 2
    assert len(outputs["PrivateSubnetIds"].split(",")) == 2


@pytest.mark.parametrize("egress", [False, True], ids=["public", "static_egress"])
def test_a_router_that_makes_first_attempts_gets_the_senders_grants_and_network(egress: bool) -> None:
    # GIVEN a stage with router_first_attempt on (with and without static egress)
    stage = "prod"
    opts = replace(stage_options(stage), router_first_attempt=True, static_egress=egress).check()
    n = names(stage)
    outputs = _outputs_for(stage, opts)
    config = chalice_config.config_for(n, opts, outputs=outputs)["stages"][stage]
    arns = iam.from_outputs(outputs, "us-east-1", "123456789012")
    policies = iam.policies(n, arns, vpc_sender=egress, router_sends=True)
    plain = iam.policies(n, arns, vpc_sender=egress)
    # THEN the router reads the setting, opens secrets to sign and reads client certificates, as the sender
    assert config["environment_variables"]["HOOKWAY_ROUTER_FIRST_ATTEMPT"] == "true"
    sids = {s["Sid"] for s in policies["route_ingest"]["Statement"]}
    assert {"SecretsKey", "ClientCertificates", "ClientCertificateParameters"} <= sids
    assert not {"SecretsKey", "ClientCertificates"} & {s["Sid"] for s in plain["route_ingest"]["Statement"]}
    # AND its POSTs leave where the sender's do: the private subnets behind the Elastic IPs
    router = config["lambda_functions"]["route_ingest"]
    assert ("VpcNetworkInterfaces" in sids) is egress
    assert (router.get("subnet_ids"), router.get("security_group_ids")) == (
        (["subnet-1", "subnet-2"], ["sg-1"]) if egress else (None, None)
    )
    # AND the other functions are as without it
    assert {k: v for k, v in policies.items() if k != "route_ingest"} == {
        k: v for k, v in plain.items() if k != "route_ingest"
    }
    # AND it is the default; a stage that turns it off says so to the router (whose own default is on)
    assert Options().router_first_attempt is True
    off = chalice_config.config_for(n, replace(opts, router_first_attempt=False), outputs=outputs)
    assert off["stages"][stage]["environment_variables"]["HOOKWAY_ROUTER_FIRST_ATTEMPT"] == "false"
    # AND the router's timeout is the sender's (its batch makes the sender's POSTs)
    assert router["lambda_timeout"] == config["lambda_functions"]["deliver"]["lambda_timeout"]
