"""Build the served JSON of the OpenAPI document: ``python -m local openapi``.

The one committed document is ``chalicelib/api/openapi.yaml``. The Lambda serves it as written on
``/v1/openapi.yaml`` and as JSON on ``/v1/openapi.json``, and does not import PyYAML: the JSON
(``chalicelib/api/openapi.json``, ignored by git) is built here, by ``infra.package`` when the package is
made, and by the local stack when it starts.

Every process of the local stack (the API and each worker) builds it as it starts; parsing the YAML costs
~0.3 s of CPU, and the test suite starts a few hundred such processes. ``write(force=False)`` (the
processes' call) leaves a JSON that is newer than the document and than the module that converts it
(``chalicelib/api/system.py``), so only a change to either rebuilds it; ``python -m local openapi``
always does. The JSON is replaced in one rename, so a process starting beside the API never truncates
the file the API is serving.
"""

from __future__ import annotations

import os
from pathlib import Path


def current(target: Path, *sources: Path) -> bool:
    """Whether ``target`` exists, is not empty and is at least as new as every source."""
    try:
        built = target.stat()
    except FileNotFoundError:
        return False
    return built.st_size > 0 and all(built.st_mtime_ns >= source.stat().st_mtime_ns for source in sources)


def write(*, force: bool = True) -> list[Path]:
    """Build ``chalicelib/api/openapi.json`` from the document; returns the paths written (none when
    ``force`` is False and the JSON is current)."""
    from chalicelib.api import system

    target = system.DOCUMENT_JSON
    if not force and current(target, system.DOCUMENT, Path(system.__file__)):
        return []
    text = system.as_json(system.DOCUMENT.read_bytes())
    partial = target.with_name(f".{target.name}.{os.getpid()}")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, target)
    return [target]
