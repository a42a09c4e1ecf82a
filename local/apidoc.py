"""Copy docs/openapi.yaml into the package, as written and as JSON: ``python -m local openapi``.

The Lambda serves ``/v1/openapi.yaml`` and ``/v1/openapi.json`` from ``chalicelib/apidoc/`` (Chalice
packages ``chalicelib/``, not ``docs/``) and does not import PyYAML, so the JSON is made here, with the
development dependencies. ``tests/unit/test_openapi.py`` fails when the copies differ from the source.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "docs" / "openapi.yaml"
TARGET = ROOT / "chalicelib" / "apidoc"


def rendered() -> dict[str, bytes]:
    """The files ``chalicelib/apidoc/`` must hold, by name."""
    import yaml

    text = SOURCE.read_bytes()
    document = yaml.safe_load(text)
    as_json = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
    return {"openapi.yaml": text, "openapi.json": as_json.encode("utf-8")}


def write() -> list[Path]:
    """Write the copies; returns the paths written."""
    TARGET.mkdir(exist_ok=True)
    written = []
    for name, data in rendered().items():
        path = TARGET / name
        path.write_bytes(data)
        written.append(path)
    return written
