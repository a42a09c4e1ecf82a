"""What a signing mode module declares about itself: one ``Mode`` beside its signer.

``chalicelib.outbound.signing.MODES`` lists them; the endpoint service's secret rules, the metadata served
at ``GET /v1/schemes`` (``signing_modes``) and the OpenAPI enums read it. A mode a request may name
(``standard-ed25519``) can be stored as another (``standard``, with a ``whsk_`` key): ``stored`` says which.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Mode:
    """One outbound signing mode: its name, label, the headers it sends and its secret rules.

    ``new_key`` makes a secret (with the public key a receiver is given, for asymmetric modes);
    ``key_problem`` says what is wrong with a secret the caller chose, or None; ``generated_only`` modes
    refuse a chosen secret. ``key_rule`` is the rule in words, for forms and the API document.
    """

    name: str
    stored: str
    label: str
    headers: tuple[str, ...]
    key_rule: str
    new_key: Callable[[], tuple[str, str | None]]
    key_problem: Callable[[str], str | None]
    generated_only: bool = False
    # Forwards the provider's own signature over the original bytes: a transformed body would break it.
    keeps_provider_signature: bool = False

    def describe(self) -> dict[str, Any]:
        """This mode as JSON-ready metadata: never a secret."""
        return {
            "name": self.name,
            "stored_as": self.stored,
            "label": self.label,
            "headers": list(self.headers),
            "secret_rule": self.key_rule,
            "secret_generated_only": self.generated_only,
        }
