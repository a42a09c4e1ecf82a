"""What ``hookway verify`` says it compared: the headers the scheme reads, the body, the clock.

It shows what *was received* (header values, cut short), the body's length and SHA-256, how many
secrets were tried and the timestamp's age: never anything computed from a secret. What each scheme
reads and signs comes from its own declaration in the verification package (``Scheme``), so every
registered scheme is explained.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

from chalicelib.verification import VerificationError, get_scheme

if TYPE_CHECKING:
    from hookway_cli.capture import Captured


def _shown(value: str) -> str:
    return value if len(value) <= 24 else value[:20] + "…"


def compared(scheme: str, captured: Captured, secrets: int, now: float, tolerance: int | None) -> list[str]:
    """Lines describing the inputs of the check."""
    lines = []
    try:
        spec = get_scheme(scheme)
    except VerificationError:
        spec = None
    if spec is not None:
        names = [name.lower() for name in spec.headers]
        stamp = spec.timestamp_header.lower() if spec.timestamp_header else None
        lines.append(f"recipe: {spec.signs}")
        for name in names:
            values = captured.headers.get(name)
            if values:
                lines.append(f"header {name}: {', '.join(_shown(v) for v in values)} (as received)")
            elif name == names[0] or name == stamp:
                lines.append(f"header {name}: absent")
        tolerance = tolerance if tolerance is not None else spec.tolerance
        if stamp and captured.headers.get(stamp):
            raw = captured.headers[stamp][0]
            match = (
                re.search(r"(?:^|[,;]\s*)(?:t|ts)=(\d+)", raw)
                if "=" in raw
                else re.fullmatch(r"\s*(\d+)\s*", raw)
            )
            if match:
                age = int(now - int(match.group(1)))
                lines.append(
                    f"timestamp: {match.group(1)}, {age} s before the check time"
                    + (f" (tolerance {tolerance} s)" if tolerance is not None else "")
                )
    else:
        lines.append(f"headers received: {', '.join(sorted(captured.headers)) or 'none'}")
    digest = hashlib.sha256(captured.body).hexdigest()
    lines.append(f"body: {len(captured.body)} bytes, sha256 {digest[:16]}…")
    lines.append(f"secrets tried: {secrets}")
    return lines
