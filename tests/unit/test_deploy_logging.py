"""``make deploy`` sets what Chalice cannot on every function: Lambda's JSON log format, the system log level
WARN (no START/END/REPORT lines) and the application's at the stage's level."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib.names import FUNCTIONS, names
from infra import chalice_config
from infra.deploy import apply_handler, apply_logging


def _lambda() -> Any:
    return boto3.session.Session().client(
        "lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def test_the_log_configuration_is_set_on_every_function_that_lacks_it() -> None:
    # GIVEN a stage whose functions Chalice made (one already configured, one not made at all)
    client, n = _lambda(), names("prod")
    wanted = {"LogFormat": "JSON", "SystemLogLevel": "WARN", "ApplicationLogLevel": "WARN"}
    with Stubber(client) as stub:
        for key in FUNCTIONS:
            name = n.function(key)
            get = {"FunctionName": name}
            if key == "sweep":
                stub.add_client_error("get_function_configuration", "ResourceNotFoundException", 404)
                continue
            current = wanted if key == "dead_letters" else {"LogFormat": "Text", "LogGroup": "/aws/lambda/x"}
            stub.add_response(
                "get_function_configuration",
                {
                    "FunctionName": name,
                    "State": "Active",
                    "LastUpdateStatus": "Successful",
                    "LoggingConfig": current,
                },
                get,
            )
            if key != "dead_letters":
                stub.add_response(
                    "update_function_configuration", {"FunctionName": name}, {**get, "LoggingConfig": wanted}
                )
        # WHEN the post-deploy step runs with prod's level
        lines = apply_logging(client, n, chalice_config.log_level("prod"))
        # THEN exactly those that lack it got the configuration (the stub fails on any other call)
        stub.assert_no_pending_responses()
    assert lines == [
        "log configuration JSON (system WARN, application WARN) set on "
        + ", ".join(n.function(k) for k in ("api_handler", "route_ingest", "deliver", "deliver_slow"))
    ]


@pytest.mark.parametrize(
    ("level", "lambda_level"),
    [("DEBUG", "DEBUG"), ("INFO", "INFO"), ("WARNING", "WARN"), ("ERROR", "ERROR"), ("CRITICAL", "FATAL")],
)
def test_the_application_level_is_the_stages_as_lambda_spells_it(level: str, lambda_level: str) -> None:
    base = {
        "environment_variables": {"HOOKWAY_LOG_LEVEL": "INFO"},
        "stages": {"s": {"environment_variables": {"HOOKWAY_LOG_LEVEL": level}}},
    }
    assert chalice_config.log_level("s", base) == lambda_level
    assert chalice_config.log_level("other", base) == "INFO"  # the default of .chalice/config.json


def test_an_unknown_level_is_refused_before_anything_is_deployed() -> None:
    base = {"stages": {"s": {"environment_variables": {"HOOKWAY_LOG_LEVEL": "VERBOSE"}}}}
    with pytest.raises(ValueError, match="VERBOSE"):
        chalice_config.log_level("s", base)


def test_chalice_gets_the_stages_architecture_and_each_functions_memory() -> None:
    from dataclasses import replace

    from infra.stack import MEMORY, stage_options

    # GIVEN the default stage options, then a stage that asks for x86_64
    for architecture in ("arm64", "x86_64"):
        opts = replace(stage_options("dev"), architecture=architecture)
        # WHEN Chalice's configuration is generated (both deploy paths use it)
        stage = chalice_config.config_for(names("dev"), opts, outputs=None)["stages"]["dev"]
        # THEN every function runs on that architecture with its own measured memory
        assert stage["lambda_architecture"] == architecture
        assert {k: f["lambda_memory_size"] for k, f in stage["lambda_functions"].items()} == MEMORY
    assert stage_options("dev").architecture == "arm64"  # the default


def test_the_api_function_is_pointed_at_its_entry_after_chalice_deploy() -> None:
    # GIVEN the API function as Chalice leaves it (handler app.app)
    client, n = _lambda(), names("prod")
    name = n.function("api_handler")
    settled = {"FunctionName": name, "State": "Active", "LastUpdateStatus": "Successful"}
    with Stubber(client) as stub:
        stub.add_response(
            "get_function_configuration", {**settled, "Handler": "app.app"}, {"FunctionName": name}
        )
        stub.add_response(
            "update_function_configuration",
            {"FunctionName": name},
            {"FunctionName": name, "Handler": chalice_config.API_HANDLER},
        )
        # WHEN the post-deploy step runs THEN it sets the entry's handler
        assert apply_handler(client, n) == [f"handler {chalice_config.API_HANDLER} set on {name}"]
        # ... and a second run changes nothing
        stub.add_response(
            "get_function_configuration",
            {**settled, "Handler": chalice_config.API_HANDLER},
            {"FunctionName": name},
        )
        assert apply_handler(client, n) == []
        stub.assert_no_pending_responses()
