"""The local stack's build of the served OpenAPI JSON (``local/apidoc.py``): every process of the stack
calls it as it starts, so it rebuilds only when the document or its converter changed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from chalicelib.api import system
from local import apidoc


@pytest.fixture
def document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    source = tmp_path / "openapi.yaml"
    source.write_text("openapi: 3.0.3\ninfo: {title: one, version: '1'}\npaths: {}\n")
    monkeypatch.setattr(system, "DOCUMENT", source)
    monkeypatch.setattr(system, "DOCUMENT_JSON", tmp_path / "openapi.json")
    return source


def _age(path: Path, seconds: float) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - int(seconds * 1e9)))


def test_a_current_json_is_left_as_it_is_and_a_changed_document_rebuilds_it(document: Path) -> None:
    target = system.DOCUMENT_JSON
    # GIVEN no JSON yet: the first process builds it
    assert apidoc.write(force=False) == [target]
    assert json.loads(target.read_text())["info"]["title"] == "one"
    # WHEN it is current THEN the next process leaves it (no YAML parse)
    target.write_text('{"marker": true}')  # what a rebuild would overwrite
    assert apidoc.write(force=False) == []
    assert json.loads(target.read_text()) == {"marker": True}
    # WHEN the document is edited after it THEN the next process rebuilds it
    document.write_text("openapi: 3.0.3\ninfo: {title: two, version: '1'}\npaths: {}\n")
    _age(target, 10)
    assert apidoc.write(force=False) == [target]
    assert json.loads(target.read_text())["info"]["title"] == "two"
    # AND python -m local openapi always rebuilds; no partial file is left beside it
    target.write_text('{"marker": true}')
    assert apidoc.write() == [target]
    assert json.loads(target.read_text())["info"]["title"] == "two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["openapi.json", "openapi.yaml"]


def test_an_empty_json_is_rebuilt(document: Path) -> None:
    system.DOCUMENT_JSON.write_text("")
    assert apidoc.write(force=False) == [system.DOCUMENT_JSON]
    assert json.loads(system.DOCUMENT_JSON.read_text())["openapi"] == "3.0.3"
