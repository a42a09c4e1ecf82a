"""Outbound signing modes, one module each and one line in ``SIGNERS`` (as inbound schemes have theirs).

A signer is a pure function ``(message, endpoint, body, now) -> headers``: the headers that let the
receiver verify the delivery. ``Endpoint.signing`` names the mode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from chalicelib.outbound.signing import github, passthrough, standard
from chalicelib.outbound.signing.github import github_signature
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

SIGNERS: dict[SigningMode, Signer] = {
    "standard": standard.headers_for,
    "github": github.headers_for,
    "passthrough": passthrough.headers_for,
}

__all__ = [
    "MAX_SECRET_BYTES",
    "MIN_SECRET_BYTES",
    "SIGNERS",
    "Signer",
    "SigningError",
    "decode_secret",
    "generate_ed25519_keypair",
    "generate_secret",
    "github_signature",
    "sign",
    "standard_headers",
]
