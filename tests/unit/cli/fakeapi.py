"""A fake Hookway API for the CLI's tests: a transport that answers from a table and records requests."""

from __future__ import annotations

import io
import json
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hookway_cli.__main__ import main
from hookway_cli.transport import Request, Response

BASE = "http://api.test"
KEY = "hk_cli_test_key_1234"
NOW = 1_700_000_000.0

Answer = tuple[int, Any] | Callable[[Request], tuple[int, Any]]


@dataclass
class FakeApi:
    """Routes are ``(METHOD, path regex)``; an answer is ``(status, json doc or bytes)`` or a function."""

    routes: dict[tuple[str, str], Answer] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def on(self, method: str, pattern: str, answer: Answer) -> FakeApi:
        self.routes[(method, pattern)] = answer
        return self

    def __call__(self, request: Request) -> Response:
        self.requests.append(request)
        split = urlsplit(request.url)
        for (method, pattern), answer in self.routes.items():
            if method == request.method and re.fullmatch(pattern, split.path):
                status, doc = answer(request) if callable(answer) else answer
                body = doc if isinstance(doc, bytes) else json.dumps(doc).encode() if doc is not None else b""
                return Response(status, {"content-type": "application/json"}, body)
        return Response(
            404, {}, json.dumps({"error": {"code": "not_found", "message": "no such route"}}).encode()
        )

    def last(self, method: str | None = None) -> Request:
        return [r for r in self.requests if method is None or r.method == method][-1]

    def sent_json(self, method: str = "POST") -> Any:
        body = self.last(method).body
        return json.loads(body) if body else None

    def query(self, index: int = -1) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.requests[index].url).query).items()}


@dataclass
class Ran:
    """One CLI run: exit code, stdout and stderr."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Tty(io.StringIO):
    """A stdout that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def run(
    api: FakeApi,
    *argv: str,
    env: dict[str, str] | None = None,
    stdout: io.StringIO | None = None,
    stdin: str = "",
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> Ran:
    """Run ``hookway argv`` against the fake API, connected by the environment."""
    out = stdout if stdout is not None else io.StringIO()
    err = io.StringIO()
    with tempfile.TemporaryDirectory(prefix="hookway-cli-test-") as empty:
        # a fresh, empty config directory per run (no profile, no remembered listen session)
        environment = {"HOOKWAY_URL": BASE, "HOOKWAY_ADMIN_KEY": KEY, "HOOKWAY_CONFIG_DIR": empty}
        environment.update(env or {})
        code = main(
            list(argv),
            transport=api,
            env=environment,
            stdout=out,
            stderr=err,
            stdin=io.StringIO(stdin),
            clock=clock or (lambda: NOW),
            sleep=sleep or (lambda seconds: None),
        )
    return Ran(code, out.getvalue(), err.getvalue())
