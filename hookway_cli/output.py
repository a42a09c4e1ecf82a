"""What the CLI prints: tables and colour on a terminal, plain text when piped, JSON with ``--json``.

rich is imported only when stdout is a terminal (and ``NO_COLOR`` is unset), so piped runs and
``--help`` never pay for it. Plain output is tab-separated with a header line: easy to ``cut`` and
``awk``, and free of escape codes. ``--json`` prints exactly one JSON document per command.

Every string the API (or a captured request) hands us may be hostile: a source name can hold rich
markup (``[link=...]``), an OSC 8 hyperlink, a cursor or screen escape, a C1 control or a bidi
override. ``printable`` is the one place that makes such text inert, and every writer of ``Output``
(lines, fields, tables, notes, errors, bodies on a terminal) passes what it writes through it; rich gets
``Text`` objects, never markup strings. JSON is written with ``ensure_ascii``, so it stays valid JSON and
carries no raw control or bidi character either. Commands write through ``Output`` only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import IO, Any

Column = tuple[str, str]  # (heading, key in the item; dotted for nested)


def printable(text: str, *, keep_lines: bool = False) -> str:
    """``text`` with every control, format (bidi, zero-width) and line/paragraph separator character
    written as a visible escape (``\\x1b``, ``\\u202e``); newlines and tabs stay with ``keep_lines``.
    Rich markup needs nothing here: ``Output`` never hands rich a markup string."""
    if text.isprintable():
        return text
    import unicodedata

    out = []
    for ch in text:
        if ch.isprintable() or (keep_lines and ch in "\n\t") or unicodedata.category(ch) == "Zs":
            out.append(ch)
            continue
        code = ord(ch)
        out.append(
            f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
        )
    return "".join(out)


class Output:
    """Where one command's results and errors go."""

    def __init__(self, stdout: IO[str], stderr: IO[str], *, as_json: bool, env: Mapping[str, str]) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.as_json = as_json
        self.env = env
        self.tty = bool(getattr(stdout, "isatty", lambda: False)())
        self.rich = not as_json and self.tty and not env.get("NO_COLOR") and env.get("TERM") != "dumb"

    def console(self) -> Any:
        """A rich Console on stdout (only call when ``self.rich``), reading our environment, not the
        process's (so ``COLUMNS`` and ``TERM`` can be injected), with markup and emoji codes off."""
        from rich.console import Console

        return Console(
            file=self.stdout,
            highlight=False,
            markup=False,
            emoji=False,
            force_terminal=True,
            _environ=dict(self.env),
        )

    def json(self, doc: Any) -> None:
        """One JSON document."""
        self.stdout.write(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=True) + "\n")

    def json_line(self, doc: Any) -> None:
        """One JSON document on one line (a stream of events: ``listen``, ``messages tail``)."""
        self.stdout.write(json.dumps(doc, sort_keys=True, ensure_ascii=True) + "\n")
        self.stdout.flush()

    def result(self, doc: Any, *, text: str | None = None) -> None:
        """A command's result: ``doc`` as JSON with ``--json``, else ``text`` (or ``doc`` as fields)."""
        if self.as_json:
            self.json(doc)
        elif text is not None:
            self.line(text)
        else:
            self.fields(doc)

    def line(self, text: str, style: str | None = None) -> None:
        """One line of text (styled on a terminal)."""
        shown = printable(text)
        if self.rich and style:
            from rich.text import Text

            self.console().print(Text(shown, style=style))
        else:
            self.stdout.write(shown + "\n")
        self.stdout.flush()

    def fields(self, doc: Mapping[str, Any]) -> None:
        """One item as ``name: value`` lines."""
        width = max((len(printable(str(k))) for k in doc), default=0)
        for key, value in doc.items():
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=True)
            self.stdout.write(f"{printable(str(key)).ljust(width)}  {printable(shown)}\n")

    def table(self, items: Sequence[Mapping[str, Any]], columns: Sequence[Column], doc: Any = None) -> None:
        """A list: a table on a terminal, tab-separated lines when piped, ``doc`` (or items) as JSON."""
        if self.as_json:
            self.json(doc if doc is not None else list(items))
            return
        rows = [[cell(item, key) for _, key in columns] for item in items]
        if self.rich:
            from rich.table import Table
            from rich.text import Text

            table = Table(show_edge=False, header_style="bold")
            for heading, _ in columns:
                table.add_column(heading, overflow="fold")
            for row in rows:
                table.add_row(*(Text(value) for value in row))
            self.console().print(table)
            return
        self.stdout.write("\t".join(h for h, _ in columns) + "\n")
        for row in rows:
            self.stdout.write("\t".join(row) + "\n")

    def body(self, data: bytes) -> None:
        """Bytes as stored: exact when piped; on a terminal as text with controls escaped (lines kept)."""
        buffer = getattr(self.stdout, "buffer", None)
        if not self.tty and buffer is not None:
            self.stdout.flush()
            buffer.write(data)
            buffer.flush()
        elif not self.tty:
            self.stdout.write(data.decode("utf-8", errors="replace"))
        else:
            text = printable(data.decode("utf-8", errors="replace"), keep_lines=True)
            self.stdout.write(text if text.endswith("\n") else text + "\n")
        self.stdout.flush()

    def note(self, text: str) -> None:
        """A line for the person at the terminal, on stderr (progress, session notices)."""
        self.stderr.write(f"hookway: {printable(text)}\n")
        self.stderr.flush()

    def error(self, message: str) -> None:
        """One sentence on stderr."""
        self.stderr.write(f"hookway: {printable(message)}\n")


def cell(item: Mapping[str, Any], key: str) -> str:
    """A value for a table cell: dotted keys reach into nested objects; lists join with commas; times
    (keys ending ``_at``, and ``at``) as local dates; anything else made printable."""
    value: Any = item
    for part in key.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return printable(",".join(str(v) for v in value).replace("\t", " ").replace("\n", " ")) or "-"
    if isinstance(value, int | float) and (key.endswith("_at") or key == "at") and value > 1_000_000_000:
        return when(value)
    return printable(str(value).replace("\t", " ").replace("\n", " "))


def when(ts: float) -> str:
    """A Unix time as a local date and time (``2026-12-02 14:03:07``)."""
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
