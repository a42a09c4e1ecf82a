"""What a command runs with: the ``Context`` (arguments, client, output, clock), and ``run``.

A handler is ``(ctx: Context) -> int``: 0 ok, 1 the API said no, 2 usage. It raises ``CliError`` for
anything it reports as one sentence; ``run`` prints it and returns its exit code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, Any

from hookway_cli.errors import CliError

if TYPE_CHECKING:
    from hookway_cli import profiles
    from hookway_cli.client import Client
    from hookway_cli.output import Column


class Context:
    """Everything a command may use; tests inject the transport, the clock and ``sleep``.

    Every command module imports this one to declare its verbs, so it imports what a run needs (output,
    profiles, the client) only when a run makes a ``Context``: ``hookway --help`` never pays for them."""

    def __init__(
        self,
        *,
        args: Any,
        env: dict[str, str],
        stdout: IO[str],
        stderr: IO[str],
        stdin: IO[str],
        transport: Any = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        from hookway_cli.output import Output

        self.args, self.env, self.transport = args, env, transport
        self.stdout, self.stderr, self.stdin = stdout, stderr, stdin
        self._client: Client | None = None
        self.out = Output(stdout, stderr, as_json=self.opt("json", False), env=env)
        self.now: Callable[[], float] = clock or time.time
        self.wait: Callable[[float], None] = sleep or time.sleep

    def opt(self, name: str, default: Any = None) -> Any:
        """An argument that may be absent (the common flags are SUPPRESSed until given)."""
        return getattr(self.args, name, default)

    def connection(self) -> profiles.Connection:
        """Where to connect (flags, environment, profile)."""
        from hookway_cli import profiles

        return profiles.resolve(
            self.env, url=self.opt("url"), key=self.opt("key"), profile=self.opt("profile")
        )

    def connect(self, url: str, key: str | None) -> Client:
        """Use this API and key from now on (``login`` checks a key before saving it)."""
        from hookway_cli.client import Client
        from hookway_cli.transport import urllib_transport

        self._client = Client(url, key, self.transport or urllib_transport())
        return self._client

    @property
    def client(self) -> Client:
        """The API client, made on first use."""
        if self._client is None:
            conn = self.connection()
            return self.connect(conn.url, conn.key)
        return self._client


def run(ctx: Context) -> int:
    """Run the parsed command's handler: 0 ok, 1 the API said no, 2 usage."""
    try:
        result = ctx.args.handler(ctx)
    except CliError as exc:
        ctx.out.error(_sentence(str(exc)))
        return exc.exit_code
    except KeyboardInterrupt:
        ctx.out.error("interrupted")
        return 130
    return int(result or 0)


def _sentence(text: str) -> str:
    text = text.strip() or "the API refused the request"
    return text if text.endswith((".", "!", "?")) else text + "."


def listing(
    ctx: Context, fetch: Callable[..., Any], columns: list[Column], query: Mapping[str, Any] | None = None
) -> int:
    """Every page of a listing as one table (``--json``: ``{"data": [...]}``)."""
    items = ctx.client.pages(fetch, query)
    ctx.out.table(items, columns, {"data": items})
    return 0


def show(ctx: Context, doc: Any) -> int:
    """One answer as fields (``--json``: as the API gave it)."""
    ctx.out.result(doc)
    return 0
