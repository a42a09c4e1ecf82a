"""Outbound signing modes, one module each: its ``Mode`` (label, headers, secret rules) and its signer.

A signer is a pure function ``(message, endpoint, body, now) -> headers``: the headers that let the
receiver verify the delivery. ``Endpoint.signing`` names the stored mode. ``MODES`` lists what a request
may name (``standard-ed25519`` is stored as ``standard`` with a ``whsk_`` key); adding a mode is its module,
one entry in ``MODES``, one in ``SIGNERS`` and its name in ``models.SigningMode`` (the stored type).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from chalicelib.outbound.signing import github, passthrough, standard
from chalicelib.outbound.signing.github import github_signature
from chalicelib.outbound.signing.mode import Mode
from chalicelib.outbound.signing.standard import (
    MAX_SECRET_BYTES,
    MIN_SECRET_BYTES,
    SigningError,
    decode_secret,
    generate_ed25519_keypair,
    generate_secret,
    sign,
    standard_headers,
)

if TYPE_CHECKING:
    from chalicelib.models import Endpoint, Message, SigningMode

Signer = Callable[["Message", "Endpoint", bytes, float], dict[str, str]]

#: The mode behind ``{"ed25519": true}`` on a secret rotation.
ED25519 = standard.ED25519
#: Every mode a request may name, in the order a person picks from.
MODES: tuple[Mode, ...] = (standard.STANDARD, standard.ED25519, github.MODE, passthrough.MODE)
_BY_NAME = {mode.name: mode for mode in MODES}


def signing_mode_named(name: object) -> Mode | None:
    """The mode a request names, or None."""
    return _BY_NAME.get(name) if isinstance(name, str) else None


def describe_signing_modes() -> list[dict[str, object]]:
    """Every mode's metadata (``Mode.describe``): JSON-ready, never a secret."""
    return [mode.describe() for mode in MODES]


SIGNERS: dict[SigningMode, Signer] = {
    "standard": standard.headers_for,
    "github": github.headers_for,
    "passthrough": passthrough.headers_for,
}

__all__ = [
    "ED25519",
    "MAX_SECRET_BYTES",
    "MIN_SECRET_BYTES",
    "MODES",
    "SIGNERS",
    "Mode",
    "Signer",
    "SigningError",
    "decode_secret",
    "describe_signing_modes",
    "generate_ed25519_keypair",
    "generate_secret",
    "github_signature",
    "sign",
    "signing_mode_named",
    "standard_headers",
]
