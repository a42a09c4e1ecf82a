"""The deploy artifact: ``chalice package`` merged with the stage's infrastructure, for python3.13, cfn-lint clean."""

from __future__ import annotations

import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from chalicelib.names import FUNCTIONS, names
from infra import api_gateway, chalice_config
from infra.botomodels import SERVICES
from infra.package import LOGICAL_IDS, find_python313, package
from infra.stack import MEMORY, stage_options
from local.emulator import _CfnLoader

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], zipfile.ZipFile]:
    out = tmp_path_factory.mktemp("package")
    template_path = package("prod", out, lint=True)  # raises if cfn-lint finds anything
    template = yaml.load(template_path.read_text(), Loader=_CfnLoader)
    return template, zipfile.ZipFile(out / "deployment.zip")


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: r["Properties"]
        for name, r in template["Resources"].items()
        if r["Type"] == "AWS::Serverless::Function"
    }


# ELF e_machine of the native modules (bytes 18-19, little-endian): what CPU they run on.
EM_AARCH64, EM_X86_64 = 183, 62


def _machines(archive: zipfile.ZipFile) -> dict[str, int]:
    return {
        name: int.from_bytes(archive.read(name)[18:20], "little")
        for name in archive.namelist()
        if name.endswith(".so")
    }


def test_every_function_runs_on_python313_and_arm64_under_its_stage_name(
    built: tuple[dict[str, Any], zipfile.ZipFile],
) -> None:
    template, archive = built
    functions = _functions(template)
    assert set(functions) == set(LOGICAL_IDS.values())
    assert {props["Runtime"] for props in functions.values()} == {"python3.13"}
    # The API function starts at its lean entry (webhooks without the Chalice app); the others at Chalice's.
    assert functions["APIHandler"]["Handler"] == chalice_config.API_HANDLER
    assert all(props["Handler"].startswith("app.") for k, props in functions.items() if k != "APIHandler")
    n = names("prod")
    assert {props["FunctionName"] for props in functions.values()} == {n.function(k) for k in FUNCTIONS}
    # ... on Graviton, with every native module built for it (cryptography, cffi, regex, rpds)
    assert {tuple(props["Architectures"]) for props in functions.values()} == {("arm64",)}
    native = _machines(archive)
    assert native and all("abi3" in n or "cpython-313" in n for n in native), native
    assert {name.split("/")[0] for name in native} >= {"cryptography", "regex", "rpds"}
    assert set(native.values()) == {EM_AARCH64}, native


def test_each_function_has_its_measured_memory_and_logs_json_without_platform_lines(
    built: tuple[dict[str, Any], zipfile.ZipFile],
) -> None:
    template, _ = built
    functions = _functions(template)
    for key, logical in LOGICAL_IDS.items():
        props = functions[logical]
        assert props["MemorySize"] == MEMORY[key], key
        # JSON lines; START/END/REPORT (Lambda's INFO lines) never written; the application's lines at
        # prod's level (WARNING in .chalice/config.json), as Lambda spells it
        assert props["LoggingConfig"] == {
            "LogFormat": "JSON",
            "SystemLogLevel": "WARN",
            "ApplicationLogLevel": "WARN",
        }, key
    assert chalice_config.log_level("dev") == "INFO"


def test_the_package_is_lean(built: tuple[dict[str, Any], zipfile.ZipFile]) -> None:
    _, archive = built
    names_in_zip = archive.namelist()
    top = {name.split("/", 1)[0] for name in names_in_zip}
    assert {"app.py", "chalicelib", "aws_lambda_powertools"} <= top
    assert not top & {
        "boto3",
        "botocore",
        "moto",
        "chalice_local",
        "tests",
        "testkit",
        "local",
        "bench",
        "aws_xray_sdk",
    }
    # Bytecode only for the runtime's interpreter (compiled by python3.13, checked by hash), never for the
    # Python that built the package.
    bytecode = [n for n in names_in_zip if n.endswith(".pyc")]
    assert all(".cpython-313." in n for n in bytecode), [n for n in bytecode if ".cpython-313." not in n][:5]
    if find_python313() is not None:
        assert "chalicelib/wiring/__pycache__/api.cpython-313.pyc" in names_in_zip
    assert not [n for n in names_in_zip if n.startswith("aws_lambda_powertools/event_handler/")]
    kept = {n.split("/")[2] for n in names_in_zip if n.startswith("aws_lambda_powertools/utilities/")}
    assert kept <= {"__init__.py", "__pycache__", "jmespath_utils"}
    assert archive.read("app.py") == (ROOT / "app.py").read_bytes()
    # The trimmed botocore data the composition root's session searches first (infra/botomodels.py)
    data = "chalicelib/aws/botocore-data/"
    assert {n.split("/")[3] for n in names_in_zip if n.startswith(data)} == {
        *SERVICES,
        "endpoints.json",
        "BOTOCORE_VERSION",
    }
    models = [n for n in names_in_zip if n.startswith(data) and n.endswith("/service-2.json")]
    assert sorted(n.split("/")[3] for n in models) == sorted(SERVICES)
    unzipped = sum(i.file_size for i in archive.infolist())
    zipped = sum(i.compress_size for i in archive.infolist())
    print(f"deployment package: {zipped / 1e6:.2f} MB zipped, {unzipped / 1e6:.2f} MB unzipped")
    # A budget against drift, far under Lambda's 250 MB: 25 MB until the schema budget (issue 19, finding 5)
    # brought the `regex` engine (2.8 MB with its native module) and the scale work its modules (25.36 MB
    # on x86_64; the arm64 wheels are about the same size), then 34 MB since the transformations' QuickJS
    # engine (issue 18: its native module is 8.1 MB unzipped, imported only by a sender that meets one;
    # 33.8 MB on x86_64, 33.5 MB on arm64).
    assert unzipped < 35e6


def test_queues_are_sized_and_timed_for_their_consumers(
    built: tuple[dict[str, Any], zipfile.ZipFile],
) -> None:
    template, _ = built
    resources = template["Resources"]
    functions = _functions(template)
    consumers = {
        "IngestQueue": "RouteIngest",
        "DeliveriesQueue": "Deliver",
        "DeliveriesDeadLetterQueue": "DeadLetters",
    }
    for queue, function in consumers.items():
        props = resources[queue]["Properties"]
        assert props["MaximumMessageSize"] == 1048576
        assert props["VisibilityTimeout"] >= 6 * functions[function]["Timeout"]
        dlq = resources[props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]]["Properties"]
        assert dlq["MessageRetentionPeriod"] > props["MessageRetentionPeriod"]
        assert props["RedrivePolicy"]["maxReceiveCount"] >= 5
        source = functions[function]["Events"][f"{function}SqsEventSource"]["Properties"]["Queue"]
        assert source["Fn::Sub"].endswith(":" + props["QueueName"])  # the stage's own queue


def test_each_function_has_its_own_role_scoped_to_its_stage(
    built: tuple[dict[str, Any], zipfile.ZipFile],
) -> None:
    template, _ = built
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["HOOKWAY_TABLE"] == {"Ref": "StateTable"}
    assert variables["HOOKWAY_INGEST_QUEUE_URL"] == {"Ref": "IngestQueue"}
    roles = {p["Role"]["Fn::GetAtt"][0] for p in _functions(template).values()}
    assert len(roles) == len(FUNCTIONS)  # one role per function
    for name in roles:
        resource = template["Resources"][name]
        for policy in resource["Properties"]["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = statement["Action"]
                assert all(a != "*" and not a.endswith(":*") for a in actions), (name, actions)
                if {a.split(":")[0] for a in actions} <= {"ec2", "xray"}:
                    continue
                assert "*" not in statement["Resource"], (name, statement)


def test_the_api_takes_every_body_as_binary_and_answers_in_hookways_error_shape(
    built: tuple[dict[str, Any], zipfile.ZipFile],
) -> None:
    template, _ = built
    body = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    assert body["x-amazon-apigateway-binary-media-types"] == ["*/*"]  # raw_body is what the sender signed
    responses = body["x-amazon-apigateway-gateway-responses"]
    assert responses == api_gateway.gateway_responses()
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["statusCode"] == 404
    assert (
        '"code":"not_found"'
        in responses["MISSING_AUTHENTICATION_TOKEN"]["responseTemplates"]["application/json"]
    )
    assert responses["REQUEST_TOO_LARGE"]["statusCode"] == 413
    assert responses["THROTTLED"]["statusCode"] == 429


@pytest.mark.parametrize(
    "fields",
    [
        {
            "http_api": True,
            "static_egress": True,
            "sender_reserved_concurrency": 5,
            "sender_max_concurrency": 5,
            "slow_lane_max_concurrency": 3,
            "tracing": True,
            "router_first_attempt": True,
        },
        {
            "mtls_domain": "hooks.example.com",
            "mtls_certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/abc",
            "mtls_truststore_uri": "s3://truststore-bucket/ca.pem",
            "static_egress": True,
            "function_url": True,
            "router_first_attempt": False,  # on by default: the other param set has it on
        },
    ],
    ids=["http_api+egress+concurrency+tracing", "mtls+function_url+egress"],
)
def test_the_merged_template_with_options_is_cfn_lint_clean(tmp_path: Path, fields: dict[str, Any]) -> None:
    # GIVEN options switched on WHEN packaged (cfn-lint runs inside package and raises on a finding)
    opts = replace(stage_options("dev"), **fields).check()
    template = yaml.load(package("dev", tmp_path, lint=True, opts=opts).read_text(), Loader=_CfnLoader)
    resources = template["Resources"]
    # THEN the options' resources are wired to Chalice's own
    deliver = resources["Deliver"]["Properties"]
    assert deliver["VpcConfig"]["SubnetIds"] == [{"Ref": "PrivateSubnet0"}, {"Ref": "PrivateSubnet1"}]
    # ... and a router that makes first attempts sends from the same network (router_first_attempt)
    assert ("VpcConfig" in resources["RouteIngest"]["Properties"]) is opts.router_first_attempt
    if opts.http_api:
        assert resources["HttpApiIntegration"]["Properties"]["IntegrationUri"] == {
            "Fn::GetAtt": ["APIHandler", "Arn"]
        }
        assert deliver["ReservedConcurrentExecutions"] == 5
        # app.py's decorator read the stage's HOOKWAY_SENDER_MAX_CONCURRENCY when Chalice loaded it
        scaling = deliver["Events"]["DeliverSqsEventSource"]["Properties"]["ScalingConfig"]
        assert scaling == {"MaximumConcurrency": 5}
        assert deliver["Tracing"] == "Active"
        vendored = {p.name for p in (ROOT / "build" / "stage-dev" / "vendor").iterdir()}
        assert {"aws_xray_sdk", "wrapt"} <= vendored  # the Tracer's SDK, only for a stage that traces
        # ... its native module built for arm64 too, from the dev lock's hashes
        wrapt = list((ROOT / "build" / "stage-dev" / "vendor" / "wrapt").glob("*.so"))
        assert wrapt and all(int.from_bytes(p.read_bytes()[18:20], "little") == EM_AARCH64 for p in wrapt)
        assert not vendored & {"botocore", "boto3"}  # never the runtime's own
    # ... and the slow lane's mapping, with its own cap (the stage option), in every option set
    slow = resources["DeliverSlow"]["Properties"]
    slow_events = slow["Events"]["DeliverSlowSqsEventSource"]["Properties"]
    assert slow_events["ScalingConfig"] == {"MaximumConcurrency": opts.slow_lane_max_concurrency}
    assert "deliveries-slow" in str(slow_events["Queue"]) or "SlowDeliveriesQueue" in str(
        slow_events["Queue"]
    )
    if opts.static_egress:
        assert slow["VpcConfig"] == deliver["VpcConfig"]  # the same egress IPs as the main lane
    if opts.function_url:
        # ... the function URL on the API function (mTLS sources keep the REST domain), public, CORS off
        url = resources["FunctionUrl"]["Properties"]
        assert url == {
            "TargetFunctionArn": {"Fn::GetAtt": ["APIHandler", "Arn"]},
            "AuthType": "NONE",
            "InvokeMode": "BUFFERED",
        }
        assert (
            "FunctionUrlIngestUrl" in template["Outputs"] and "FunctionUrlPublishUrl" in template["Outputs"]
        )
    if opts.mtls_domain:
        assert resources["RestAPI"]["Properties"]["DisableExecuteApiEndpoint"] is True
        assert resources["IngestDomainMapping"]["Properties"]["RestApiId"] == {"Ref": "RestAPI"}


def test_the_console_and_portal_ship_in_the_package_and_api_gateway_compresses(
    built: tuple[dict[str, Any], zipfile.ZipFile],
) -> None:
    template, archive = built
    web = ROOT / "chalicelib" / "web"
    shipped = {
        n.removeprefix("chalicelib/web/") for n in archive.namelist() if n.startswith("chalicelib/web/")
    }
    assert shipped == {p.name for p in web.iterdir()}
    for name in shipped:
        assert archive.read(f"chalicelib/web/{name}") == (web / name).read_bytes(), name
    # What the assets add to the zip, as a test can check it (their budget is 300 KB compressed).
    added = sum(i.compress_size for i in archive.infolist() if i.filename.startswith("chalicelib/web/"))
    assert added < 300 * 1024, added
    (rest_api,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Api"]
    assert rest_api["Properties"].get("MinimumCompressionSize") == 1024


def test_a_stage_may_choose_x86_64_and_gets_a_package_built_for_it(tmp_path: Path) -> None:
    # GIVEN a stage that asks for x86_64 (the documented way back from the arm64 default)
    opts = replace(stage_options("dev"), architecture="x86_64").check()
    # WHEN packaged (cfn-lint clean)
    template = yaml.load(package("dev", tmp_path, lint=True, opts=opts).read_text(), Loader=_CfnLoader)
    # THEN every function runs on x86_64 and every native module is built for it
    assert {tuple(p["Architectures"]) for p in _functions(template).values()} == {("x86_64",)}
    native = _machines(zipfile.ZipFile(tmp_path / "deployment.zip"))
    assert native and set(native.values()) == {EM_X86_64}, native


def test_an_unknown_architecture_is_refused() -> None:
    with pytest.raises(ValueError, match="architecture must be one of arm64, x86_64"):
        replace(stage_options("dev"), architecture="aarch64").check()
