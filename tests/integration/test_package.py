"""The deploy artifact: ``chalice package`` merged with the infra template, for python3.13, cfn-lint clean."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.package import package
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


def test_every_function_runs_on_a_supported_runtime(built: tuple[dict[str, Any], zipfile.ZipFile]) -> None:
    template, archive = built
    functions = _functions(template)
    assert {"APIHandler", "RouteIngest", "Deliver"} <= set(functions)
    assert {props["Runtime"] for props in functions.values()} == {"python3.13"}
    native = [n for n in archive.namelist() if n.endswith(".so")]
    assert native and all("abi3" in n or "cpython-313" in n for n in native), native


def test_the_package_is_lean(built: tuple[dict[str, Any], zipfile.ZipFile]) -> None:
    _, archive = built
    top = {name.split("/", 1)[0] for name in archive.namelist()}
    assert {"app.py", "chalicelib", "aws_lambda_powertools"} <= top
    assert not top & {"boto3", "botocore", "moto", "chalice_local", "tests", "local", "bench"}
    assert archive.read("app.py") == (ROOT / "app.py").read_bytes()


def test_queues_are_sized_and_timed_for_their_consumers(
    built: tuple[dict[str, Any], zipfile.ZipFile],
) -> None:
    template, _ = built
    resources = template["Resources"]
    functions = _functions(template)
    consumers = {"IngestQueue": "RouteIngest", "DeliveriesQueue": "Deliver"}
    for queue, function in consumers.items():
        props = resources[queue]["Properties"]
        assert props["MaximumMessageSize"] == 1048576
        assert props["VisibilityTimeout"] >= 6 * functions[function]["Timeout"]
        dlq = resources[props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]]["Properties"]
        assert dlq["MessageRetentionPeriod"] > props["MessageRetentionPeriod"]
        assert props["RedrivePolicy"]["maxReceiveCount"] >= 5


def test_functions_get_resource_names_and_a_checked_in_least_privilege_policy(
    built: tuple[dict[str, Any], zipfile.ZipFile],
) -> None:
    template, _ = built
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["HOOKWAY_TABLE"] == {"Ref": "StateTable"}
    assert variables["HOOKWAY_INGEST_QUEUE_URL"] == {"Ref": "IngestQueue"}
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"]["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                assert all(a != "*" and not a.endswith(":*") for a in actions), (name, actions)
                resources = (
                    statement["Resource"]
                    if isinstance(statement["Resource"], list)
                    else [statement["Resource"]]
                )
                assert "*" not in resources, (name, statement)


def test_the_api_takes_every_request_body_as_binary(built: tuple[dict[str, Any], zipfile.ZipFile]) -> None:
    template, _ = built
    body = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    assert body["x-amazon-apigateway-binary-media-types"] == ["*/*"]  # raw_body is what the sender signed
