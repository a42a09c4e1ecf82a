"""The CLI's client against the API's contract: every method is one operation of the OpenAPI document,
sends that operation's method and path, and no other module of the CLI spells a route (a copy of the
route table that nothing checks is how the CLI drifted from the API before)."""

from __future__ import annotations

import ast
import inspect
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from hookway_cli.client import Client, Route
from hookway_cli.transport import Request, Response

ROOT = Path(__file__).resolve().parents[3]
CLI = ROOT / "hookway_cli"
GENERIC = {"call", "pages", "post_raw"}  # the plumbing every operation method uses


@cache
def openapi_document() -> dict[str, Any]:
    """The one committed OpenAPI document, wherever the API layer keeps it (the one place to change)."""
    for candidate in (ROOT / "chalicelib" / "api" / "openapi.yaml", ROOT / "docs" / "openapi.yaml"):
        if candidate.exists():
            doc: dict[str, Any] = yaml.safe_load(candidate.read_text(encoding="utf-8"))
            return doc
    raise AssertionError("no OpenAPI document found")


def operations() -> dict[str, Route]:
    """Every client method that declares an operation, by name."""
    return {
        name: member.route
        for name, member in vars(Client).items()
        if callable(member) and isinstance(getattr(member, "route", None), Route)
    }


def _resolved(node: dict[str, Any]) -> dict[str, Any]:
    """A parameter, its ``$ref`` (``#/components/...``) followed."""
    while "$ref" in node:
        target: Any = openapi_document()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def placeholders(template: str) -> list[str]:
    return re.findall(r"{(\w+)}", template)


def test_every_public_client_method_declares_its_operation() -> None:
    # GIVEN the client's public methods
    public = {name for name, member in vars(Client).items() if callable(member) and not name.startswith("_")}
    # THEN each is one operation, apart from the plumbing they share
    assert public - GENERIC == set(operations())
    assert len(operations()) >= 30


@pytest.mark.parametrize("name", sorted(operations()))
def test_each_operation_is_in_the_openapi_document_with_its_path_parameters(name: str) -> None:
    # GIVEN a client method's declared operation
    route = operations()[name]
    paths = openapi_document()["paths"]
    # THEN the document has that path and that method
    assert route.template in paths, f"{name}: {route.template} is not a path of the OpenAPI document"
    item = paths[route.template]
    assert route.method.lower() in item, f"{name}: {route.method} {route.template} is not an operation"
    # AND the method takes every path parameter by the document's name for it
    op = item[route.method.lower()]
    documented = {
        p["name"]
        for p in map(_resolved, [*item.get("parameters", []), *op.get("parameters", [])])
        if p.get("in") == "path"
    }
    params = list(inspect.signature(getattr(Client, name).__wrapped__).parameters)[2:]  # self, route
    assert set(placeholders(route.template)) <= set(params)
    assert documented == set(placeholders(route.template))


@pytest.mark.parametrize("name", sorted(operations()))
def test_each_method_sends_its_own_operation(name: str) -> None:
    # GIVEN a client on a transport that records what it is asked to send
    sent: list[Request] = []

    def transport(request: Request) -> Response:
        sent.append(request)
        return Response(200, {}, b'{"data": []}')

    client = Client("http://api.test/", "hk_key", transport)
    route = operations()[name]
    args: dict[str, Any] = {}
    for param in list(inspect.signature(getattr(Client, name).__wrapped__).parameters.values())[2:]:
        if param.name in placeholders(route.template):
            args[param.name] = f"id-{param.name}"
        elif param.default is inspect.Parameter.empty:
            args[param.name] = {}
    # WHEN the method is called
    getattr(client, name)(**args)
    # THEN exactly one request went out, with the operation's method and path
    assert len(sent) == 1
    assert sent[0].method == route.method
    expected = route.template.format(**{p: f"id-{p}" for p in placeholders(route.template)})
    assert urlsplit(sent[0].url).path == expected
    assert sent[0].headers["Authorization"] == "Bearer hk_key"


def test_ids_are_percent_encoded_so_an_id_cannot_change_the_route() -> None:
    # GIVEN an id that would walk to another route if pasted into the path
    sent: list[Request] = []
    client = Client("http://api.test", None, lambda r: sent.append(r) or Response(200, {}, b"{}"))
    # WHEN it is used
    client.retire_source_secret("src_1/../../endpoints?x=", "sec #1")
    # THEN it stays one path segment of the declared route
    assert urlsplit(sent[0].url).path == "/v1/sources/src_1%2F..%2F..%2Fendpoints%3Fx%3D/secrets/sec%20%231"
    assert sent[0].method == "DELETE"


def _route_literals(file: Path) -> list[str]:
    tree = ast.parse(file.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and re.search(r"(^|[^\w])/(v1|in)/", node.value)
    ]


def test_no_module_of_the_cli_but_the_client_spells_a_route() -> None:
    # GIVEN every module of the CLI
    files = sorted(CLI.rglob("*.py"))
    assert CLI / "client.py" in files and len(files) > 10
    # THEN routes are written in client.py only (where the test above checks them)
    found = {str(f.relative_to(ROOT)): _route_literals(f) for f in files if f.name != "client.py"}
    assert {f: literals for f, literals in found.items() if literals} == {}
    assert _route_literals(CLI / "client.py")  # the scan does see routes where they are


def _leaves(parser: Any) -> list[tuple[str, Any]]:
    """Every leaf of an argparse tree: (its prog, its parser)."""
    import argparse

    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found.extend(_leaves(child) or [(child.prog, child)])
    return found


def test_each_verb_runs_the_function_its_module_declared_beside_its_flags() -> None:
    # GIVEN the command line built from the resource modules
    from hookway_cli.commands import MODULES
    from hookway_cli.verbs import build_parser

    leaves = _leaves(build_parser(MODULES))
    assert len(leaves) >= 35
    for prog, parser in leaves:
        handler = parser.get_default("handler")
        # THEN its handler is a function object of a module in hookway_cli/commands/, not a name
        assert callable(handler), prog
        assert handler.__module__.startswith("hookway_cli.commands."), (prog, handler.__module__)
    # AND no module of the CLI looks a handler up by name
    assert not [f for f in CLI.rglob("*.py") if "globals()" in f.read_text(encoding="utf-8")]
