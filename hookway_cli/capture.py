"""Reading a captured request for ``hookway verify``: a raw HTTP dump, or a headers file and a body file.

A headers file holds ``Name: value`` lines (an optional request line such as ``POST /in/src HTTP/1.1``
first is skipped, as is a blank line at the end); a dump is the same followed by a blank line and the
body bytes, as ``curl --trace-ascii`` users or a proxy save it (CRLF or LF line ends).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hookway_cli.errors import UsageError


@dataclass(frozen=True)
class Captured:
    """A request as captured: method, path (if the dump had a request line), headers and body bytes."""

    method: str
    target: str | None
    headers: dict[str, list[str]]
    body: bytes


def read_bytes(name: str) -> bytes:
    """A file's bytes, or a usage error that names it."""
    try:
        return Path(name).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None


def parse_headers(text: bytes) -> tuple[str, str | None, dict[str, list[str]]]:
    """``(method, target, headers)`` from header lines (repeated names keep every value)."""
    try:
        lines = text.decode("utf-8").replace("\r\n", "\n").split("\n")
    except UnicodeDecodeError:
        raise UsageError("the captured headers are not UTF-8 text") from None
    method, target = "POST", None
    first = lines[0].split() if lines else []
    if len(first) == 3 and first[2].upper().startswith("HTTP/") and ":" not in first[0]:
        method, target = first[0].upper(), first[1]
        lines = lines[1:]
    headers: dict[str, list[str]] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip() or " " in name.strip():
            raise UsageError(f"header line {number} is not `Name: value`: {line[:60]!r}")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return method, target, headers


def from_dump(name: str) -> Captured:
    """A raw HTTP request: request line and headers, a blank line, the body."""
    raw = read_bytes(name)
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, sep, body = raw.partition(separator)
        if sep:
            break
    else:
        head, body = raw, b""
    method, target, headers = parse_headers(head)
    return Captured(method, target, headers, body)


def from_files(headers_file: str, body_file: str) -> Captured:
    """A headers file and a body file."""
    method, target, headers = parse_headers(read_bytes(headers_file))
    return Captured(method, target, headers, read_bytes(body_file))
