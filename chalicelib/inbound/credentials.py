"""What of an inbound request is kept: never a credential the source authenticates with.

A message's headers and query string are stored, shown through the API (to read-only portal tokens too)
and forwarded by ``passthrough`` endpoints. So before anything is stored, these are removed:

- headers that carry credentials by their nature (``Authorization``, ``Proxy-Authorization``, ``Cookie``,
  ``X-Gitlab-Token``) and the header a ``token`` source reads its token from (``options.header``);
- any header or query parameter whose value holds a live secret of the source (its verification secrets,
  Basic credentials, plain or base64, and secret-like options such as Meta's ``verify_token``), whatever
  its name: a provider configured with ``?token=...`` or a custom ``X-Api-Key`` loses it here;
- query parameters named like credentials (``token``, ``access_token``, ``api_key``, ``key``, ...).

Signature headers are kept (the operator debugs with them, ``passthrough`` receivers verify them) but an
application's token never sees them: ``for_tokens`` hides every header named like a signature or a
credential. A signature lets its holder replay the delivery; a tenant has no use for one.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import unquote_plus

from chalicelib.inbound_models import Source

#: Headers that carry credentials rather than provenance.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-gitlab-token"})
#: Query parameters named like credentials (compared lower-case).
CREDENTIAL_PARAMS = frozenset(
    {"token", "access_token", "auth", "auth_token", "api_key", "apikey", "key", "secret", "password", "pass"}
)
#: A header a token scope never sees: signatures and anything named like a credential.
_HIDDEN_FROM_TOKENS = re.compile(r"sig|hmac|token|secret|auth|key|passw|cookie|credential", re.IGNORECASE)
#: A secret this short is matched only as a whole value, not inside one (it would match by chance).
_MIN_CONTAINED = 8
_SECRET_OPTION_WORDS = ("token", "secret", "password", "key")


def source_credentials(source: Source, live_secrets: Iterable[str]) -> tuple[str, ...]:
    """Every value that would let its holder pass this source's checks."""
    found: list[str] = [s for s in live_secrets if s]
    for entry in (*source.basic_auth, *(found if source.verification.scheme == "basic" else ())):
        found.append(base64.b64encode(entry.encode()).decode())
        found.append(entry.partition(":")[2])
    found.extend(source.basic_auth)
    for name, value in source.verification.options.items():
        if (
            isinstance(value, str)
            and value
            and name != "header"
            and any(w in name for w in _SECRET_OPTION_WORDS)
        ):
            found.append(value)
    return tuple(dict.fromkeys(v for v in found if v))


def _holds(value: str, secrets: Sequence[str]) -> bool:
    return any(value == s or (len(s) >= _MIN_CONTAINED and s in value) for s in secrets)


def credential_header_names(source: Source) -> frozenset[str]:
    """The header names that are credentials for this source (besides the universal ones)."""
    if source.verification.scheme == "token":
        header = source.verification.options.get("header")
        name = header if isinstance(header, str) and header else "Authorization"
        return CREDENTIAL_HEADERS | {name.lower()}
    return CREDENTIAL_HEADERS


def strip_headers(
    headers: Mapping[str, str], names: frozenset[str], secrets: Sequence[str]
) -> dict[str, str]:
    """``headers`` without credential names and without any value holding a secret."""
    return {
        name: value
        for name, value in headers.items()
        if name.lower() not in names and not _holds(value, secrets)
    }


def strip_query(query_string: str, secrets: Sequence[str]) -> str:
    """The query string without credential-named parameters or values holding a secret (order kept)."""
    if not query_string:
        return query_string
    kept = []
    for pair in query_string.split("&"):
        name, _, value = pair.partition("=")
        plain_name, plain_value = unquote_plus(name), unquote_plus(value)
        if plain_name.lower() in CREDENTIAL_PARAMS or _holds(plain_value, secrets) or _holds(value, secrets):
            continue
        kept.append(pair)
    return "&".join(kept)


def for_tokens(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers an application's token may read: no signature, no credential-like header."""
    return {name: value for name, value in headers.items() if not _HIDDEN_FROM_TOKENS.search(name)}
