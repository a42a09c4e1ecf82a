"""Scheme options: ``Option`` (what a scheme module declares of each) and the checks behind it.

``verify`` reads options leniently at request time (a flag that is not ``True`` is off, so a typo never
weakens verification). A configuration tool should be stricter and say so when the source is saved:
an unknown name, a wrong type, an empty header name or an unknown template placeholder is refused with
``OptionError`` (``reason == "invalid_options"``, ``.option`` naming the offending option).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ._common import VerificationError

#: An HTTP header name (RFC 9110 token).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_TEMPLATE_FIELDS = frozenset({"id", "timestamp", "url", "body"})
_MAX_TEXT = 1000


class OptionError(VerificationError):
    """An option is unknown to its scheme or unusable; ``option`` names it."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__("invalid_options", f"options.{option}: {message}")
        self.option = option


Check = Callable[[Any], str | None]  # the problem with a value, or None when it is usable


def _flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _text(value: Any, *, empty: bool = True) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    if not empty and not value:
        return "must not be empty"
    if len(value) > _MAX_TEXT:
        return f"must be at most {_MAX_TEXT} characters"
    return None


def _nonempty(value: Any) -> str | None:
    return _text(value, empty=False)


def _header(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) > 200 or not _TOKEN.fullmatch(value):
        return "must be an HTTP header name"
    return None


def _seconds(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return "must be a non-negative number of seconds"
    return None


def _url(value: Any) -> str | None:
    problem = _nonempty(value)
    if problem:
        return problem
    if not re.match(r"https?://[^/?#\s]+", value) or any(c.isspace() for c in value):
        return "must be an absolute http(s) URL"
    return None


def _one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"

    return check


def _template(value: Any) -> str | None:
    problem = _nonempty(value)
    if problem:
        return problem
    unknown = [name for name in _PLACEHOLDER.findall(value) if name not in _TEMPLATE_FIELDS]
    if unknown:
        return f"has an unknown placeholder {{{unknown[0]}}}"
    return None


@dataclass(frozen=True)
class Option:
    """One option of a scheme: how a form shows it (``kind``, ``label``, ``help``) and how it is checked.

    ``kind`` is ``flag`` (a boolean), ``text``, ``header`` (an HTTP header name), ``url``, ``seconds``
    or ``choice`` (one of ``choices``); the check follows from it unless ``check`` is given.
    """

    kind: str
    label: str
    help: str = ""
    choices: tuple[str, ...] = ()
    required: bool = False
    check: Check | None = None

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value`` for this option, or None when it is usable."""
        if self.check is not None:
            return self.check(value)
        if self.kind == "choice":
            return _one_of(*self.choices)(value)
        return _BY_KIND[self.kind](value)

    def describe(self, name: str) -> dict[str, Any]:
        """This option as JSON-ready metadata."""
        return {
            "name": name,
            "kind": self.kind,
            "label": self.label,
            "help": self.help,
            "required": self.required,
            "choices": list(self.choices),
        }


_BY_KIND: Mapping[str, Check] = {
    "flag": _flag,
    "text": _text,
    "header": _header,
    "url": _url,
    "seconds": _seconds,
}
KINDS = frozenset({*_BY_KIND, "choice"})

#: The option of every scheme that checks a signed timestamp.
WINDOW: Mapping[str, Option] = {
    "future_tolerance": Option(
        "seconds",
        "Future tolerance (seconds)",
        "How far ahead of this server's clock a timestamp may be; the tolerance when empty.",
    )
}


def check_against(
    scheme: str,
    known: Mapping[str, Option],
    options: Mapping[str, Any],
    *,
    extra: Mapping[str, Check | Option] | None = None,
) -> None:
    """Raise ``OptionError`` unless every option is one of ``known`` (or ``extra``), usable as given."""
    checks: dict[str, Check] = {name: option.problem for name, option in known.items()}
    for name, given in (extra or {}).items():
        checks[name] = given.problem if isinstance(given, Option) else given
    for name, option in known.items():
        if option.required and name not in options:
            raise OptionError(name, f"the {scheme} scheme needs it")
    for name, value in options.items():
        found = checks.get(name)
        if found is None:
            allowed = ", ".join(sorted(checks)) or "none"
            raise OptionError(str(name), f"is not an option of the {scheme} scheme (it takes: {allowed})")
        problem = found(value)
        if problem:
            raise OptionError(name, problem)


def check_template_sources(options: Mapping[str, Any]) -> None:
    """``{id}`` and ``{timestamp}`` in the hmac template need the header they are read from."""
    _check_template_sources(options)


def template_option(value: Any) -> str | None:
    """The check of a signed-content template over ``{id}``, ``{timestamp}``, ``{url}``, ``{body}``."""
    return _template(value)


def nonempty_text(value: Any) -> str | None:
    """The check of a text option that must not be empty."""
    return _nonempty(value)


def _check_template_sources(options: Mapping[str, Any]) -> None:
    """``{id}`` and ``{timestamp}`` in the template need the header they are read from."""
    used = set(_PLACEHOLDER.findall(options.get("template", "{body}")))
    for field, header in (("id", "id_header"), ("timestamp", "timestamp_header")):
        if field in used and not options.get(header):
            raise OptionError("template", f"uses {{{field}}}, so options.{header} must name its header")


def url_option(value: Any) -> str | None:
    """The check of a URL option, for callers that add their own (``extra``)."""
    return _url(value)
