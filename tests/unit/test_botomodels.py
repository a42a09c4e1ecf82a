"""The package's trimmed botocore data (infra/botomodels.py): every operation the code calls is kept, the
models are otherwise botocore's own (minus documentation), and the composition root's session loads them."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name

from chalicelib.aws.botomodels import use_packaged_models
from chalicelib.config import Settings
from chalicelib.names import names
from chalicelib.wiring.api import ApiRoot
from chalicelib.wiring.base import Shared
from infra import botomodels, iam

ROOT = Path(__file__).resolve().parents[2]
LOCAL = Settings(endpoint_url="http://127.0.0.1:9")


@pytest.fixture(scope="module")
def full() -> dict[str, dict[str, Any]]:
    """botocore's own (pinned) models of the trimmed services."""
    loader = botocore.session.get_session().get_component("data_loader")
    return {
        s: loader.load_data(f"{s}/{loader.determine_latest_version(s, 'service-2')}/service-2")
        for s in botomodels.SERVICES
    }


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("botocore-data")
    botomodels.write(directory)
    return directory


def _names_in_code() -> Iterator[tuple[str, str]]:
    """Every attribute name and string constant in the functions' code (chalicelib and app.py), with its file:
    a client's operation is called as ``client.put_item(...)`` or named as ``_call("put_item", ...)``."""
    for path in [ROOT / "app.py", *sorted((ROOT / "chalicelib").rglob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute):
                yield node.attr, str(path.relative_to(ROOT))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                yield node.value, str(path.relative_to(ROOT))


def test_every_operation_the_code_names_is_kept_in_its_services_trimmed_model(
    full: dict[str, dict[str, Any]],
) -> None:
    # GIVEN each trimmed service's operations, by botocore's method name and by the API's own name
    by_name = {
        s: {**{xform_name(op): op for op in model["operations"]}, **{op: op for op in model["operations"]}}
        for s, model in full.items()
    }
    # WHEN the code names one (a call, a dispatched name, a constant), THEN it is kept
    missing = sorted(
        (s, by_name[s][name], where)
        for name, where in _names_in_code()
        for s in botomodels.SERVICES
        if name in by_name[s] and by_name[s][name] not in botomodels.OPERATIONS[s]
    )
    assert missing == []


#: Granted for Lambda's SQS event source mapping, which calls them itself (not the functions' code).
EVENT_SOURCE_MAPPING = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}


def test_every_action_a_functions_policy_grants_keeps_its_operation(full: dict[str, dict[str, Any]]) -> None:
    # The policies are checked against the calls each handler makes (tests/integration/test_iam_calls.py);
    # a batch operation is authorized by its single form's action (sqs:SendMessage for SendMessageBatch).
    for tracing in (False, True):
        for policy in iam.policies(names("prod"), iam.for_template(names("prod")), tracing=tracing).values():
            for statement in policy["Statement"]:
                for action in set(statement["Action"]) - EVENT_SOURCE_MAPPING:
                    prefix, op = action.split(":", 1)
                    if prefix in full and op in full[prefix]["operations"]:
                        kept = botomodels.OPERATIONS[prefix]
                        assert op in kept or f"{op}Batch" in kept, action


def test_the_trimmed_services_are_those_the_composition_root_makes_clients_of() -> None:
    made = set()
    for path in sorted((ROOT / "chalicelib" / "wiring").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("_client", "client")
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                made.add(node.args[0].value)
    assert made == set(botomodels.SERVICES)


def _undocumented(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _undocumented(v) for k, v in value.items() if k not in ("documentation", "documentationUrl")
        }
    if isinstance(value, list):
        return [_undocumented(v) for v in value]
    return value


def test_a_trimmed_model_is_botocores_own_for_what_it_keeps(
    data: Path, full: dict[str, dict[str, Any]]
) -> None:
    for service, model in full.items():
        version = next((data / service).iterdir()).name
        trimmed = json.loads((data / service / version / "service-2.json").read_text(encoding="utf-8"))
        # only the kept operations (and botocore's own endpoint discovery), each as botocore has it
        discovery = {n for n, op in model["operations"].items() if op.get("endpointoperation")}
        assert set(trimmed["operations"]) == botomodels.OPERATIONS[service] | discovery
        for name, op in trimmed["operations"].items():
            assert op == _undocumented(model["operations"][name])
        # every shape it refers to is there and as botocore has it (member names kept, documentation out)
        for name, shape in trimmed["shapes"].items():
            assert shape == _undocumented(model["shapes"][name]) or "documentation" in shape.get(
                "members", {}
            )
            refs = [
                *shape.get("members", {}).values(),
                *(shape[k] for k in ("member", "key", "value") if k in shape),
            ]
            assert all(ref["shape"] in trimmed["shapes"] for ref in refs), (service, name)
        # every error shape is kept: client.exceptions and error parsing are unchanged
        errors = {n for n, s in model["shapes"].items() if s.get("exception")}
        assert errors <= set(trimmed["shapes"])
        assert trimmed["metadata"] == model["metadata"]
        assert (data / service / version / "service-2.json").stat().st_size < 0.25 * len(json.dumps(model))


def test_the_trimmed_endpoints_keep_every_partition_and_region_of_the_services(data: Path) -> None:
    loader = botocore.session.get_session().get_component("data_loader")
    whole = loader.load_data("endpoints")
    trimmed = json.loads((data / "endpoints.json").read_text(encoding="utf-8"))
    assert [p["partition"] for p in trimmed["partitions"]] == [p["partition"] for p in whole["partitions"]]
    for mine, theirs in zip(trimmed["partitions"], whole["partitions"], strict=True):
        assert mine["regions"] == theirs["regions"] and mine["defaults"] == theirs["defaults"]
        assert mine["services"] == {k: v for k, v in theirs["services"].items() if k in botomodels.SERVICES}
    assert (data / "endpoints.json").stat().st_size < 0.1 * len(json.dumps(whole))


def test_a_session_given_the_trimmed_data_makes_full_clients_from_it(
    data: Path, full: dict[str, dict[str, Any]]
) -> None:
    # GIVEN a session that searches the trimmed data first, as the package's composition root does
    session = botocore.session.get_session()
    assert use_packaged_models(session, str(data))
    loader = session.get_component("data_loader")
    for service in botomodels.SERVICES:
        client = session.create_client(
            service, region_name="eu-west-1", aws_access_key_id="k", aws_secret_access_key="s"
        )
        # THEN it loaded the trimmed model, and its client has every kept operation and every error class
        version = client.meta.service_model.api_version
        assert loader.load_data_with_path(f"{service}/{version}/service-2")[1].startswith(str(data))
        for op in botomodels.OPERATIONS[service]:
            assert callable(getattr(client, xform_name(op)))
        discovery = {"DescribeEndpoints"} if service == "dynamodb" else set()
        assert set(client.meta.service_model.operation_names) == botomodels.OPERATIONS[service] | discovery
        errors = {n for n, s in full[service]["shapes"].items() if s.get("exception")}
        assert {n for n in errors if hasattr(client.exceptions, n)} == errors
        assert client.meta.region_name == "eu-west-1"
    assert loader.load_data_with_path("endpoints")[1].startswith(str(data))
    # ... and what it does not hold (an endpoint rule set, another service) comes from botocore's own data
    assert not loader.load_data_with_path("dynamodb/2012-08-10/endpoint-rule-set-1")[1].startswith(str(data))
    session.create_client("sns", region_name="eu-west-1", aws_access_key_id="k", aws_secret_access_key="s")


def test_the_composition_root_uses_the_packaged_data_and_only_when_there_is_some(
    data: Path, tmp_path: Path
) -> None:
    # GIVEN a package's root (its trimmed data present) WHEN it makes a client THEN its session reads them first
    shared = Shared(LOCAL)
    shared.botocore_data = str(data)
    assert ApiRoot(shared).dynamodb.meta.service_model.service_name == "dynamodb"
    assert shared._session.get_component("data_loader").search_paths[0] == str(data)
    # ... and without them (tests, the local stack: the directory is absent) botocore's own search path
    session = botocore.session.get_session()
    paths = list(session.get_component("data_loader").search_paths)
    assert not use_packaged_models(session, str(tmp_path / "absent"))
    assert session.get_component("data_loader").search_paths == paths


def test_the_packaged_loader_loads_what_botocores_loader_loads_without_listing_every_service(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.loaders import Loader

    from chalicelib.aws.packaged_loader import PackagedLoader

    # GIVEN the package's loader and botocore's own on the same search path
    packaged, plain = PackagedLoader(str(data), []), Loader(extra_search_paths=[str(data)])
    listed: list[str] = []
    real = Loader.list_available_services
    monkeypatch.setattr(Loader, "list_available_services", lambda self, t: listed.append(t) or real(self, t))
    for service in botomodels.SERVICES:
        for kind in ("service-2", "endpoint-rule-set-1"):
            # THEN a packaged service's data is the same, found without listing every known service
            assert packaged.load_service_model(service, kind) == plain.load_service_model(service, kind)
            listed.remove(kind)  # botocore's own listed them
    assert listed == []
    # ... and any other service is loaded as botocore does, listing included
    assert packaged.load_service_model("sns", "service-2") == plain.load_service_model("sns", "service-2")
    assert listed == ["service-2", "service-2"]
