"""What the CLI prints: tables and colour on a terminal, plain text when piped, JSON with ``--json``.

rich is imported only when stdout is a terminal (and ``NO_COLOR`` is unset), so piped runs and
``--help`` never pay for it. Plain output is tab-separated with a header line: easy to ``cut`` and
``awk``, and free of escape codes. ``--json`` prints exactly one JSON document per command.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import IO, Any

Column = tuple[str, str]  # (heading, key in the item; dotted for nested)


class Output:
    """Where one command's results and errors go."""

    def __init__(self, stdout: IO[str], stderr: IO[str], *, as_json: bool, env: Mapping[str, str]) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.as_json = as_json
        isatty = getattr(stdout, "isatty", lambda: False)
        self.rich = not as_json and isatty() and not env.get("NO_COLOR") and env.get("TERM") != "dumb"

    def console(self) -> Any:
        """A rich Console on stdout (only call when ``self.rich``)."""
        from rich.console import Console

        return Console(file=self.stdout, highlight=False)

    def json(self, doc: Any) -> None:
        """One JSON document."""
        self.stdout.write(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n")

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
        if self.rich and style:
            from rich.text import Text

            self.console().print(Text(text, style=style))
        else:
            self.stdout.write(text + "\n")
        self.stdout.flush()

    def fields(self, doc: Mapping[str, Any]) -> None:
        """One item as ``name: value`` lines."""
        width = max((len(k) for k in doc), default=0)
        for key, value in doc.items():
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            self.stdout.write(f"{key.ljust(width)}  {shown}\n")

    def table(self, items: Sequence[Mapping[str, Any]], columns: Sequence[Column], doc: Any = None) -> None:
        """A list: a table on a terminal, tab-separated lines when piped, ``doc`` (or items) as JSON."""
        if self.as_json:
            self.json(doc if doc is not None else list(items))
            return
        rows = [[cell(item, key) for _, key in columns] for item in items]
        if self.rich:
            from rich.table import Table

            table = Table(show_edge=False, header_style="bold")
            for heading, _ in columns:
                table.add_column(heading, overflow="fold")
            for row in rows:
                table.add_row(*row)
            self.console().print(table)
            return
        self.stdout.write("\t".join(h for h, _ in columns) + "\n")
        for row in rows:
            self.stdout.write("\t".join(row) + "\n")

    def error(self, message: str) -> None:
        """One sentence on stderr."""
        self.stderr.write(f"hookway: {message}\n")


def cell(item: Mapping[str, Any], key: str) -> str:
    """A value for a table cell: dotted keys reach into nested objects; lists join with commas."""
    value: Any = item
    for part in key.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) or "-"
    if isinstance(value, float) and key.endswith("_at"):
        return _when(value)
    if isinstance(value, int) and key.endswith("_at") and value > 1_000_000_000:
        return _when(value)
    return str(value).replace("\t", " ").replace("\n", " ")


def _when(ts: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
