"""Parameter reads: the admin key, from the environment or from SSM Parameter Store (decrypted)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.errors import StorageError
from chalicelib.ttlcache import TtlCache


class FixedAdminKey:
    """The admin key as the environment gives it."""

    def __init__(self, value: str) -> None:
        self._value = value

    def current(self) -> str:
        """The key."""
        return self._value


class AdminKeyParameter:
    """The admin key from an SSM parameter, kept ``ttl`` seconds, so a rotated key reaches warm functions
    (and ends the old key's console sessions) within that time. The client is made on first use."""

    def __init__(self, ssm: Callable[[], Any], name: str, clock: Callable[[], float], ttl: float) -> None:
        self._ssm = ssm
        self._name = name
        self._cache: TtlCache[str, str] = TtlCache(clock, ttl, limit=1)

    def current(self) -> str:
        """The key; StorageError (503) if the parameter cannot be read (not cached: the next call tries again)."""
        return self._cache.get(self._name, self._read)

    def _read(self, name: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            result = self._ssm().get_parameter(Name=name, WithDecryption=True)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError("the admin key parameter cannot be read") from exc
        return str(result["Parameter"]["Value"])
