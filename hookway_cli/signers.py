"""Sample provider webhooks for ``hookway trigger``, signed by each scheme's own sample signer.

Every registered scheme declares a sample signer beside its verifier (``Scheme.sample`` in the pure
verification package this CLI ships); it follows the provider's published recipe with ``hmac`` directly,
and a test checks the verifier accepts it. So ``trigger`` knows every scheme the gateway knows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.verification import REGISTRY, Sample, Scheme, VerificationError, get_scheme
from hookway_cli.errors import UsageError

__all__ = ["Sample", "default_event", "known", "sign"]


def known() -> list[str]:
    """The scheme names ``trigger`` takes (every registered scheme), in the registry's order."""
    return [spec.name for spec in REGISTRY]


def default_event(scheme: str) -> str:
    """The event a scheme's sample carries when none is given."""
    return _spec(scheme).sample_event


def sign(
    scheme: str, secret: str, event: str, now: int, url: str, options: Mapping[str, Any] | None = None
) -> Sample:
    """A sample webhook of ``scheme`` signed with ``secret``, as sent to ``url``; a bad secret is a usage error."""
    spec = _spec(scheme)
    try:
        return spec.sample(secret, event, now, url, options or {})
    except (ValueError, TypeError, KeyError) as exc:
        raise UsageError(f"cannot sign a {spec.name} sample with that secret or options: {exc}") from None


def _spec(scheme: str) -> Scheme:
    try:
        return get_scheme(scheme)
    except VerificationError:
        raise UsageError(f"trigger knows {', '.join(known())}; not {scheme!r}") from None
