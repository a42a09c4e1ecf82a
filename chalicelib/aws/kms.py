"""The KMS adapter of the ``Keyring`` port (``chalicelib.sealing``): data keys for sealing secrets at rest.

Two calls only: ``GenerateDataKey`` (AES-256) when a container first seals a value (and again after the
data-key lifetime), ``Decrypt`` when it first opens a value sealed under a data key it has not unwrapped
yet. Both carry the encryption context ``{"hookway:stage": <stage>}``: a data key of one stage does not
unwrap in another, and CloudTrail names the stage of every use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import StorageError


class KmsKeyring:
    """Data keys from one KMS key (an id, an ARN or an alias); ``client`` makes the boto3 client on first use."""

    def __init__(self, client: Callable[[], Any], key_id: str, stage: str) -> None:
        self._client = client
        self._key_id = key_id
        self._context = {"hookway:stage": stage}

    def new_data_key(self) -> tuple[bytes, bytes]:
        """A fresh AES-256 data key: (plaintext, wrapped)."""
        try:
            result = self._client().generate_data_key(
                KeyId=self._key_id, KeySpec="AES_256", EncryptionContext=self._context
            )
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"KMS GenerateDataKey failed: {_code(exc)}") from exc
        return bytes(result["Plaintext"]), bytes(result["CiphertextBlob"])

    def unwrap(self, wrapped: bytes) -> bytes:
        """The plaintext of a wrapped data key."""
        try:
            result = self._client().decrypt(
                CiphertextBlob=wrapped, KeyId=self._key_id, EncryptionContext=self._context
            )
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"KMS Decrypt failed: {_code(exc)}") from exc
        return bytes(result["Plaintext"])

    def wrap(self, plain: bytes) -> bytes:
        """A data key wrapped again under this key (the local stack's restart; not a function's call)."""
        try:
            result = self._client().encrypt(
                KeyId=self._key_id, Plaintext=plain, EncryptionContext=self._context
            )
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"KMS Encrypt failed: {_code(exc)}") from exc
        return bytes(result["CiphertextBlob"])


def _code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return type(exc).__name__
