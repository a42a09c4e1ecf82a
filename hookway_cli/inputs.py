"""What the user types that is more than a string: times, JSON arguments, ``KEY=VALUE`` pairs."""

from __future__ import annotations

import json
import re
from typing import IO, Any

from hookway_cli.errors import UsageError

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(text: str, now: float) -> float:
    """``2h`` / ``30m`` / ``1d`` ago, Unix seconds, or ISO 8601 (UTC unless it says otherwise)."""
    from datetime import UTC, datetime

    value = text.strip()
    match = _DURATION.match(value)
    if match:
        return now - float(match.group(1)) * _UNITS[match.group(2)]
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{text!r} is not a time: use 2h, 30m, 1d, Unix seconds or ISO 8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def read_json_arg(value: str, stdin: IO[str], what: str) -> Any:
    """``@file.json``, ``@-`` (stdin) or inline JSON."""
    from hookway_cli.capture import read_bytes

    if value == "@-":
        text = stdin.read()
    elif value.startswith("@"):
        raw = read_bytes(value[1:])
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"{value[1:]} is not UTF-8 text") from None
    else:
        text = value
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{what} is not valid JSON ({exc.msg} at line {exc.lineno})") from None


def pairs(items: list[str], what: str) -> dict[str, Any]:
    """``KEY=VALUE`` arguments as a dict (a value that parses as JSON is taken as JSON)."""
    result: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{what} {item!r} is not KEY=VALUE")
        try:
            result[key] = json.loads(value)
        except ValueError:
            result[key] = value
    return result
