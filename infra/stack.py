"""The infrastructure stack of one stage, as a CloudFormation template built from the stage and its options.

One builder serves three uses, so they cannot drift apart:

* ``make deploy`` creates it as a standalone stack (``hookway-<stage>-infra``) before ``chalice deploy``;
* ``make package`` merges the same resources into Chalice's SAM template (``infra/package.py``);
* the local stack deploys it to the emulator's CloudFormation (``local/emulator.py``).

Every name derives from the stage (``chalicelib.names``); the table and the bucket get names CloudFormation
generates from the stack's, so a stage whose data was retained can be deployed again without a name clash.
The network options are all off by default: static egress IPs (a VPC whose private subnets reach the
internet through NAT gateways with Elastic IPs), sender concurrency limits, and the front doors that need
the API's function or REST API to exist first (HTTP API, mutual-TLS custom domain: ``infra/front.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from chalicelib.names import Names, names

ROOT = Path(__file__).resolve().parent.parent
STAGES_FILE = ROOT / "infra" / "stages.json"
MIB = 1024 * 1024
DAY = 86400
# The functions' timeouts (also written into Chalice's configuration by infra/chalice_config.py).
TIMEOUTS = {
    "api_handler": 30,
    # The router's is the sender's: it makes first attempts (router_first_attempt, on by default) with the
    # sender's code, and the deliveries' lease (150 s) must outlast either.
    "route_ingest": 120,
    "deliver": 120,
    "deliver_slow": 120,
    "dead_letters": 30,
    "sweep": 300,
}
# Memory per function in MB, chosen from what each one measured on the local pipeline (peak RSS, and CPU
# time per batch against the share of a vCPU Lambda gives at that size): docs/cost.md, "Memory per
# function", has the method and the figures; bench figure 18 measures them again.
MEMORY = {
    "api_handler": 512,
    "route_ingest": 256,
    "deliver": 256,
    "deliver_slow": 256,
    "dead_letters": 256,
    "sweep": 256,
}
# The instruction set every function runs on (the stage option ``architecture``), and the wheels'
# platform tag the package is built with for it.
ARCHITECTURES = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}
# A failed record comes back after a backoff of 2 s doubling to 60 s (chalicelib.aws.batch.retry_delay), not
# after the visibility timeout: 80 receives keep a record on its queue for at least an hour of failures
# (retry_window(80) >= 3600 s, tested) before its dead-letter queue takes it.
MAX_RECEIVES = 80
# Where the payload bucket keeps claim-checked bodies (chalicelib's ingest and routing) and, apart from
# them, Chalice's record of what ``make deploy`` deployed (so any checkout or CI runner updates in place).
PAYLOAD_PREFIXES = ("ingest/", "messages/")
DEPLOY_PREFIX = "deploy/"
LOG_RETENTION_VALUES = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653)

Template = dict[str, Any]
# Which stage option reserves each function's concurrency (infra/chalice_config.py writes it into Chalice's
# ``reserved_concurrency``, which becomes the function's ReservedConcurrentExecutions).
RESERVED_CONCURRENCY = {
    "api_handler": "api_reserved_concurrency",
    "route_ingest": "router_reserved_concurrency",
    "deliver": "sender_reserved_concurrency",
    "deliver_slow": "slow_lane_reserved_concurrency",
    "dead_letters": "dead_letters_reserved_concurrency",
    "sweep": "sweep_reserved_concurrency",
}
MAX_WARM_UNITS = 400_000


@dataclass(frozen=True)
class Options:
    """What a stage may switch on; everything costly is off by default."""

    log_retention_days: int = 30
    # Graviton by default (20 % less per GB-second, same speed for this code); x86_64 for a stage that
    # needs it (a native dependency without an aarch64 wheel, a layer built for x86 only).
    architecture: str = "arm64"
    retain_data: bool = True  # keep the table and the bucket when the stage is destroyed
    tracing: bool = False  # X-Ray through the Powertools Tracer (not even imported when off)
    http_api: bool = (
        False  # an HTTP API in front of POST /in/{source_id} ($1.00 instead of $3.50 per million)
    )
    # A Lambda function URL in front of POST/GET /in/{source_id} and POST /v1/messages (no request price;
    # no WAF without CloudFront, no mTLS: sources that need mTLS stay on the REST API's domain).
    function_url: bool = False
    mtls_domain: str = ""  # a custom domain with a truststore; the execute-api endpoint is then disabled
    mtls_certificate_arn: str = ""  # the ACM certificate of that domain (same region)
    mtls_truststore_uri: str = ""  # s3://bucket/key of the CA bundle clients are checked against
    static_egress: bool = False  # the sender in private subnets behind NAT gateways with Elastic IPs
    sender_reserved_concurrency: int = 0  # 0: no reservation
    sender_max_concurrency: int = 0  # the event source mapping's maximum concurrency; 0: unlimited
    # The router makes the first attempt of a few plain deliveries itself (chalicelib.outbound
    # .first_attempts): it then gets the sender's grants, timeout and, with static_egress, its network.
    # On by default (fewer writes, SQS requests and invocations per webhook); a stage sets it false to
    # keep every attempt on the sender.
    router_first_attempt: bool = True
    # The slow lane (failing or slow endpoints' tasks): its event source mapping's maximum concurrency, so
    # those endpoints never take more than this many senders from the healthy ones (2 to 1000).
    slow_lane_max_concurrency: int = 5
    slow_lane_reserved_concurrency: int = 0
    # Reserved concurrency of the other functions (0: none), so no function can starve another of the
    # account's pool (1,000 by default): see the README's "Quotas before launch".
    api_reserved_concurrency: int = 0
    router_reserved_concurrency: int = 0
    dead_letters_reserved_concurrency: int = 0
    sweep_reserved_concurrency: int = 0
    # Warm throughput of the state table and each of its indexes (0: DynamoDB's default for a new
    # on-demand table, 12,000 reads and 4,000 writes per second); set it before a launch's first peak.
    table_warm_read_units: int = 0
    table_warm_write_units: int = 0

    def check(self) -> Options:
        """The options, or ValueError naming what is inconsistent."""
        if self.log_retention_days not in LOG_RETENTION_VALUES:
            raise ValueError(f"log_retention_days must be one of {LOG_RETENTION_VALUES}")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}")
        if self.mtls_domain and not (
            self.mtls_certificate_arn and self.mtls_truststore_uri.startswith("s3://")
        ):
            raise ValueError("mtls_domain needs mtls_certificate_arn and an s3:// mtls_truststore_uri")
        if self.mtls_domain and self.http_api:
            # An HTTP API has its own endpoint: beside an mTLS-only REST API it would be a way around it.
            raise ValueError("http_api and mtls_domain cannot be combined: the HTTP API would bypass mTLS")
        if not 2 <= self.slow_lane_max_concurrency <= 1000:
            raise ValueError("slow_lane_max_concurrency is 2 to 1000 (Lambda's limits)")
        if self.slow_lane_reserved_concurrency and (
            self.slow_lane_max_concurrency > self.slow_lane_reserved_concurrency
        ):
            raise ValueError(
                "slow_lane_max_concurrency above slow_lane_reserved_concurrency would only be throttled"
            )
        if self.sender_max_concurrency and not 2 <= self.sender_max_concurrency <= 1000:
            raise ValueError("sender_max_concurrency is 2 to 1000 (Lambda's limits), or 0 for none")
        reserved = {key: getattr(self, option) for key, option in RESERVED_CONCURRENCY.items()}
        if self.sender_max_concurrency < 0 or any(value < 0 for value in reserved.values()):
            raise ValueError("concurrency settings cannot be negative")
        if (
            self.sender_reserved_concurrency
            and self.sender_max_concurrency > self.sender_reserved_concurrency
        ):
            raise ValueError(
                "sender_max_concurrency above sender_reserved_concurrency would only be throttled"
            )
        for option, floor in (("table_warm_read_units", 12_000), ("table_warm_write_units", 4_000)):
            value = getattr(self, option)
            if value and not floor <= value <= MAX_WARM_UNITS:
                raise ValueError(f"{option} is {floor} to {MAX_WARM_UNITS} (0: DynamoDB's default)")
        if bool(self.table_warm_read_units) != bool(self.table_warm_write_units):
            raise ValueError("table_warm_read_units and table_warm_write_units go together")
        return self


def stage_options(stage: str, overrides: dict[str, Any] | None = None) -> Options:
    """The stage's options from infra/stages.json, with overrides (from ``make deploy`` variables)."""
    known = {f.name for f in fields(Options)}
    doc = json.loads(STAGES_FILE.read_text()).get(stage, {})
    merged = {**doc, **(overrides or {})}
    unknown = set(merged) - known
    if unknown:
        raise ValueError(f"unknown option(s) for stage {stage}: {', '.join(sorted(unknown))}")
    return Options(**merged).check()


def _ref(name: str) -> dict[str, Any]:
    return {"Ref": name}


def _arn(name: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [name, "Arn"]}


def _queue(
    name: str, *, visibility: int, retention: int, dlq: str | None, receives: int = MAX_RECEIVES
) -> dict[str, Any]:
    props: dict[str, Any] = {
        "QueueName": name,
        "MaximumMessageSize": MIB,  # explicit: some tools still assume the old 256 KiB default
        "MessageRetentionPeriod": retention,
        "VisibilityTimeout": visibility,
        "ReceiveMessageWaitTimeSeconds": 20,
        "SqsManagedSseEnabled": True,
    }
    if dlq:
        props["RedrivePolicy"] = {"deadLetterTargetArn": _arn(dlq), "maxReceiveCount": receives}
    return {"Type": "AWS::SQS::Queue", "Properties": props}


QUEUES = (
    "IngestQueue",
    "IngestDeadLetterQueue",
    "DeliveriesQueue",
    "SlowDeliveriesQueue",
    "DeliveriesDeadLetterQueue",
    "ParkedDeadLetterQueue",
)


def _warm(opts: Options) -> dict[str, Any]:
    """The WarmThroughput property of the table and of each index, when the stage sets one."""
    if not opts.table_warm_write_units:
        return {}
    units = {
        "ReadUnitsPerSecond": opts.table_warm_read_units,
        "WriteUnitsPerSecond": opts.table_warm_write_units,
    }
    return {"WarmThroughput": units}


def data_resources(n: Names, opts: Options) -> Template:
    """Queues, dead-letter queues, the state table and the payload bucket."""
    policy = "Retain" if opts.retain_data else "Delete"
    return {
        # A task the dead-letter handler itself cannot process (10 tries) is parked here, alarmed, kept 14 days.
        "ParkedDeadLetterQueue": _queue(
            f"{n.prefix}-parked-dlq", visibility=30, retention=14 * DAY, dlq=None
        ),
        "IngestDeadLetterQueue": _queue(n.ingest_dlq, visibility=30, retention=14 * DAY, dlq=None),
        "IngestQueue": _queue(
            n.ingest_queue,
            visibility=6 * TIMEOUTS["route_ingest"],
            retention=4 * DAY,
            dlq="IngestDeadLetterQueue",
        ),
        # Consumed by the dead-letter handler, which ends each task's delivery as failed (dead_lettered).
        "DeliveriesDeadLetterQueue": _queue(
            n.deliveries_dlq,
            visibility=6 * TIMEOUTS["dead_letters"],
            retention=7 * DAY,  # longer than the deliveries queue's 4 days (SQS keeps the enqueue time)
            dlq="ParkedDeadLetterQueue",
            # A moved message may keep its receive count (moto's does): this leaves the handler 10 tries.
            receives=MAX_RECEIVES + 10,
        ),
        "DeliveriesQueue": _queue(
            n.deliveries_queue,
            visibility=6 * TIMEOUTS["deliver"],
            retention=4 * DAY,  # a retry's wait is a chain of new messages of <= 15 min each
            dlq="DeliveriesDeadLetterQueue",
        ),
        # The slow lane: the same tasks, for endpoints that are failing or slow (chalicelib.outbound.lanes);
        # its own event source mapping caps its senders. Same redrive: the dead-letter handler ends them.
        "SlowDeliveriesQueue": _queue(
            n.slow_deliveries_queue,
            visibility=6 * TIMEOUTS["deliver_slow"],
            retention=4 * DAY,
            dlq="DeliveriesDeadLetterQueue",
        ),
        "StateTable": {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": policy,
            "UpdateReplacePolicy": policy,
            "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [
                    {"AttributeName": a, "AttributeType": "S"}
                    for a in ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk", "gsi3sk")
                ],
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "GlobalSecondaryIndexes": [
                    {
                        "IndexName": "gsi1",
                        "KeySchema": [
                            {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                            {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                        ],
                        # Keys only: each write costs one small index write, not a second copy of the item.
                        "Projection": {"ProjectionType": "KEYS_ONLY"},
                        **_warm(opts),
                    },
                    {
                        # Every message by its UTC day: DAY#{yyyy-mm-dd} / {received_at}#{id}.
                        "IndexName": "gsi2",
                        "KeySchema": [
                            {"AttributeName": "gsi2pk", "KeyType": "HASH"},
                            {"AttributeName": "gsi2sk", "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "KEYS_ONLY"},
                        **_warm(opts),
                    },
                    {
                        # Sparse: the messages of an application, APP#{id}#MSG / {received_at}#{id}.
                        "IndexName": "gsi3",
                        "KeySchema": [
                            {"AttributeName": "gsi3pk", "KeyType": "HASH"},
                            {"AttributeName": "gsi3sk", "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "KEYS_ONLY"},
                        **_warm(opts),
                    },
                ],
                **_warm(opts),
                "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": True},
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {"SSEEnabled": True},
                "Tags": [{"Key": "hookway:stage", "Value": n.stage}],
            },
        },
        "PayloadBucket": {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": policy,
            "UpdateReplacePolicy": policy,
            "Properties": {
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                    ]
                },
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "LifecycleConfiguration": {
                    "Rules": [
                        {
                            # Longer than message retention (30 days): a stored message's body outlives its
                            # record. Also removes orphans (S3 put succeeded, SQS send failed, provider retried).
                            # Only the payload prefixes: the deploy record (DEPLOY_PREFIX) is kept.
                            "Id": f"expire-{prefix.rstrip('/')}",
                            "Status": "Enabled",
                            "Prefix": prefix,
                            "ExpirationInDays": 35,
                            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                        }
                        for prefix in PAYLOAD_PREFIXES
                    ]
                },
                "Tags": [{"Key": "hookway:stage", "Value": n.stage}],
            },
        },
    }


# What the functions that seal or open secrets may do with the key (chalicelib.sealing, infra/iam.py).
KEY_USE = ("kms:GenerateDataKey", "kms:Decrypt")


def key_resources(n: Names, opts: Options) -> Template:
    """The KMS key that seals secrets at rest (envelope encryption: chalicelib.sealing), and its alias.

    Yearly rotation on; the key policy gives the account's IAM the key's administration and lets it grant
    use (IAM then grants ``kms:GenerateDataKey`` and ``kms:Decrypt`` to the API and the sender only), and
    refuses every use of the key without this stage's encryption context, so a data key sealed for one
    stage never unwraps in another. The key is retained with the table: without it the table's secrets
    are lost.
    """
    policy = "Retain" if opts.retain_data else "Delete"
    account = {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
    return {
        "SecretsKey": {
            "Type": "AWS::KMS::Key",
            "DeletionPolicy": policy,
            "UpdateReplacePolicy": policy,
            "Properties": {
                "Description": f"Hookway {n.stage}: seals endpoint and source secrets at rest",
                "EnableKeyRotation": True,
                "KeyPolicy": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "AccountAdministersAndIamGrantsUse",
                            "Effect": "Allow",
                            "Principal": account,
                            "Action": "kms:*",
                            "Resource": "*",
                        },
                        {
                            "Sid": "UseOnlyWithThisStagesContext",
                            "Effect": "Deny",
                            "Principal": {"AWS": "*"},
                            "Action": [*KEY_USE, "kms:Encrypt", "kms:ReEncrypt*"],
                            "Resource": "*",
                            "Condition": {
                                "StringNotEquals": {"kms:EncryptionContext:hookway:stage": n.stage}
                            },
                        },
                    ],
                },
                # No Tags: moto's CloudFormation reads KMS tags in the API's shape (TagKey) and fails.
            },
        },
        "SecretsKeyAlias": {
            "Type": "AWS::KMS::Alias",
            "Properties": {"AliasName": f"alias/{n.prefix}-secrets", "TargetKeyId": _ref("SecretsKey")},
        },
    }


def log_resources(n: Names, opts: Options) -> Template:
    """One log group per function, with the stage's retention (made before Lambda would make it forever)."""
    return {
        f"LogGroup{_camel(key)}": {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": {"LogGroupName": n.log_group(key), "RetentionInDays": opts.log_retention_days},
        }
        for key in TIMEOUTS
    }


def _camel(key: str) -> str:
    return "".join(part.capitalize() for part in key.split("_"))


def _alarm(description: str, **props: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": description,
            "AlarmActions": [_ref("AlarmTopic")],
            "OKActions": [_ref("AlarmTopic")],
            "TreatMissingData": "notBreaching",
            **props,
        },
    }


def _queue_alarm(queue: str, metric: str, threshold: int, description: str) -> dict[str, Any]:
    return _alarm(
        description,
        Namespace="AWS/SQS",
        MetricName=metric,
        Dimensions=[{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}],
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=5 if metric == "ApproximateAgeOfOldestMessage" else 1,
        Threshold=threshold,
        ComparisonOperator="GreaterThanThreshold",
    )


#: In-flight messages that page: a sixth of SQS's ~120,000 per standard queue.
IN_FLIGHT_ALARM = 20_000
# The state table's operations whose throttling is counted (ThrottledRequests has an Operation dimension).
THROTTLED_OPERATIONS = (
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "TransactWriteItems",
    "BatchWriteItem",
    "GetItem",
    "Query",
    "BatchGetItem",
)


def _sum_alarm(description: str, metrics: list[tuple[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """An alarm on the per-minute sum of several AWS/DynamoDB metrics: throttled in 3 of 5 minutes."""
    queries: list[dict[str, Any]] = [
        {
            "Id": f"m{i}",
            "ReturnData": False,
            "MetricStat": {
                "Metric": {"Namespace": "AWS/DynamoDB", "MetricName": name, "Dimensions": dimensions},
                "Period": 60,
                "Stat": "Sum",
            },
        }
        for i, (name, dimensions) in enumerate(metrics)
    ]
    queries.append({"Id": "total", "Label": "throttled", "ReturnData": True, "Expression": "SUM(METRICS())"})
    return _alarm(
        description,
        Metrics=queries,
        EvaluationPeriods=5,
        DatapointsToAlarm=3,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
    )


def throttle_alarms(n: Names) -> Template:
    """Alarms on the state table's throttling: requests refused, and write throttle events per index.

    An index's throttled writes hold back the table's own (GSI back-pressure), so each index is watched.
    """
    table = [{"Name": "TableName", "Value": _ref("StateTable")}]
    # Every index of the table as data_resources defines it (the options change none of them).
    table_props = data_resources(n, Options())["StateTable"]["Properties"]
    indexes = [index["IndexName"] for index in table_props["GlobalSecondaryIndexes"]]
    return {
        "StateTableThrottledRequests": _sum_alarm(
            "the state table throttled requests in 3 of the last 5 minutes (hot key or table quota)",
            [
                ("ThrottledRequests", [*table, {"Name": "Operation", "Value": operation}])
                for operation in THROTTLED_OPERATIONS
            ],
        ),
        "StateTableWriteThrottles": _sum_alarm(
            "writes to the state table or one of its indexes were throttled in 3 of the last 5 minutes",
            [
                ("WriteThrottleEvents", table),
                *(
                    ("WriteThrottleEvents", [*table, {"Name": "GlobalSecondaryIndexName", "Value": index}])
                    for index in indexes
                ),
            ],
        ),
    }


def alarm_resources(n: Names) -> Template:
    """The alarms a platform team is paged by, and the topic they go to (subscribe to it after deploying)."""
    out: Template = {
        "AlarmTopic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": f"{n.prefix}-alarms"}}
    }
    for queue in ("IngestDeadLetterQueue", "DeliveriesDeadLetterQueue", "ParkedDeadLetterQueue"):
        out[f"{queue}NotEmpty"] = _queue_alarm(
            queue,
            "ApproximateNumberOfMessagesVisible",
            0,
            f"{queue} holds messages: see the README's runbook",
        )
    out["IngestQueueOldMessage"] = _queue_alarm(
        "IngestQueue",
        "ApproximateAgeOfOldestMessage",
        300,
        "accepted webhooks wait more than 5 min to be routed",
    )
    # Retries wait in 15-minute hops, so an hour-old task means the sender is not keeping up.
    out["DeliveriesQueueOldMessage"] = _queue_alarm(
        "DeliveriesQueue", "ApproximateAgeOfOldestMessage", 3600, "delivery tasks wait more than an hour"
    )
    out["SlowDeliveriesQueueOldMessage"] = _queue_alarm(
        "SlowDeliveriesQueue",
        "ApproximateAgeOfOldestMessage",
        3600,
        "slow-lane delivery tasks wait more than an hour (raise slow_lane_max_concurrency?)",
    )
    # Failed records come back within a minute (chalicelib.aws.batch), so a queue whose in-flight count climbs
    # toward SQS's ~120,000 cap means the consumers are failing or stalled: page long before it stops them.
    for queue in ("IngestQueue", "DeliveriesQueue", "SlowDeliveriesQueue"):
        out[f"{queue}InFlight"] = _queue_alarm(
            queue,
            "ApproximateNumberOfMessagesNotVisible",
            IN_FLIGHT_ALARM,
            f"more than {IN_FLIGHT_ALARM:,} messages in flight on {queue} (SQS stops at ~120,000)",
        )
    out.update(throttle_alarms(n))
    out["Ingest5xx"] = _alarm(
        "the API answered 5xx (503: storage unavailable; providers retry)",
        Namespace="AWS/ApiGateway",
        MetricName="5XXError",
        Dimensions=[{"Name": "ApiName", "Value": "hookway"}, {"Name": "Stage", "Value": n.stage}],
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=5,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    stage_dim = [{"Name": "stage", "Value": n.stage}]

    def metric(id_: str, name: str) -> dict[str, Any]:
        return {
            "Id": id_,
            "ReturnData": False,
            "MetricStat": {
                "Metric": {"Namespace": "Hookway", "MetricName": name, "Dimensions": stage_dim},
                "Period": 900,
                "Stat": "Sum",
            },
        }

    out["DeliveryFailureRate"] = {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": "more than 25% of delivery attempts failed over 15 min (at least 20 attempts)",
            "AlarmActions": [_ref("AlarmTopic")],
            "OKActions": [_ref("AlarmTopic")],
            "TreatMissingData": "notBreaching",
            "EvaluationPeriods": 1,
            "Threshold": 25,
            "ComparisonOperator": "GreaterThanThreshold",
            "Metrics": [
                metric("failed", "AttemptFailed"),
                metric("delivered", "Delivered"),
                {
                    "Id": "rate",
                    "Label": "failed attempts, %",
                    "ReturnData": True,
                    "Expression": "IF((failed + delivered) >= 20, 100 * failed / (failed + delivered), 0)",
                },
            ],
        },
    }
    out["DeadLettered"] = _alarm(
        "a delivery ended failed because its task reached the dead-letter queue",
        Namespace="Hookway",
        MetricName="DeadLettered",
        Dimensions=stage_dim,
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
    )
    for key in TIMEOUTS:
        for metric_name in ("Errors", "Throttles"):
            out[f"{_camel(key)}{metric_name}"] = _alarm(
                f"{n.function(key)} {metric_name.lower()}",
                Namespace="AWS/Lambda",
                MetricName=metric_name,
                Dimensions=[{"Name": "FunctionName", "Value": n.function(key)}],
                Statistic="Sum",
                Period=300,
                EvaluationPeriods=1,
                Threshold=0,
                ComparisonOperator="GreaterThanThreshold",
            )
    return out


def dashboard_resource(n: Names) -> Template:
    """One CloudWatch dashboard: traffic, deliveries, queues, functions."""

    def widget(title: str, metrics: list[list[Any]], x: int, y: int, stat: str = "Sum") -> dict[str, Any]:
        return {
            "type": "metric",
            "x": x,
            "y": y,
            "width": 12,
            "height": 6,
            "properties": {
                "title": title,
                "region": "${AWS::Region}",
                "stat": stat,
                "period": 300,
                "metrics": metrics,
            },
        }

    hw = ["Hookway"]
    body = {
        "widgets": [
            widget(
                "Webhooks in",
                [
                    [*hw, "Stored", "stage", n.stage],  # received and stored (counted by the router)
                    [*hw, "Rejected", "stage", n.stage],
                    [*hw, "Duplicate", "stage", n.stage],
                ],
                0,
                0,
            ),
            widget(
                "Deliveries",
                [
                    [*hw, "Delivered", "stage", n.stage],
                    [*hw, "AttemptFailed", "stage", n.stage],
                    [*hw, "Exhausted", "stage", n.stage],
                    [*hw, "DeadLettered", "stage", n.stage],
                ],
                12,
                0,
            ),
            widget(
                "Latency (ms)",
                [
                    [*hw, "AttemptLatency", "stage", n.stage],
                    [*hw, "EndToEndLatency", "stage", n.stage],
                ],
                0,
                6,
                stat="p99",
            ),
            widget(
                "Queues: oldest message (s)",
                [
                    ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", q]
                    for q in (n.ingest_queue, n.deliveries_queue, n.deliveries_dlq, n.ingest_dlq)
                ],
                12,
                6,
                stat="Maximum",
            ),
            widget(
                "Functions: errors and throttles",
                [
                    ["AWS/Lambda", m, "FunctionName", n.function(k)]
                    for k in TIMEOUTS
                    for m in ("Errors", "Throttles")
                ],
                0,
                12,
            ),
        ]
    }
    return {
        "Dashboard": {
            "Type": "AWS::CloudWatch::Dashboard",
            "Properties": {"DashboardName": n.dashboard, "DashboardBody": {"Fn::Sub": json.dumps(body)}},
        }
    }


def egress_resources(n: Names) -> Template:
    """A VPC whose two private subnets go out through NAT gateways with Elastic IPs (one per zone)."""
    out: Template = {
        "Vpc": {
            "Type": "AWS::EC2::VPC",
            "Properties": {"CidrBlock": "10.80.0.0/16", "EnableDnsHostnames": True, "EnableDnsSupport": True},
        },
        "InternetGateway": {"Type": "AWS::EC2::InternetGateway"},
        "InternetGatewayAttachment": {
            "Type": "AWS::EC2::VPCGatewayAttachment",
            "Properties": {"VpcId": _ref("Vpc"), "InternetGatewayId": _ref("InternetGateway")},
        },
        "PublicRouteTable": {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": _ref("Vpc")}},
        "PublicRoute": {
            "Type": "AWS::EC2::Route",
            "DependsOn": "InternetGatewayAttachment",
            "Properties": {
                "RouteTableId": _ref("PublicRouteTable"),
                "DestinationCidrBlock": "0.0.0.0/0",
                "GatewayId": _ref("InternetGateway"),
            },
        },
        "SenderSecurityGroup": {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": f"{n.prefix} sender: outbound only",
                "VpcId": _ref("Vpc"),
                "SecurityGroupEgress": [{"IpProtocol": "-1", "CidrIp": "0.0.0.0/0"}],
            },
        },
    }
    private_tables = []
    for i in (0, 1):
        zone = {"Fn::Select": [i, {"Fn::GetAZs": ""}]}
        out[f"PublicSubnet{i}"] = {
            "Type": "AWS::EC2::Subnet",
            "Properties": {"VpcId": _ref("Vpc"), "CidrBlock": f"10.80.{i}.0/24", "AvailabilityZone": zone},
        }
        out[f"PublicSubnet{i}Routes"] = {
            "Type": "AWS::EC2::SubnetRouteTableAssociation",
            "Properties": {"SubnetId": _ref(f"PublicSubnet{i}"), "RouteTableId": _ref("PublicRouteTable")},
        }
        out[f"EgressIp{i}"] = {
            "Type": "AWS::EC2::EIP",
            "DependsOn": "InternetGatewayAttachment",
            "Properties": {"Domain": "vpc"},
        }
        out[f"NatGateway{i}"] = {
            "Type": "AWS::EC2::NatGateway",
            "Properties": {
                "AllocationId": {"Fn::GetAtt": [f"EgressIp{i}", "AllocationId"]},
                "SubnetId": _ref(f"PublicSubnet{i}"),
            },
        }
        out[f"PrivateSubnet{i}"] = {
            "Type": "AWS::EC2::Subnet",
            "Properties": {
                "VpcId": _ref("Vpc"),
                "CidrBlock": f"10.80.{10 + i}.0/24",
                "AvailabilityZone": zone,
            },
        }
        out[f"PrivateRouteTable{i}"] = {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": _ref("Vpc")}}
        out[f"PrivateRoute{i}"] = {
            "Type": "AWS::EC2::Route",
            "Properties": {
                "RouteTableId": _ref(f"PrivateRouteTable{i}"),
                "DestinationCidrBlock": "0.0.0.0/0",
                "NatGatewayId": _ref(f"NatGateway{i}"),
            },
        }
        out[f"PrivateSubnet{i}Routes"] = {
            "Type": "AWS::EC2::SubnetRouteTableAssociation",
            "Properties": {
                "SubnetId": _ref(f"PrivateSubnet{i}"),
                "RouteTableId": _ref(f"PrivateRouteTable{i}"),
            },
        }
        private_tables.append(_ref(f"PrivateRouteTable{i}"))
    # DynamoDB and S3 through free gateway endpoints, not through the NAT's per-GB charge.
    for service in ("dynamodb", "s3"):
        out[f"{service.capitalize()}Endpoint"] = {
            "Type": "AWS::EC2::VPCEndpoint",
            "Properties": {
                "VpcId": _ref("Vpc"),
                "ServiceName": {"Fn::Sub": f"com.amazonaws.${{AWS::Region}}.{service}"},
                "VpcEndpointType": "Gateway",
                "RouteTableIds": private_tables,
            },
        }
    return out


def outputs(opts: Options) -> Template:
    """What the stack hands to Chalice's stage configuration (infra/chalice_config.py)."""
    out: Template = {
        "StateTableName": {"Value": _ref("StateTable")},
        "StateTableArn": {"Value": _arn("StateTable")},
        "PayloadBucketName": {"Value": _ref("PayloadBucket")},
        "PayloadBucketArn": {"Value": _arn("PayloadBucket")},
        "AlarmTopicArn": {"Value": _ref("AlarmTopic")},
        "SecretsKeyArn": {"Value": _arn("SecretsKey")},
    }
    for logical in QUEUES:
        out[f"{logical}Url"] = {"Value": _ref(logical)}
        out[f"{logical}Arn"] = {"Value": _arn(logical)}
    if opts.static_egress:
        out["EgressIps"] = {"Value": {"Fn::Join": [",", [_ref("EgressIp0"), _ref("EgressIp1")]]}}
        out["PrivateSubnetIds"] = {
            "Value": {"Fn::Join": [",", [_ref("PrivateSubnet0"), _ref("PrivateSubnet1")]]}
        }
        out["SenderSecurityGroupId"] = {"Value": _ref("SenderSecurityGroup")}
    return out


def infrastructure(stage: str, opts: Options | None = None) -> Template:
    """The standalone infrastructure stack of a stage."""
    n = names(stage)
    opts = (opts or stage_options(stage)).check()
    resources: Template = {
        **data_resources(n, opts),
        **key_resources(n, opts),
        **log_resources(n, opts),
        **alarm_resources(n),
        **dashboard_resource(n),
    }
    if opts.static_egress:
        resources.update(egress_resources(n))
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"Hookway {stage}: queues, dead-letter queues, state table, payload bucket, logs, alarms",
        "Resources": resources,
        "Outputs": outputs(opts),
    }
