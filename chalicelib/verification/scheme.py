"""What a scheme module declares about itself: one ``Scheme`` value beside its verifier.

The registry (``chalicelib.verification.REGISTRY``) is a list of these; everything else reads them: the
verifier table, aliases, default tolerances, option checks, handshakes, the metadata served at
``GET /v1/schemes`` (and so the console's source form), the CLI's ``verify`` explanations and its
``trigger`` samples, and the OpenAPI enum. Adding a scheme is one module and one entry in that list.

Nothing here holds a secret: a ``Scheme`` describes how a secret is used, never a value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ._common import Verifier
from .handshake import ChallengeReply
from .options import Option

_NO_OPTIONS: Mapping[str, Any] = MappingProxyType({})


def _no_options() -> Mapping[str, Any]:
    return _NO_OPTIONS


@dataclass(frozen=True)
class Sample:
    """A signed sample request, as the provider would send it (``hookway trigger``, the tests)."""

    headers: dict[str, str]
    body: bytes
    delivery_id: str | None
    event: str


#: ``(secret, event, now, url, options) -> Sample``: sign a sample with the sender's secret (for every
#: scheme but SendGrid, the secret the source holds; ``url`` is where it is sent, for schemes that sign it).
SampleSigner = Callable[[str, str, int, str, Mapping[str, Any]], Sample]

#: A handshake's reply: ``(secrets, query, headers, body, options) -> ChallengeReply | None``.
Challenge = Callable[
    [Sequence[str], Mapping[str, Any], Mapping[str, Any], bytes, Mapping[str, Any]], ChallengeReply | None
]


@dataclass(frozen=True)
class Handshake:
    """A provider's ownership handshake: the method it comes with, what it is, and the reply."""

    method: str  # "GET" (unsigned; Meta, X) or "POST" (signed like any delivery; Slack, Zoom)
    description: str
    reply: Challenge


def _same(secret: str) -> tuple[str, str]:
    return secret, secret


@dataclass(frozen=True)
class Scheme:
    """One verification scheme: its name, how it reads to a person, and what it checks.

    ``headers`` are the request headers the check reads, the signature's first (empty when the
    signature lives in the body); ``timestamp_header`` the one holding the signed timestamp, if any.
    ``timestamp`` says whether the scheme checks a signed timestamp at all (so a tolerance applies);
    ``tolerance`` is its default window in seconds (None: unbounded unless one is configured).
    ``key_label`` names the secret as the provider's dashboard does ("Signing secret (whsec_…)");
    ``example_key`` is a sample secret of the right shape (for the tests and the docs, never a real one).
    ``sample_keys`` turns the example into (what the sample signs with, what the source holds):
    the same string for shared secrets, a private and a public key for SendGrid.
    """

    name: str
    label: str
    key_label: str
    verify: Verifier
    signs: str
    headers: tuple[str, ...]
    sample: SampleSigner
    sample_event: str
    example_key: str
    aliases: tuple[str, ...] = ()
    timestamp: bool = False
    tolerance: int | None = None
    timestamp_header: str | None = None
    options: Mapping[str, Option] = field(default_factory=_no_options)
    check_options: Callable[[Mapping[str, Any]], None] | None = None
    signs_url: bool = False
    handshake: Handshake | None = None
    sample_options: Mapping[str, Any] = field(default_factory=_no_options)
    sample_keys: Callable[[str], tuple[str, str]] = _same

    def describe(self) -> dict[str, Any]:
        """This scheme as JSON-ready metadata: never a secret, never a function."""
        return {
            "name": self.name,
            "label": self.label,
            "aliases": list(self.aliases),
            "secret_label": self.key_label,
            "timestamp": self.timestamp,
            "tolerance": self.tolerance,
            "headers": list(self.headers),
            "timestamp_header": self.timestamp_header,
            "signs": self.signs,
            "options": [option.describe(name) for name, option in self.options.items()],
            "handshake": (
                {"method": self.handshake.method, "description": self.handshake.description}
                if self.handshake
                else None
            ),
            "sample_event": self.sample_event,
        }
