"""One IAM policy per function: only the actions it uses, only on its own stage's resources.

The same function builds the policies for both deploy paths: with the ARNs the infrastructure stack
reported (``make deploy``), or with CloudFormation references to the merged resources (``make package``),
so the two cannot grant different things. Account, region and stage are in every ARN; no data service gets
a ``*`` resource (the VPC's network-interface actions and X-Ray's cannot be scoped by AWS).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.names import FUNCTIONS, Names

# What each function calls, checked against the calls its handler really makes on moto
# (tests/integration/test_iam_calls.py).
DYNAMO_READ = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"]
DYNAMO_WRITE = ["dynamodb:PutItem", "dynamodb:UpdateItem"]
# ChangeMessageVisibility: a failed record comes back after a short backoff (chalicelib.aws.batch).
CONSUME = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
VPC_ACCESS = [
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
]


@dataclass(frozen=True)
class Arns:
    """The ARNs policies name: literal strings (from stack outputs) or CloudFormation expressions."""

    region: str
    account: str
    ingest_queue: Any
    deliveries_queue: Any
    deliveries_dlq: Any
    table: Any
    bucket: Any
    key: Any = None  # the KMS key that seals secrets (None: a stack from before it existed)
    slow_deliveries_queue: Any = None  # the slow lane (None: a stack from before it existed)

    def sub(self, text: str) -> Any:
        """An ARN with ``{region}`` and ``{account}`` filled in (a Fn::Sub when they are expressions)."""
        value = text.format(region=self.region, account=self.account)
        return {"Fn::Sub": value} if "${" in value else value

    def index(self) -> Any:
        """The table's index."""
        if isinstance(self.table, str):
            return f"{self.table}/index/*"
        return {"Fn::Join": ["", [self.table, "/index/*"]]}

    def objects(self) -> Any:
        """The bucket's objects."""
        if isinstance(self.bucket, str):
            return f"{self.bucket}/*"
        return {"Fn::Join": ["", [self.bucket, "/*"]]}


def for_template(n: Names) -> Arns:
    """ARNs as references to the resources of a merged template."""
    return Arns(
        region="${AWS::Region}",
        account="${AWS::AccountId}",
        ingest_queue={"Fn::GetAtt": ["IngestQueue", "Arn"]},
        deliveries_queue={"Fn::GetAtt": ["DeliveriesQueue", "Arn"]},
        deliveries_dlq={"Fn::GetAtt": ["DeliveriesDeadLetterQueue", "Arn"]},
        table={"Fn::GetAtt": ["StateTable", "Arn"]},
        bucket={"Fn::GetAtt": ["PayloadBucket", "Arn"]},
        key={"Fn::GetAtt": ["SecretsKey", "Arn"]},
        slow_deliveries_queue={"Fn::GetAtt": ["SlowDeliveriesQueue", "Arn"]},
    )


def from_outputs(outputs: dict[str, str], region: str, account: str) -> Arns:
    """ARNs from the infrastructure stack's outputs."""
    return Arns(
        region=region,
        account=account,
        ingest_queue=outputs["IngestQueueArn"],
        deliveries_queue=outputs["DeliveriesQueueArn"],
        deliveries_dlq=outputs["DeliveriesDeadLetterQueueArn"],
        table=outputs["StateTableArn"],
        bucket=outputs["PayloadBucketArn"],
        key=outputs.get("SecretsKeyArn"),
        slow_deliveries_queue=outputs.get("SlowDeliveriesQueueArn"),
    )


def _statement(sid: str, actions: list[str], resources: list[Any]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resources}


def _fifo_delete(table: list[Any]) -> dict[str, Any]:
    """Deleting a fifo endpoint's ended deliveries from its list (``EP#{id}#FIFO``), and no other item."""
    statement = _statement("FifoListDelete", ["dynamodb:DeleteItem"], table)
    statement["Condition"] = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["EP#*#FIFO"]}}
    return statement


def _batch_write(table: list[Any], sid: str, keys: list[str]) -> dict[str, Any]:
    """BatchWriteItem of a batch's packed items (``LIST#``, ``RES#``), on those partition keys only."""
    statement = _statement(sid, ["dynamodb:BatchWriteItem"], table)
    statement["Condition"] = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": keys}}
    return statement


def _key(n: Names, arns: Arns, actions: list[str]) -> list[dict[str, Any]]:
    """The use of the secrets key, only with this stage's encryption context (chalicelib.aws.kms)."""
    if arns.key is None:
        return []
    statement = _statement("SecretsKey", actions, [arns.key])
    statement["Condition"] = {"StringEquals": {"kms:EncryptionContext:hookway:stage": n.stage}}
    return [statement]


def _sending(n: Names, arns: Arns) -> list[dict[str, Any]]:
    """What a function that POSTs deliveries needs beyond its state: the secrets key and client certs."""
    return [
        # Opens an endpoint's secrets to sign (it never writes one: no GenerateDataKey).
        *_key(n, arns, ["kms:Decrypt"]),
        # Outbound mTLS: client certificates kept under the stage's own names.
        _statement(
            "ClientCertificates",
            ["secretsmanager:GetSecretValue"],
            [arns.sub(f"arn:aws:secretsmanager:{{region}}:{{account}}:secret:{n.secret_prefix}*")],
        ),
        _statement(
            "ClientCertificateParameters",
            ["ssm:GetParameter"],
            [arns.sub(f"arn:aws:ssm:{{region}}:{{account}}:parameter{n.parameter_path}certs/*")],
        ),
    ]


def policies(
    n: Names,
    arns: Arns,
    *,
    vpc_sender: bool = False,
    tracing: bool = False,
    router_sends: bool = False,
) -> dict[str, dict[str, Any]]:
    """Chalice function key -> its policy document (``router_sends``: the router makes first attempts
    itself, stage option ``router_first_attempt``, so it gets the sender's grants and network)."""
    table = [arns.table, arns.index()]
    out: dict[str, dict[str, Any]] = {}
    for key in FUNCTIONS:
        logs = _statement(
            "OwnLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [arns.sub(f"arn:aws:logs:{{region}}:{{account}}:log-group:{n.log_group(key)}:*")],
        )
        statements = [logs]
        if key == "api_handler":
            statements += [
                _statement("State", [*DYNAMO_READ, *DYNAMO_WRITE, "dynamodb:DeleteItem"], table),
                # Ingest and publish enqueue on ingest; resend and recover on deliveries.
                _statement("Enqueue", ["sqs:SendMessage"], [arns.ingest_queue, arns.deliveries_queue]),
                _statement("Payloads", ["s3:GetObject", "s3:PutObject"], [arns.objects()]),
                # Without ListBucket a missing object answers 403, which the claim check reads as an outage.
                _statement("PayloadsMissingIs404", ["s3:ListBucket"], [arns.bucket]),
                _statement(
                    "AdminKey",
                    ["ssm:GetParameter"],
                    [arns.sub(f"arn:aws:ssm:{{region}}:{{account}}:parameter{n.admin_key_parameter}")],
                ),
            ]
            # Seals the secrets it stores; opens them to verify webhooks (/in), sign a listen session's
            # deliveries and show a secret once.
            statements += _key(n, arns, ["kms:GenerateDataKey", "kms:Decrypt"])
        elif key == "route_ingest":
            statements += [
                # Endpoints are read with a query and a batch get (a test event's one endpoint with a get);
                # a duplicate is the failed conditional put; a batch's packed listing items one batch
                # write; the hourly counters one update a second at most.
                # Job steps (chalicelib.jobs) share the ingest queue: they delete an application's
                # endpoints, read attempts and messages, save the job, and queue their next step there;
                # an endpoint's release job reads and batch-deletes the tasks its open circuit held.
                _statement(
                    "State",
                    [
                        "dynamodb:Query",
                        "dynamodb:BatchGetItem",
                        "dynamodb:GetItem",
                        "dynamodb:PutItem",
                        "dynamodb:UpdateItem",
                        "dynamodb:DeleteItem",
                    ],
                    table,
                ),
                _batch_write(table, "RouterListings", ["LIST#*", "HOLD#*"]),  # HOLD#: release jobs
                _statement("Consume", CONSUME, [arns.ingest_queue]),
                _statement("Fanout", ["sqs:SendMessage"], [arns.deliveries_queue]),
                _statement("NextJobStep", ["sqs:SendMessage"], [arns.ingest_queue]),
                # Reads claim-checked bodies; parks inline bodies too big for a DynamoDB item.
                _statement("Payloads", ["s3:GetObject", "s3:PutObject"], [arns.objects()]),
                _statement("PayloadsMissingIs404", ["s3:ListBucket"], [arns.bucket]),
            ]
            if router_sends:
                statements += _sending(n, arns)
                if arns.slow_deliveries_queue is not None:  # a failing endpoint's retry takes the slow lane
                    statements.append(
                        _statement("RetryLane", ["sqs:SendMessage"], [arns.slow_deliveries_queue])
                    )
                if vpc_sender:
                    statements.append(_statement("VpcNetworkInterfaces", VPC_ACCESS, ["*"]))
        elif key in ("deliver", "deliver_slow"):
            statements += [
                # Item reads (message, endpoint, attempt; a batch's endpoints in one BatchGetItem); claim and
                # result puts; endpoint health, circuit and throttle updates; parked and held tasks (put);
                # a fifo endpoint's list (its head by query; an ended delivery's entry deleted, the only
                # delete the sender may make); a batch's result and endpoint listing items, and the held
                # task that carries the next probe after a failed one (BatchWriteItem, those keys only).
                _statement(
                    "State",
                    ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", *DYNAMO_WRITE],
                    table,
                ),
                _fifo_delete(table),
                _batch_write(table, "SenderBatchItems", ["RES#*", "LIST#EP#*", "HOLD#*"]),
                # Each consumes its own lane (the main deliveries queue, or the slow lane).
                _statement(
                    "Consume",
                    CONSUME,
                    [arns.deliveries_queue if key == "deliver" else arns.slow_deliveries_queue],
                )
                if key == "deliver" or arns.slow_deliveries_queue is not None
                else _statement("Consume", CONSUME, [arns.deliveries_queue]),
                # The next attempt on deliveries or the slow lane; operational events and an endpoint's
                # release jobs (endpoint.disabled, endpoint.release, ...) on ingest.
                _statement(
                    "Enqueue",
                    ["sqs:SendMessage"],
                    [
                        arns.deliveries_queue,
                        *([arns.slow_deliveries_queue] if arns.slow_deliveries_queue is not None else []),
                        arns.ingest_queue,
                    ],
                ),
                _statement("Payloads", ["s3:GetObject"], [arns.objects()]),
                _statement("PayloadsMissingIs404", ["s3:ListBucket"], [arns.bucket]),
                *_sending(n, arns),
            ]
            if vpc_sender:
                statements.append(_statement("VpcNetworkInterfaces", VPC_ACCESS, ["*"]))
        elif key == "dead_letters":
            statements += [
                # The message and attempt; the failed attempt; the hourly counters (one update per batch);
                # a fifo endpoint's list: the ended delivery leaves it, the turn goes to its head.
                _statement(
                    "State",
                    ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"],
                    table,
                ),
                _fifo_delete(table),
                _statement("Consume", CONSUME, [arns.deliveries_dlq]),
                _statement("FifoTurn", ["sqs:SendMessage"], [arns.deliveries_queue]),
            ]
        elif key == "sweep":
            statements += [
                # The attention index by query and batch get; its checkpoint (get, put); disabling; the
                # parked delivery tasks (query, batch delete) it releases to the deliveries queue.
                _statement(
                    "State",
                    [
                        "dynamodb:Query",
                        "dynamodb:BatchGetItem",
                        "dynamodb:GetItem",
                        "dynamodb:BatchWriteItem",
                        *DYNAMO_WRITE,
                    ],
                    table,
                ),
                _statement("OperationalEvents", ["sqs:SendMessage"], [arns.ingest_queue]),
                _statement("ReleaseParked", ["sqs:SendMessage"], [arns.deliveries_queue]),
            ]
        if tracing:
            statements.append(
                _statement("Tracing", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"])
            )
        out[key] = {"Version": "2012-10-17", "Statement": statements}
    return out
