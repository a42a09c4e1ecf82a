"""The metadata ``GET /v1/schemes`` serves: every verification scheme and every outbound signing mode.

Built from the registries (``chalicelib.verification.REGISTRY`` and ``chalicelib.outbound.signing.MODES``)
plus the one option Hookway's ingest adds to the schemes that sign a URL (``signed_url``). It describes
how secrets are used, never a secret: the console's source form, the CLI and the tests read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.verification import REGISTRY, Option

#: Options Hookway's ingest reads besides the scheme's own: the URL the provider signed.
SIGNED_URL = Option(
    "url",
    "Signed URL",
    "The URL the provider signs, if a proxy changes it before Hookway (default: the ingest URL).",
)
INGEST_OPTIONS: Mapping[str, Mapping[str, Option]] = {
    spec.name: {"signed_url": SIGNED_URL} for spec in REGISTRY if spec.signs_url
}


def describe() -> dict[str, Any]:
    """``{"schemes": [...], "signing_modes": [...]}``, in the registries' order."""
    from chalicelib.outbound.signing import describe_signing_modes

    schemes = []
    for spec in REGISTRY:
        doc = spec.describe()
        doc["options"] += [
            option.describe(name) for name, option in INGEST_OPTIONS.get(spec.name, {}).items()
        ]
        schemes.append(doc)
    return {"schemes": schemes, "signing_modes": describe_signing_modes()}
