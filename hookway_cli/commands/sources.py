"""``hookway sources ...``: inbound sources, their secrets and their rejections."""

from __future__ import annotations

from typing import Any

from hookway_cli.context import Context, listing, show
from hookway_cli.inputs import pairs
from hookway_cli.verbs import Verbs, arg

verbs = Verbs()
sources = verbs.group("sources", "inbound sources (providers that send webhooks to Hookway)")

COLUMNS = [
    ("id", "id"),
    ("name", "name"),
    ("scheme", "verification.scheme"),
    ("enabled", "enabled"),
    ("ingest url", "ingest_url"),
]
SOURCE_ID = arg("source_id")


@sources.command("list", "list sources")
def list_sources(ctx: Context) -> int:
    """Every source, as a table."""
    return listing(ctx, ctx.client.list_sources, COLUMNS)


@sources.command(
    "create",
    "create a source",
    arg("--name", required=True),
    arg("--scheme", required=True, help="verification scheme: github, stripe, standard, ..."),
    arg("--secret", action="append", default=[], help="a verification secret (repeatable)"),
    arg("--application", help="the application the source belongs to"),
    arg("--option", action="append", default=[], metavar="KEY=VALUE", help="a scheme option"),
)
def create(ctx: Context) -> int:
    """Create a source; prints it."""
    a = ctx.args
    doc: dict[str, Any] = {"name": a.name, "verification": {"scheme": a.scheme, "secrets": a.secret}}
    if a.option:
        doc["verification"]["options"] = pairs(a.option, "--option")
    if a.application:
        doc["application"] = a.application
    return show(ctx, ctx.client.create_source(doc))


@sources.command("show", "one source", SOURCE_ID)
def show_source(ctx: Context) -> int:
    """One source."""
    return show(ctx, ctx.client.get_source(ctx.args.source_id))


@sources.command(
    "add-secret",
    "add a verification secret (rotation)",
    SOURCE_ID,
    arg("--secret", required=True),
    arg("--retire-others-after", type=int, help="seconds until the other secrets stop matching"),
)
def add_secret(ctx: Context) -> int:
    """Add a verification secret, optionally retiring the others later."""
    doc: dict[str, Any] = {"secret": ctx.args.secret}
    if ctx.args.retire_others_after is not None:
        doc["retire_others_after"] = ctx.args.retire_others_after
    answer = ctx.client.add_source_secret(ctx.args.source_id, doc)
    ctx.out.result(answer, text=f"added secret {answer['secret'].get('id')} to {answer['source_id']}")
    return 0


@sources.command("retire-secret", "retire a verification secret now", SOURCE_ID, arg("secret_id"))
def retire_secret(ctx: Context) -> int:
    """Retire one secret now. JSON: ``{"source_id", "secret_id", "retired"}``."""
    a = ctx.args
    ctx.client.retire_source_secret(a.source_id, a.secret_id)
    ctx.out.result(
        {"source_id": a.source_id, "secret_id": a.secret_id, "retired": True},
        text=f"retired secret {a.secret_id} of {a.source_id}",
    )
    return 0


@sources.command("rejections", "recent rejected requests and counts per reason", SOURCE_ID)
def rejections(ctx: Context) -> int:
    """Counts per reason, then the recent rejections."""
    doc = ctx.client.source_rejections(ctx.args.source_id)
    if ctx.out.as_json:
        ctx.out.json(doc)
        return 0
    counts = doc.get("counts") or {}
    ctx.out.line("counts: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"))
    items = doc.get("data") or doc.get("rejections") or []
    ctx.out.table(items, [("at", "at"), ("reason", "code"), ("ip", "source_ip"), ("message", "message")])
    return 0
