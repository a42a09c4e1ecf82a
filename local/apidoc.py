"""Build the served JSON of the OpenAPI document: ``python -m local openapi``.

The one committed document is ``chalicelib/api/openapi.yaml``. The Lambda serves it as written on
``/v1/openapi.yaml`` and as JSON on ``/v1/openapi.json``, and does not import PyYAML: the JSON
(``chalicelib/api/openapi.json``, ignored by git) is built here, by ``infra.package`` when the package is
made, and by the local stack when it starts.
"""

from __future__ import annotations

from pathlib import Path


def write() -> list[Path]:
    """Build ``chalicelib/api/openapi.json`` from the document; returns the paths written."""
    from chalicelib.api.system import write_json

    return [write_json()]
