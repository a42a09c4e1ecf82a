"""The package's trimmed botocore data, put first on the composition root's session's loader search path.

``make package`` and ``make deploy`` write ``botocore-data/`` next to this module (``infra/botomodels.py``:
the services the functions use with only the operations they call, and ``endpoints.json`` with only those
services), so a cold start parses a fraction of botocore's JSON. Outside a package (tests, the local
stack) the directory is absent and botocore's own data serves, as it always does for what is not there.
"""

from __future__ import annotations

import os
from typing import Any

MODELS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "botocore-data")


def use_packaged_models(session: Any, directory: str | None = MODELS_DIR) -> bool:
    """Search ``directory`` first for the session's botocore data, if it holds trimmed data (before the
    session loads anything). Whether it does."""
    if not directory or not os.path.isfile(os.path.join(directory, "endpoints.json")):
        return False
    session.get_component("data_loader").search_paths.insert(0, directory)
    return True
