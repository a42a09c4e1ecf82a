"""How a portal presents itself: a name, a logo and an accent colour, per deployment or per application.

The deployment's defaults come from Settings (``HOOKWAY_PORTAL_*``); an application may set any of the
three on its own record, and what it sets wins (``Branding.over``). Values are checked here once, for both:
a logo is an https URL (the portal loads it as an image from another origin only then), the accent a
``#rrggbb`` colour, so nothing a customer types can become markup, a script URL or a CSS expression.
Also here: the frame-ancestors source list of the portal's Content-Security-Policy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

MAX_NAME = 80
MAX_LOGO_URL = 2048
_ACCENT = re.compile(r"#[0-9a-fA-F]{6}")
# An https origin (a host, optionally a leading "*." wildcard label, and a port), or 'self'.
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ORIGIN = re.compile(rf"https://(\*\.)?{_LABEL}(\.{_LABEL})*(:[0-9]{{1,5}})?")


class BrandingError(ValueError):
    """A branding value that cannot be used; ``field`` names it (``name``, ``logo_url``, ``accent``)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Branding:
    """A portal's name, logo URL and accent colour; None where not set (the default then applies)."""

    name: str | None = None
    logo_url: str | None = None
    accent: str | None = None

    def over(self, defaults: Branding) -> Branding:
        """These values where set, the defaults elsewhere."""
        return Branding(
            name=self.name if self.name is not None else defaults.name,
            logo_url=self.logo_url if self.logo_url is not None else defaults.logo_url,
            accent=self.accent if self.accent is not None else defaults.accent,
        )

    @property
    def empty(self) -> bool:
        """Nothing set."""
        return self.name is None and self.logo_url is None and self.accent is None


def check_name(value: Any) -> str:
    """A portal name: 1 to 80 characters, no control characters."""
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > MAX_NAME
        or any(ord(c) < 32 or ord(c) == 127 for c in value)
    ):
        raise BrandingError(f"name is 1 to {MAX_NAME} characters without control characters", "name")
    return value


def check_logo_url(value: Any) -> str:
    """A logo URL: https, with a host, at most 2048 characters, no whitespace or quotes."""
    message = f"logo_url is an https URL of at most {MAX_LOGO_URL} characters"
    if not isinstance(value, str) or not 0 < len(value) <= MAX_LOGO_URL:
        raise BrandingError(message, "logo_url")
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        raise BrandingError(message, "logo_url") from None
    if parts.scheme != "https" or not host or any(c.isspace() or c in "\"'<>\\" for c in value):
        raise BrandingError(message, "logo_url")
    return value


# The portal writes white text on the accent (its main buttons) and the accent on white (its links):
# WCAG AA asks 4.5:1 for text of ordinary size.
MIN_CONTRAST = 4.5


def contrast_with_white(accent: str) -> float:
    """The WCAG contrast ratio of a ``#rrggbb`` colour against white (1 to 21)."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(accent[i : i + 2], 16) for i in (1, 3, 5))
    luminance = 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
    return 1.05 / (luminance + 0.05)


def check_accent(value: Any) -> str:
    """An accent colour ``#rrggbb`` readable with white (at least 4.5:1), kept lower case."""
    if not isinstance(value, str) or not _ACCENT.fullmatch(value):
        raise BrandingError("accent is a colour written #rrggbb", "accent")
    ratio = contrast_with_white(value)
    if ratio < MIN_CONTRAST:
        raise BrandingError(
            f"accent {value} is too light: white text on it and it on white contrast {ratio:.1f}:1, "
            f"and people need at least {MIN_CONTRAST}:1 to read them (pick a darker colour)",
            "accent",
        )
    return value.lower()


def frame_ancestors(raw: str) -> str:
    """A space-separated CSP source list, checked: each entry an https origin or ``'self'``.

    Returns it normalised (single spaces); empty stays empty (the portal then sends ``'none'``).
    """
    entries = raw.split()
    for entry in entries:
        if entry != "'self'" and not _ORIGIN.fullmatch(entry):
            raise BrandingError(
                f"frame ancestor {entry!r} is neither an https origin (https://host[:port]) nor 'self'",
                "frame_ancestors",
            )
    return " ".join(entries)
