"""``hookway``: the entry point. Parses the command line, runs one command, maps errors to exit codes.

Exit codes: 0 ok, 1 the API said no (or could not be reached, or a verification failed), 2 usage.
Nothing heavy is imported here or by the command modules (rich, the verification package and the
signers wait for the verbs that use them): ``hookway --help`` costs little more than starting Python.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any


def main(
    argv: Sequence[str] | None = None,
    *,
    transport: Any = None,
    env: Mapping[str, str] | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
    stdin: IO[str] | None = None,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> int:
    """Run one ``hookway`` command; every collaborator can be injected (tests pass a fake transport)."""
    import os

    from hookway_cli.commands import MODULES
    from hookway_cli.verbs import build_parser

    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = build_parser(MODULES)
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2), already printed
        return int(exc.code or 0) if isinstance(exc.code, int) else 2
    if not getattr(args, "handler", None):
        parser.print_help(stderr)
        return 2
    from hookway_cli.context import Context, run

    ctx = Context(
        args=args,
        env=dict(os.environ) if env is None else dict(env),
        stdout=stdout,
        stderr=stderr,
        stdin=stdin or sys.stdin,
        transport=transport,
        clock=clock,
        sleep=sleep,
    )
    return run(ctx)


if __name__ == "__main__":
    sys.exit(main())
