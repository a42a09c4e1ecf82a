"""The botocore loader of the package's trimmed data (``chalicelib.aws.botomodels``)."""

from __future__ import annotations

import os
from typing import Any

from botocore.loaders import Loader, instance_cache


class PackagedLoader(Loader):
    """botocore's loader searching ``directory`` first, which knows the services held there without
    listing botocore's."""

    def __init__(self, directory: str, extra_search_paths: list[str]) -> None:
        super().__init__(extra_search_paths=[directory, *extra_search_paths])
        self.packaged = frozenset(
            name for name in os.listdir(directory) if os.path.isdir(os.path.join(directory, name))
        )

    @instance_cache
    def load_service_model(self, service_name: str, type_name: str, api_version: str | None = None) -> Any:
        """As botocore's, without listing every known service first when ``service_name`` is packaged."""
        if service_name not in self.packaged:
            return super().load_service_model(service_name, type_name, api_version)
        if api_version is None:
            api_version = self.determine_latest_version(service_name, type_name)
        model = self.load_data(os.path.join(service_name, api_version, type_name))
        inner: Any = self  # botocore's own steps (its extras: the sdk-extras files, as it applies them)
        inner._extras_processor.process(model, inner._find_extras(service_name, type_name, api_version))
        return model
