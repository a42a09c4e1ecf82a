"""Secrets at rest: envelope encryption of the secret fields of sources and endpoints.

What is sealed: endpoint signing secrets (HMAC ``whsec_`` and ed25519 ``whsk_``), the receiver's
credentials (``auth`` values but its ``type`` and ``username``), custom header values; source verification
secrets and ``basic_auth`` entries. Everything else of an item stays readable (the router matches on it).

How (as Svix does, and the AWS Encryption SDK's caching pattern):

* a **data key** (AES-256) comes from a ``Keyring`` (KMS ``GenerateDataKey`` in production,
  ``chalicelib.aws.kms``); one per container, renewed after ``lifetime`` seconds or ``MAX_USES`` seals;
* each value is sealed with AES-256-GCM under it; the **associated data** names the item and the field
  (``["hookway", 1, "endpoint", "ep_…", "header", "x-api-key"]``), so a ciphertext copied to another item
  or another field does not open;
* the **wrapped** data key travels in the value itself: ``hwenc1:`` + base64url(len(wrapped) as 2 bytes,
  wrapped, 12-byte nonce, ciphertext and tag). Nothing else is needed to open it but the keyring;
* unwrapped data keys are kept in a bounded LRU (``max_keys``) for ``lifetime`` seconds, so a warm
  sender opens an endpoint's secrets with no KMS call; revoking the key's grant takes effect within it.

A value without the ``hwenc1:`` prefix is a **legacy plaintext** (stored before sealing existed): it reads
as it is, and the next write of its item seals it (``reseal`` does that for every item at once).

``SealedStore`` wraps any Store (DynamoDB's or the in-memory fake): it seals on ``put_source`` and
``put_endpoint`` and opens what the reads return. Functions that never need a secret (router, sweep,
dead-letter handler) use the store unwrapped: their models keep the sealed values, and their IAM policy
holds no KMS action.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.errors import HookwayError
from chalicelib.inbound_models import Secret, Source
from chalicelib.paging import Page
from chalicelib.ttlcache import TtlCache

if TYPE_CHECKING:
    # Imported where used: the router and the sweep import this module but never seal or open.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from chalicelib.models import Endpoint
    from chalicelib.ports import Store

PREFIX = "hwenc1:"
TOKEN = re.compile(r"hwenc1:[A-Za-z0-9_-]+")
NONCE_BYTES = 12
KEY_BYTES = 32
MAX_USES = 1 << 24  # seals per data key: far below GCM's 2**32 random-nonce bound
DEFAULT_LIFETIME = 900.0
DEFAULT_MAX_KEYS = 1000


class SealError(HookwayError):
    """A sealed value that does not open here: moved from another item or field, altered, or malformed."""

    status = 500
    code = "sealed_value_unreadable"


class Keyring(Protocol):
    """Where data keys come from: KMS in production (``chalicelib.aws.kms``), a fake in tests."""

    def new_data_key(self) -> tuple[bytes, bytes]:
        """A fresh 32-byte data key and the same key wrapped by the master key."""
        ...

    def unwrap(self, wrapped: bytes) -> bytes:
        """The plaintext of a wrapped data key (StorageError when the keyring cannot be reached)."""
        ...


def _aad(context: tuple[str, ...]) -> bytes:
    return json.dumps(["hookway", 1, *context], separators=(",", ":")).encode()


def is_sealed(value: str) -> bool:
    """Whether a stored value is sealed (else: a legacy plaintext)."""
    return value.startswith(PREFIX)


def split(token: str) -> tuple[bytes, bytes]:
    """A sealed value's wrapped data key and the rest (nonce, ciphertext and tag); SealError if malformed."""
    try:
        raw = base64.urlsafe_b64decode(token.removeprefix(PREFIX) + "=" * (-len(token) % 4))
        (size,) = struct.unpack(">H", raw[:2])
    except (binascii.Error, ValueError, struct.error):
        raise SealError("a sealed value is malformed") from None
    wrapped, rest = raw[2 : 2 + size], raw[2 + size :]
    if len(wrapped) != size or len(rest) < NONCE_BYTES + 16:
        raise SealError("a sealed value is malformed")
    return wrapped, rest


def join(wrapped: bytes, rest: bytes) -> str:
    """A sealed value from its wrapped data key and its nonce, ciphertext and tag."""
    raw = struct.pack(">H", len(wrapped)) + wrapped + rest
    return PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass
class _DataKey:
    cipher: AESGCM
    wrapped: bytes
    made_at: float
    uses: int = 0


class Sealer:
    """Seals and opens single values under data keys from a keyring, with the caches described above."""

    def __init__(
        self,
        keyring: Keyring,
        clock: Callable[[], float],
        *,
        lifetime: float = DEFAULT_LIFETIME,
        max_keys: int = DEFAULT_MAX_KEYS,
    ) -> None:
        self._keyring = keyring
        self._clock = clock
        self._lifetime = lifetime
        self._lock = threading.Lock()
        self._current: _DataKey | None = None
        self._opened: TtlCache[bytes, AESGCM] = TtlCache(clock, lifetime, limit=max_keys)

    def seal(self, value: str, *context: str) -> str:
        """``value`` sealed for one field of one item (``context``: kind, id, field, name)."""
        with self._lock:
            key = self._current
            now = self._clock()
            if key is None or now - key.made_at >= self._lifetime or key.uses >= MAX_USES:
                from cryptography.hazmat.primitives.ciphers.aead import AESGCM

                plain, wrapped = self._keyring.new_data_key()
                key = self._current = _DataKey(AESGCM(plain), wrapped, now)
                self._opened.put(wrapped, key.cipher)  # this container opens its own writes for free
            key.uses += 1
        nonce = os.urandom(NONCE_BYTES)
        return join(key.wrapped, nonce + key.cipher.encrypt(nonce, value.encode(), _aad(context)))

    def open(self, value: str, *context: str) -> str:
        """The plaintext of a sealed value (a legacy plaintext as it is); SealError if it does not open."""
        if not is_sealed(value):
            return value
        from cryptography.exceptions import InvalidTag

        wrapped, rest = split(value)
        cipher = self._cipher(wrapped)
        try:
            return cipher.decrypt(rest[:NONCE_BYTES], rest[NONCE_BYTES:], _aad(context)).decode()
        except (InvalidTag, UnicodeDecodeError):
            raise SealError(
                "a sealed value does not open for this field (moved from another item or altered)"
            ) from None

    def _cipher(self, wrapped: bytes) -> AESGCM:
        return self._opened.get(wrapped, self._unwrap)

    def _unwrap(self, wrapped: bytes) -> AESGCM:
        plain = self._keyring.unwrap(wrapped)  # outside any lock: one slow call holds nobody else
        if len(plain) != KEY_BYTES:
            raise SealError("a sealed value's data key is not an AES-256 key")
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        return AESGCM(plain)


# --------------------------------------------------------------------------------- models, field by field

Transform = Callable[..., str]


def _secrets(secrets: tuple[Secret, ...], do: Transform, kind: str, item_id: str) -> tuple[Secret, ...]:
    return tuple(replace(s, value=do(s.value, kind, item_id, "secret", s.id)) for s in secrets)


def _endpoint(endpoint: Endpoint, do: Transform) -> Endpoint:
    eid = endpoint.id
    auth = endpoint.auth
    if auth is not None:
        # The type and the user name stay readable: the API shows them; the password or token is sealed.
        auth = {
            k: v if k in ("type", "username") else do(v, "endpoint", eid, "auth", k) for k, v in auth.items()
        }
    return replace(
        endpoint,
        secrets=_secrets(endpoint.secrets, do, "endpoint", eid),
        headers={k: do(v, "endpoint", eid, "header", k.lower()) for k, v in endpoint.headers.items()},
        auth=auth,
    )


def _source(source: Source, do: Transform) -> Source:
    sid = source.id
    return replace(
        source,
        verification=replace(
            source.verification, secrets=_secrets(source.verification.secrets, do, "source", sid)
        ),
        basic_auth=tuple(do(v, "source", sid, "basic_auth", str(i)) for i, v in enumerate(source.basic_auth)),
    )


def seal_endpoint(endpoint: Endpoint, sealer: Sealer) -> Endpoint:
    """An endpoint with its secret fields sealed."""
    return _endpoint(endpoint, sealer.seal)


def open_endpoint(endpoint: Endpoint, sealer: Sealer) -> Endpoint:
    """An endpoint with its secret fields opened."""
    return _endpoint(endpoint, sealer.open)


def seal_source(source: Source, sealer: Sealer) -> Source:
    """A source with its secret fields sealed."""
    return _source(source, sealer.seal)


def open_source(source: Source, sealer: Sealer) -> Source:
    """A source with its secret fields opened."""
    return _source(source, sealer.open)


def _values(model: Endpoint | Source) -> list[str]:
    found: list[str] = []

    def collect(value: str, *_: str) -> str:
        found.append(value)
        return value

    if isinstance(model, Source):
        _source(model, collect)
    else:
        _endpoint(model, collect)
    return found


def has_plaintext(model: Endpoint | Source) -> bool:
    """Whether a stored model still holds a secret in plaintext (written before sealing existed)."""
    return any(not is_sealed(v) for v in _values(model))


# ------------------------------------------------------------------------------------------- the store


class SealedStore:
    """A Store whose sources and endpoints are sealed at rest; everything else passes through as it is."""

    def __init__(self, inner: Store, sealer: Sealer) -> None:
        self.inner = inner  # reads from it leave secrets sealed (functions that never need them)
        self._sealer = sealer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def put_source(self, source: Source) -> None:
        """Create or replace a source, its secrets sealed."""
        self.inner.put_source(seal_source(source, self._sealer))

    def get_source(self, source_id: str) -> Source:
        """The source, its secrets opened."""
        return open_source(self.inner.get_source(source_id), self._sealer)

    def list_sources(self, *, limit: int, cursor: str | None) -> Page[Source]:
        """Sources, their secrets opened."""
        page = self.inner.list_sources(limit=limit, cursor=cursor)
        return Page([open_source(s, self._sealer) for s in page.items], page.cursor)

    def put_endpoint(self, endpoint: Endpoint) -> None:
        """Create or replace an endpoint, its secrets sealed."""
        self.inner.put_endpoint(seal_endpoint(endpoint, self._sealer))

    def get_endpoint(self, endpoint_id: str) -> Endpoint:
        """The endpoint, its secrets opened."""
        return open_endpoint(self.inner.get_endpoint(endpoint_id), self._sealer)

    def get_endpoints(self, endpoint_ids: Sequence[str]) -> list[Endpoint]:
        """The endpoints found (a batched read), their secrets opened: the sender signs with them. One
        that does not open is left out: its own read (``get_endpoint``) fails alone, as before."""
        opened: list[Endpoint] = []
        for endpoint in self.inner.get_endpoints(endpoint_ids):
            try:
                opened.append(open_endpoint(endpoint, self._sealer))
            except SealError:
                continue
        return opened

    def list_endpoints(self, *, application_id: str | None, limit: int, cursor: str | None) -> Page[Endpoint]:
        """One owner's endpoints, their secrets opened."""
        page = self.inner.list_endpoints(application_id=application_id, limit=limit, cursor=cursor)
        return Page([open_endpoint(e, self._sealer) for e in page.items], page.cursor)

    def endpoints_of(self, application_id: str | None) -> list[Endpoint]:
        """Every endpoint of one owner, their secrets opened."""
        return [open_endpoint(e, self._sealer) for e in self.inner.endpoints_of(application_id)]

    def attention_endpoints(self, *, limit: int) -> list[Endpoint]:
        """Endpoints that need attention, their secrets opened."""
        return [open_endpoint(e, self._sealer) for e in self.inner.attention_endpoints(limit=limit)]


def unsealed(store: Store) -> Store:
    """The store beneath a SealedStore (reads keep secrets sealed); any other store as it is."""
    return store.inner if isinstance(store, SealedStore) else store


def reseal(store: SealedStore) -> dict[str, int]:
    """Seal every source and endpoint that still holds a plaintext secret; returns how many of each.

    Items already sealed are not written. Run it once after upgrading (README, "Secrets at rest");
    without it, each item is sealed the next time it is written anyway.
    """
    counts = {"sources": 0, "endpoints": 0}
    raw = store.inner
    owners: list[str | None] = [None]
    for source in _all(raw.list_sources):
        if has_plaintext(source):
            store.put_source(open_source(source, store._sealer))
            counts["sources"] += 1
    owners += [application.id for application in _all(raw.list_applications)]
    for owner in owners:
        for endpoint in raw.endpoints_of(owner):
            if has_plaintext(endpoint):
                store.put_endpoint(open_endpoint(endpoint, store._sealer))
                counts["endpoints"] += 1
    return counts


def _all(listing: Callable[..., Page[Any]]) -> list[Any]:
    items: list[Any] = []
    cursor: str | None = None
    while True:
        page = listing(limit=100, cursor=cursor)
        items.extend(page.items)
        if page.cursor is None:
            return items
        cursor = page.cursor


def main() -> None:
    """``python -m chalicelib.sealing``: reseal a stage's table (its ``HOOKWAY_*`` environment)."""
    from chalicelib.wiring import worker_root

    store = worker_root().store  # a bulk run: the background profile's patient clients
    if not isinstance(store, SealedStore):
        raise SystemExit("HOOKWAY_KMS_KEY_ID is not set: nothing to seal with")
    print(json.dumps(reseal(store)))


if __name__ == "__main__":
    main()
