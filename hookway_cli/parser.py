"""The command line, as argparse sees it. Each leaf names its handler in ``hookway_cli.commands``."""

from __future__ import annotations

import argparse
from typing import Any

STATUSES = ("pending", "succeeded", "failed", "skipped")


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


class _Builder:
    def __init__(self, root: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
        self.common = common
        self.root = root.add_subparsers(title="commands", metavar="COMMAND")

    def group(self, name: str, help_text: str) -> Any:
        parser = self.root.add_parser(name, help=help_text, description=help_text)
        return parser.add_subparsers(title="commands", metavar="COMMAND")

    def leaf(self, parent: Any, name: str, handler: str, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = parent.add_parser(
            name, help=help_text, description=help_text, parents=[self.common]
        )
        parser.set_defaults(handler=handler)
        return parser


def _wait(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--wait", type=float, default=0, metavar="SECONDS", help=help_text)


def _time_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--after", help="received at or after: 2h, 30m, 1d ago, Unix seconds or ISO 8601")
    parser.add_argument("--before", help="received before (same forms)")


def _search_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--application", help="application id or uid")
    parser.add_argument("--source", help="source id (api: published, hookway: operational)")
    parser.add_argument("--endpoint", help="endpoint id")
    parser.add_argument("--event-type", help="exact, or a prefix ending in .* (order.*)")
    parser.add_argument("--status", choices=STATUSES, help="at least one delivery in this state")
    parser.add_argument("--provider-id", help="the provider's delivery id")
    _time_filters(parser)


def build_parser() -> argparse.ArgumentParser:
    """Every verb of ``hookway``."""
    common = _common()
    root = argparse.ArgumentParser(
        prog="hookway",
        description="Hookway's command line: manage sources, endpoints and applications, send and "
        "inspect webhooks, recover and replay deliveries, verify captured requests.",
        parents=[common],
    )
    b = _Builder(root, common)

    login = b.leaf(b.root, "login", "login", "save a profile (URL and key) in your config directory")
    login.add_argument("--name", help="profile name (default: default; --profile NAME says the same)")
    b.leaf(
        b.root, "whoami", "whoami", "say which API and key the next command uses, and where they came from"
    )

    sources = b.group("sources", "inbound sources (providers that send webhooks to Hookway)")
    b.leaf(sources, "list", "sources_list", "list sources")
    p = b.leaf(sources, "create", "sources_create", "create a source")
    p.add_argument("--name", required=True)
    p.add_argument("--scheme", required=True, help="verification scheme: github, stripe, standard, ...")
    p.add_argument("--secret", action="append", default=[], help="a verification secret (repeatable)")
    p.add_argument("--application", help="the application the source belongs to")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="a scheme option")
    p = b.leaf(sources, "show", "sources_show", "one source")
    p.add_argument("source_id")
    p = b.leaf(sources, "add-secret", "sources_add_secret", "add a verification secret (rotation)")
    p.add_argument("source_id")
    p.add_argument("--secret", required=True)
    p.add_argument("--retire-others-after", type=int, help="seconds until the other secrets stop matching")
    p = b.leaf(sources, "retire-secret", "sources_retire_secret", "retire a verification secret now")
    p.add_argument("source_id")
    p.add_argument("secret_id")
    p = b.leaf(sources, "rejections", "sources_rejections", "recent rejected requests and counts per reason")
    p.add_argument("source_id")

    endpoints = b.group("endpoints", "outbound endpoints (receivers Hookway delivers to)")
    p = b.leaf(endpoints, "list", "endpoints_list", "list one owner's endpoints")
    p.add_argument("--application", help="that application's endpoints (else the operator's own)")
    p = b.leaf(endpoints, "create", "endpoints_create", "create an endpoint")
    p.add_argument("endpoint_url", metavar="URL", help="where to deliver")
    p.add_argument("--application")
    p.add_argument("--description")
    p.add_argument(
        "--event-type", action="append", default=[], help="event-type filter (repeatable, * allowed)"
    )
    p.add_argument("--source", action="append", default=[], help="source filter (repeatable)")
    p.add_argument("--signing", help="standard (default), standard-ed25519, github, passthrough")
    p.add_argument("--secret", help="the signing secret to use (whsec_...; default: Hookway makes one)")
    for verb, handler, text in (
        ("show", "endpoints_show", "one endpoint"),
        ("enable", "endpoints_enable", "enable an endpoint (clears its failure clock)"),
        ("disable", "endpoints_disable", "disable an endpoint"),
    ):
        b.leaf(endpoints, verb, handler, text).add_argument("endpoint_id")
    p = b.leaf(endpoints, "rotate-secret", "endpoints_rotate_secret", "rotate the signing secret")
    p.add_argument("endpoint_id")
    p.add_argument(
        "--retire-old-after", type=int, help="seconds the old secret keeps signing (default 1 day)"
    )
    p = b.leaf(endpoints, "test", "endpoints_test", "send a test event to this endpoint only")
    p.add_argument("endpoint_id")
    p.add_argument("--event-type", help="the event type (default: the first exact type in its filter)")
    p.add_argument("--wait", type=float, default=0, metavar="SECONDS", help="wait for the delivery's outcome")

    apps = b.group("applications", "applications (your customers, i.e. tenants)")
    b.leaf(apps, "list", "applications_list", "list applications")
    p = b.leaf(apps, "create", "applications_create", "create an application")
    p.add_argument("--name", required=True)
    p.add_argument("--uid", help="your own id for it")
    p.add_argument("--metadata", action="append", default=[], metavar="KEY=VALUE")
    p = b.leaf(apps, "delete", "applications_delete", "delete an application (its endpoints by a job)")
    p.add_argument("application_id")
    _wait(p, "follow the job")
    p = b.leaf(apps, "portal-url", "applications_portal_url", "mint a portal token and print the portal URL")
    p.add_argument("application_id")
    p.add_argument("--expires-in", type=int, default=3600, help="seconds (default 3600)")
    p.add_argument("--read-only", action="store_true")

    types = b.group("event-types", "the event-type catalog")
    b.leaf(types, "list", "event_types_list", "list event types")
    p = b.leaf(types, "show", "event_types_show", "one event type")
    p.add_argument("name")
    p = b.leaf(types, "create", "event_types_create", "add an event type")
    p.add_argument("name")
    p.add_argument("--description", default="")
    p.add_argument("--schema", help="a JSON Schema: @file.json or inline JSON")

    p = b.leaf(b.root, "send", "send", "publish an event")
    p.add_argument("--event-type", required=True)
    p.add_argument("--data", required=True, help="the payload: @file.json, @- for stdin, or inline JSON")
    p.add_argument("--application")
    p.add_argument("--idempotency-key")

    p = b.leaf(b.root, "trigger", "trigger", "send a sample provider webhook, signed, to a source")
    p.add_argument("scheme", help="any verification scheme (as GET /v1/schemes lists them)")
    p.add_argument(
        "event", nargs="?", help="the provider's event name (the scheme's sample event by default)"
    )
    p.add_argument("--source", required=True, help="the source to send it to")
    p.add_argument(
        "--secret", help="the source's secret (else HOOKWAY_TRIGGER_SECRET); the API never shows it"
    )

    messages = b.group("messages", "messages (inbound webhooks and published events)")
    p = b.leaf(messages, "list", "messages_list", "search messages, newest first")
    _search_filters(p)
    p.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    p = b.leaf(messages, "show", "messages_show", "one message with its deliveries")
    p.add_argument("message_id")
    p = b.leaf(messages, "body", "messages_body", "the stored body, byte for byte")
    p.add_argument("message_id")
    p.add_argument("-o", "--output", help="write to this file (else stdout)")
    p = b.leaf(messages, "attempts", "messages_attempts", "every attempt to deliver a message")
    p.add_argument("message_id")
    p = b.leaf(messages, "tail", "messages_tail", "follow new messages as they are stored")
    _search_filters(p)
    p.add_argument("--interval", type=float, default=2.0, help="seconds between polls (default 2)")
    p.add_argument("--count", type=int, help="stop after this many messages")

    p = b.leaf(b.root, "resend", "resend", "one more attempt of a message to its endpoints")
    p.add_argument("message_id")
    p.add_argument("--endpoint", action="append", default=[], help="only this endpoint (repeatable)")

    p = b.leaf(b.root, "recover", "recover", "send again what an endpoint missed (failed or skipped)")
    p.add_argument("--endpoint", required=True)
    p.add_argument("--since", required=True, help="2h, 30m, 1d ago, Unix seconds or ISO 8601")
    p.add_argument(
        "--include-unmatched",
        action="store_true",
        help="also send messages since then that matched no endpoint and that its filter takes",
    )
    _wait(p, "follow the job, with progress")

    p = b.leaf(b.root, "replay", "replay", "send a source's messages of a time range to an endpoint again")
    p.add_argument("--source", required=True)
    p.add_argument("--since", required=True)
    p.add_argument("--until", help="default: now")
    p.add_argument("--endpoint", required=True)
    p.add_argument("--dry-run", action="store_true", help="count only")
    _wait(p, "follow the job, with progress")

    jobs = b.group("jobs", "background jobs (application deletes, recoveries, replays)")
    p = b.leaf(jobs, "show", "jobs_show", "a job's state and progress")
    p.add_argument("job_id")
    _wait(p, "follow it until it ends")

    p = b.leaf(
        b.root, "listen", "listen", "receive deliveries here: pull them and forward them to a local URL"
    )
    p.add_argument("--forward", required=True, metavar="URL", help="the local URL each delivery is POSTed to")
    p.add_argument("--events", action="append", default=[], help="event-type filter (repeatable, * allowed)")
    p.add_argument("--source", action="append", default=[], help="source filter (repeatable)")
    p.add_argument("--application", help="listen to this application's messages")
    p.add_argument(
        "--session", help="resume this session (its ep_ id); by default the same command resumes its own"
    )
    p.add_argument("--new", action="store_true", help="open a new session even if this command has one")
    p.add_argument(
        "--expires-in", type=int, default=3600, help="a new session's lifetime in seconds (default 3600)"
    )
    p.add_argument("--count", type=int, help="stop after this many deliveries")
    p.add_argument("--poll-wait", type=float, default=20.0, help=argparse.SUPPRESS)

    p = b.leaf(b.root, "verify", "verify", "check a captured request against a scheme and secret, offline")
    p.add_argument("--scheme", required=True)
    p.add_argument("--secret", action="append", default=[], required=True, help="repeatable (rotation)")
    p.add_argument("--request", help="a raw HTTP dump: request line, headers, blank line, body")
    p.add_argument("--headers", help="a file of `Name: value` lines")
    p.add_argument("--body", help="a file with the body bytes")
    p.add_argument("--request-url", help="the full URL the sender addressed (Twilio and Square sign it)")
    p.add_argument("--tolerance", type=int, help="seconds (default: the scheme's)")
    p.add_argument("--at", type=float, help="check as at this Unix time (a capture from the past)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE")
    return root
