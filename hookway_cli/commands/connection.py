"""``hookway login`` and ``hookway whoami``: where the next command connects, and whether the key works."""

from __future__ import annotations

from hookway_cli.context import Context
from hookway_cli.errors import ApiError, CliError, ConnectionFailed, UsageError
from hookway_cli.verbs import Verbs, arg

verbs = Verbs()


@verbs.command(
    "login",
    "save a profile (URL and key) in your config directory",
    arg("--name", help="profile name (default: default; --profile NAME says the same)"),
)
def login(ctx: Context) -> int:
    """Save a profile after checking the key works; the profile is ``--name`` or ``--profile`` (the same
    thing; default ``default``). JSON: ``{"profile", "url", "file"}``."""
    import getpass

    from hookway_cli import profiles

    name, flag_profile = ctx.args.name, ctx.opt("profile")
    if name and flag_profile and name != flag_profile:
        raise UsageError(f"--name {name} and --profile {flag_profile} differ: give one")
    name = name or flag_profile or "default"
    # the profile may not exist yet: its saved URL is a default only when it does
    env = {k: v for k, v in ctx.env.items() if k != "HOOKWAY_PROFILE"}
    known = name in profiles.load(env)["profiles"]
    conn = profiles.resolve(env, url=ctx.opt("url"), key=None, profile=name if known else None)
    key = ctx.opt("key") or ctx.env.get("HOOKWAY_ADMIN_KEY")
    if not key:
        if not getattr(ctx.stdin, "isatty", lambda: False)():
            raise UsageError("give the key with --key or HOOKWAY_ADMIN_KEY")
        key = getpass.getpass("admin key or portal token: ").strip()
    client = ctx.connect(conn.url, key)
    shown = profiles.key_hint(key)
    try:
        client.list_event_types({"limit": 1})  # any key may read the catalog
    except ApiError as exc:
        if exc.status in (401, 403):
            said = str(exc).rstrip(".") or exc.code
            raise ApiError(
                exc.status,
                exc.code,
                f"the API at {conn.url} did not accept the {shown} ({said});"
                f" check the key and run login again: profile {name} was not saved",
            ) from None
        raise
    except ConnectionFailed as exc:
        raise ConnectionFailed(f"{exc}; the key was not checked and profile {name} was not saved") from None
    file = profiles.save(ctx.env, name, conn.url, key)
    ctx.out.result(
        {"profile": name, "url": conn.url, "file": str(file)},
        text=f"saved profile {name} for {conn.url} in {file}",
    )
    return 0


@verbs.command("whoami", "say which API and key the next command uses, and where they came from")
def whoami(ctx: Context) -> int:
    """Which API and key, and where each came from. JSON: ``{"url", "url_from", "key", "key_from",
    "profile", "role", "reachable"}`` (the key as kind and last four characters only)."""
    from hookway_cli import profiles

    conn = ctx.connection()
    role, reachable = "unknown", False
    try:
        ctx.client.list_sources({"limit": 1})
        role, reachable = "operator", True
    except ApiError as exc:
        reachable = True
        role = {403: "application (portal token)", 401: "not accepted"}.get(exc.status, f"error {exc.code}")
    except CliError:
        role = "unreachable"
    doc = {
        "url": conn.url,
        "url_from": conn.url_from,
        "key": profiles.key_hint(conn.key),
        "key_from": conn.key_from,
        "profile": conn.profile,
        "role": role,
        "reachable": reachable,
    }
    ctx.out.result(doc)
    return 0 if role in ("operator", "application (portal token)") else 1
