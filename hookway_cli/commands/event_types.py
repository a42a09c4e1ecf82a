"""``hookway event-types ...``: the event-type catalog (JSON Schemas checked on publish)."""

from __future__ import annotations

from typing import Any

from hookway_cli.context import Context, listing, show
from hookway_cli.inputs import read_json_arg
from hookway_cli.verbs import Verbs, arg

verbs = Verbs()
event_types = verbs.group("event-types", "the event-type catalog")

COLUMNS = [("name", "name"), ("description", "description"), ("deprecated", "deprecated")]


@event_types.command("list", "list event types")
def list_event_types(ctx: Context) -> int:
    """The whole catalog, as a table."""
    return listing(ctx, ctx.client.list_event_types, COLUMNS)


@event_types.command("show", "one event type", arg("name"))
def show_event_type(ctx: Context) -> int:
    """One event type."""
    return show(ctx, ctx.client.get_event_type(ctx.args.name))


@event_types.command(
    "create",
    "add an event type",
    arg("name"),
    arg("--description", default=""),
    arg("--schema", help="a JSON Schema: @file.json or inline JSON"),
)
def create(ctx: Context) -> int:
    """Add an event type; prints it."""
    doc: dict[str, Any] = {"name": ctx.args.name, "description": ctx.args.description}
    if ctx.args.schema:
        doc["schema"] = read_json_arg(ctx.args.schema, ctx.stdin, "--schema")
    return show(ctx, ctx.client.create_event_type(doc))
