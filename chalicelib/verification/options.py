"""The options each scheme reads, and ``check_options``: refuse any option a scheme would not use as given.

``verify`` reads options leniently at request time (a flag that is not ``True`` is off, so a typo never
weakens verification). A configuration tool should be stricter and say so when the source is saved:
an unknown name, a wrong type, an empty header name or an unknown template placeholder is refused with
``OptionError`` (``reason == "invalid_options"``, ``.option`` naming the offending option).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from ._common import DIGESTS, VerificationError

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


_WINDOW: dict[str, Check] = {"future_tolerance": _seconds}

#: Every scheme's options (canonical names); a scheme absent here takes none.
OPTIONS: Mapping[str, Mapping[str, Check]] = {
    "github": {"allow_sha1": _flag},
    "meta": {"allow_sha1": _flag, "verify_token": _nonempty},
    "hmac": {
        "header": _header,
        "algorithm": _one_of(*DIGESTS),
        "encoding": _one_of("hex", "base64"),
        "prefix": _text,
        "template": _template,
        "separator": _nonempty,
        "timestamp_header": _header,
        "id_header": _header,
        "event_type_header": _header,
        **_WINDOW,
    },
    "token": {"header": _header, "prefix": _text},
    "square": {"notification_url": _url},
    "twilio": {"algorithm": _one_of("sha1", "sha256")},
    **dict.fromkeys(("linear", "mailgun", "paddle", "sendgrid", "slack", "standard", "stripe"), _WINDOW),
    "zoom": _WINDOW,
}

#: Options a scheme cannot do without.
REQUIRED: Mapping[str, tuple[str, ...]] = {"hmac": ("header",)}


def check_options(
    scheme: str, options: Mapping[str, Any], *, extra: Mapping[str, Check] | None = None
) -> None:
    """Raise ``OptionError`` unless every option is one ``scheme`` reads, usable as given.

    ``extra`` admits a caller's own options (Hookway's ingest reads ``signed_url``) with their checks.
    ``scheme`` must be a canonical name (``verify`` resolves aliases; so does ``canonical_scheme``).
    """
    known = {**OPTIONS.get(scheme, {}), **(extra or {})}
    for name in REQUIRED.get(scheme, ()):
        if name not in options:
            raise OptionError(name, f"the {scheme} scheme needs it")
    for name, value in options.items():
        check = known.get(name)
        if check is None:
            allowed = ", ".join(sorted(known)) or "none"
            raise OptionError(str(name), f"is not an option of the {scheme} scheme (it takes: {allowed})")
        problem = check(value)
        if problem:
            raise OptionError(name, problem)
    if scheme == "hmac":
        _check_template_sources(options)


def _check_template_sources(options: Mapping[str, Any]) -> None:
    """``{id}`` and ``{timestamp}`` in the template need the header they are read from."""
    used = set(_PLACEHOLDER.findall(options.get("template", "{body}")))
    for field, header in (("id", "id_header"), ("timestamp", "timestamp_header")):
        if field in used and not options.get(header):
            raise OptionError("template", f"uses {{{field}}}, so options.{header} must name its header")


def url_option(value: Any) -> str | None:
    """The check of a URL option, for callers that add their own (``extra``)."""
    return _url(value)
