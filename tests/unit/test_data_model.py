"""docs/data-model.md cannot drift from the code: its item table is generated from the adapter modules' KEYS."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from bench.scale import items_markdown
from chalicelib.aws.dynamodb import (
    applications,
    attempts,
    catalog,
    catalogue,
    counters,
    endpoints,
    fanout,
    flow,
    health,
    idempotency,
    jobs,
    listen,
    messages,
    sessions,
    sources,
)

MODULES = (
    sources,
    messages,
    fanout,
    attempts,
    endpoints,
    flow,
    counters,
    applications,
    catalog,
    idempotency,
    jobs,
    listen,
    sessions,
)
WRITERS = (*MODULES, health)  # health writes endpoint items: their layout is in endpoints
DOC = Path(__file__).resolve().parents[2] / "docs" / "data-model.md"


def test_the_document_has_the_generated_item_table() -> None:
    # GIVEN the item table generated from the KEYS the adapter modules declare
    doc = DOC.read_text()
    # THEN docs/data-model.md holds exactly that table (regenerate: python -m bench.scale --items)
    assert doc.split("<!-- items:begin -->\n", 1)[1].split("<!-- items:end -->", 1)[0] == items_markdown()


def test_every_partition_key_prefix_the_modules_write_is_catalogued() -> None:
    # GIVEN every literal partition key prefix (``"XYZ#``) in the adapter modules' source
    written = {
        prefix
        for module in WRITERS
        for prefix in re.findall(
            r"""["'](?:pk|gsi[123]pk)["']: s\(f?["']([A-Z_]+#?)""", inspect.getsource(module)
        )
    }
    catalogued = {
        re.match(r"[A-Z_]+#?", text).group(0)  # type: ignore[union-attr]
        for kind in catalogue()
        for text in (kind.pk, kind.gsi1, kind.gsi2, kind.gsi3)
        if text and re.match(r"[A-Z_]+#?", text)
    }
    # THEN each is in the catalogue (LISTEN# and SESSION# were once missing from the document)
    assert written, "the pattern found no key: it no longer matches how the modules write keys"
    assert written - catalogued == set()
    assert {"LISTEN#", "SESSION#", "SUBS#", "JOB#", "IDEM#"} <= catalogued


def test_each_module_declares_only_the_prefixes_it_writes() -> None:
    # GIVEN each module's own KEYS
    for module in MODULES:
        source = inspect.getsource(module)
        for kind in module.KEYS:
            prefix = re.match(r"[A-Z_]+#?", kind.pk).group(0)  # type: ignore[union-attr]
            # THEN the module itself builds keys with that prefix
            assert f'"{prefix}' in source or f"'{prefix}" in source, (module.__name__, prefix)
