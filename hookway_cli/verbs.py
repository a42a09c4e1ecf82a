"""How a module declares its verbs: the flags beside the handler, the handler bound as a function.

    verbs = Verbs()
    sources = verbs.group("sources", "inbound sources (providers that send webhooks to Hookway)")

    @sources.command("show", "one source", arg("source_id"))
    def show(ctx: Context) -> int: ...

``build_parser`` turns the declarations of the modules in ``hookway_cli.commands.MODULES`` into argparse
parsers, in their order; each leaf's ``handler`` default is the function itself, so ``run`` calls what
was declared and never looks a name up. Declaring imports nothing but argparse and typing (no dataclasses,
no pathlib, no rich): ``hookway --help`` stays as cheap as it was with one hand-written parser.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from hookway_cli.context import Context

Handler = Callable[["Context"], int]


class Arg(NamedTuple):
    """One argparse argument: its flags (or positional name) and ``add_argument``'s keywords."""

    flags: tuple[str, ...]
    options: dict[str, Any]


def arg(*flags: str, **options: Any) -> Arg:
    """An argument, declared as ``argparse.ArgumentParser.add_argument`` takes it."""
    return Arg(flags, options)


class Command(NamedTuple):
    """A leaf of the command line: its name, help, arguments and handler."""

    name: str
    help: str
    handler: Handler
    args: tuple[Arg, ...]


class Verbs:
    """A module's verbs in declaration order: commands, and groups of commands (``name`` set)."""

    def __init__(self, name: str | None = None, help_text: str = "") -> None:
        self.name = name
        self.help = help_text
        self.entries: list[Command | Verbs] = []

    def command(self, name: str, help_text: str, *args: Arg) -> Callable[[Handler], Handler]:
        """Declare a command; used as a decorator on its handler, which it returns unchanged."""

        def bind(handler: Handler) -> Handler:
            self.entries.append(Command(name, help_text, handler, args))
            return handler

        return bind

    def group(self, name: str, help_text: str) -> Verbs:
        """Declare a group of commands (``hookway sources ...``)."""
        group = Verbs(name, help_text)
        self.entries.append(group)
        return group


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: given before or after the verb, neither place overwrites the other with a default.
    common.add_argument("--url", default=argparse.SUPPRESS, help="the API's base URL (else HOOKWAY_URL)")
    common.add_argument(
        "--key", default=argparse.SUPPRESS, help="admin key or portal token (else HOOKWAY_ADMIN_KEY)"
    )
    common.add_argument("--profile", default=argparse.SUPPRESS, help="a profile saved by `hookway login`")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    return common


def _add(subparsers: Any, entries: Iterable[Command | Verbs], common: argparse.ArgumentParser) -> None:
    for entry in entries:
        if isinstance(entry, Verbs):
            parser = subparsers.add_parser(entry.name, help=entry.help, description=entry.help)
            _add(parser.add_subparsers(title="commands", metavar="COMMAND"), entry.entries, common)
            continue
        leaf = subparsers.add_parser(entry.name, help=entry.help, description=entry.help, parents=[common])
        for argument in entry.args:
            leaf.add_argument(*argument.flags, **argument.options)
        leaf.set_defaults(handler=entry.handler)


def build_parser(modules: Iterable[Verbs]) -> argparse.ArgumentParser:
    """The whole command line from the modules' declarations."""
    common = _common()
    root = argparse.ArgumentParser(
        prog="hookway",
        description="Hookway's command line: manage sources, endpoints and applications, send and "
        "inspect webhooks, recover and replay deliveries, verify captured requests.",
        parents=[common],
    )
    subparsers = root.add_subparsers(title="commands", metavar="COMMAND")
    for verbs in modules:
        _add(subparsers, verbs.entries, common)
    return root
