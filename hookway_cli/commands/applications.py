"""``hookway applications ...``: applications (tenants), and portal access for one of them."""

from __future__ import annotations

from typing import Any

from hookway_cli.commands.jobs import job_result, wait_arg
from hookway_cli.context import Context, listing, show
from hookway_cli.inputs import pairs
from hookway_cli.verbs import Verbs, arg

verbs = Verbs()
applications = verbs.group("applications", "applications (your customers, i.e. tenants)")

COLUMNS = [("id", "id"), ("uid", "uid"), ("name", "name"), ("created", "created_at")]
APPLICATION_ID = arg("application_id")


@applications.command("list", "list applications")
def list_applications(ctx: Context) -> int:
    """Every application, as a table."""
    return listing(ctx, ctx.client.list_applications, COLUMNS)


@applications.command(
    "create",
    "create an application",
    arg("--name", required=True),
    arg("--uid", help="your own id for it"),
    arg("--metadata", action="append", default=[], metavar="KEY=VALUE"),
)
def create(ctx: Context) -> int:
    """Create an application; prints it."""
    a = ctx.args
    doc: dict[str, Any] = {"name": a.name}
    if a.uid:
        doc["uid"] = a.uid
    if a.metadata:
        doc["metadata"] = {
            k: str(v) if not isinstance(v, str) else v for k, v in pairs(a.metadata, "--metadata").items()
        }
    return show(ctx, ctx.client.create_application(doc))


@applications.command(
    "delete",
    "delete an application (its endpoints by a job)",
    APPLICATION_ID,
    wait_arg("follow the job"),
)
def delete(ctx: Context) -> int:
    """Delete an application now, and its endpoints by a job the API runs (``--wait`` follows it)."""
    job = ctx.client.delete_application(ctx.args.application_id)
    return job_result(ctx, job, f"endpoints of {ctx.args.application_id} deleted")


@applications.command(
    "portal-url",
    "mint a portal token and print the portal URL",
    APPLICATION_ID,
    arg("--expires-in", type=int, default=3600, help="seconds (default 3600)"),
    arg("--read-only", action="store_true"),
)
def portal_url(ctx: Context) -> int:
    """Mint a portal token; prints the portal URL (``--json``: the API's whole answer)."""
    a = ctx.args
    doc = ctx.client.portal_access(a.application_id, {"expires_in": a.expires_in, "read_only": a.read_only})
    ctx.out.result(doc, text=doc["url"])
    return 0
