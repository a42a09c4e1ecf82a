"""``hookway listen``: receive deliveries on a laptop, with no inbound connection (the work is in
``hookway_cli.listen``, imported when the verb runs)."""

from __future__ import annotations

import argparse

from hookway_cli.context import Context
from hookway_cli.verbs import Verbs, arg

verbs = Verbs()


@verbs.command(
    "listen",
    "receive deliveries here: pull them and forward them to a local URL",
    arg("--forward", required=True, metavar="URL", help="the local URL each delivery is POSTed to"),
    arg("--events", action="append", default=[], help="event-type filter (repeatable, * allowed)"),
    arg("--source", action="append", default=[], help="source filter (repeatable)"),
    arg("--application", help="listen to this application's messages"),
    arg("--session", help="resume this session (its ep_ id); by default the same command resumes its own"),
    arg("--new", action="store_true", help="open a new session even if this command has one"),
    arg("--expires-in", type=int, default=3600, help="a new session's lifetime in seconds (default 3600)"),
    arg("--count", type=int, help="stop after this many deliveries"),
    arg("--poll-wait", type=float, default=20.0, help=argparse.SUPPRESS),
)
def listen(ctx: Context) -> int:
    """Pull a listen session's deliveries and POST each to ``--forward`` with its headers (Standard
    Webhooks signature included) and body, then report the local answer as the attempt's outcome. The
    same command run again resumes its session. One line per delivery; JSON: one object per line
    ``{"time", "event_type", "message_id", "attempt", "status", "error_class", "duration_ms",
    "outcome"}``."""
    from hookway_cli.listen import Listener

    return Listener(ctx).run()
