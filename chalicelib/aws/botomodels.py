"""The package's trimmed botocore data, searched first by the composition root's session.

``make package`` and ``make deploy`` write ``botocore-data/`` next to this module (``infra/botomodels.py``:
the services the functions use with only the operations they call, and ``endpoints.json`` with only those
services), so a cold start parses a fraction of botocore's JSON. Outside a package (tests, the local
stack) the directory is absent and botocore's own data serves, as it always does for what is not there.

The session's loader (``chalicelib.aws.packaged_loader``) is botocore's own, with that directory first on
its search path, and one difference: a model of a service the directory holds is loaded without first
listing every service botocore knows (about 450 directories listed and 2,700 files looked up, once per
model type: about 10 ms of a cold start each), which only checks that the service exists. Everything else
it finds as botocore does.
"""

from __future__ import annotations

import os
from typing import Any

MODELS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "botocore-data")


def use_packaged_models(session: Any, directory: str | None = MODELS_DIR) -> bool:
    """Give ``session`` (before it loads anything) a loader that searches ``directory`` first, if it holds
    trimmed data. Whether it does."""
    if not directory or not os.path.isfile(os.path.join(directory, "endpoints.json")):
        return False
    data_path = session.get_config_variable("data_path")  # AWS_DATA_PATH, as botocore's own loader reads it
    extra = [os.path.expanduser(p) for p in data_path.split(os.pathsep)] if data_path else []
    from chalicelib.aws.packaged_loader import PackagedLoader  # botocore's: imported with the first client

    session.register_component("data_loader", PackagedLoader(directory, extra))
    return True
