"""Outbound mutual TLS: an endpoint's client certificate, kept in Secrets Manager or SSM, cached.

An endpoint names its certificate as ``{"source": "secretsmanager" | "ssm", "name": ...}``; it is stored as
the reference ``"<source>:<name>"`` and shown as given (the name is no secret; the value never leaves the
sender). The value is either JSON ``{"certificate": PEM chain, "private_key": PEM key}`` or one PEM text
holding the chain and the key. Names must sit under the stage's own prefix (``hookway/<stage>/`` in
Secrets Manager, ``/hookway/<stage>/certs/`` in SSM), which is all the sender's IAM policy can read.

A certificate is bound to its owner, because whoever names it makes Hookway present it to a URL of their
choice: an application's endpoints may name only certificates under ``<prefix>apps/<application id>/``,
the operator's own endpoints only names under the prefix outside ``apps/``. It is checked when an
endpoint is created or changed, and again by the sender before every attempt (an endpoint stored before
the rule, or written around the API, presents nothing that is not its owner's). Every refusal reads the
same whether the name exists or not: the API checks names only, never reads them, and the sender answers
a foreign name exactly as it answers a missing one.

The cache keeps each certificate for ``ttl`` seconds per Lambda container: one read per certificate per
five minutes, and a rotated certificate is used within that time.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.outbound.egress import ClientCertificate, ClientCertificateError
from chalicelib.ttlcache import TtlCache

log = logging.getLogger("hookway.client_certs")

SOURCES = ("secretsmanager", "ssm")
UNREADABLE = "the client certificate cannot be read"
NAME = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}")
_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)
_PEM_KEY = re.compile(
    r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----.+?-----END (?:[A-Z]+ )?PRIVATE KEY-----", re.S
)


APPS = "apps/"


def owner_prefix(stage_prefix: str, owner: str | None) -> str:
    """Where the certificates of an owner (an application id; None: the operator) live in one source."""
    return f"{stage_prefix}{APPS}{owner}/" if owner is not None else stage_prefix


def owns(reference: str, prefixes: Mapping[str, str] | None, owner: str | None) -> bool:
    """Whether a stored reference names a certificate of this owner (always, without stage prefixes)."""
    source, _, name = reference.partition(":")
    if prefixes is None:
        return True
    stage_prefix = prefixes.get(source)
    if stage_prefix is None:
        return False
    if not name.startswith(owner_prefix(stage_prefix, owner)):
        return False
    # The operator's names are the stage's, minus every application's.
    return owner is not None or not name.startswith(stage_prefix + APPS)


def check_reference(
    reference: str, prefixes: Mapping[str, str] | None = None, owner: str | None = None
) -> str:
    """A reference ``source:name`` (as ``chalicelib.api.endpoints`` parses it) if an endpoint of ``owner``
    (an application id; None: the operator's) may name it; ValueError says what is wrong, never whether
    a name exists."""
    source = reference.partition(":")[0]
    required = (prefixes or {}).get(source)
    if required and not owns(reference, prefixes, owner):
        if owner is not None:
            raise ValueError(
                f"client_certificate.name must start with {owner_prefix(required, owner)} "
                "(this application's own certificates)"
            )
        raise ValueError(
            f"client_certificate.name must start with {required} and not {required}{APPS} "
            "(the operator's own certificates of this stage)"
        )
    return reference


def parse_value(text: str) -> ClientCertificate:
    """A certificate chain and key from a secret's text; ClientCertificateError if it holds neither form."""
    chain: str | None = None
    key: str | None = None
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            doc = json.loads(stripped)
        except ValueError:
            raise ClientCertificateError("the client certificate secret is not valid JSON") from None
        if isinstance(doc, dict):
            chain, key = doc.get("certificate"), doc.get("private_key")
    else:
        certs = _PEM_CERT.findall(stripped)
        keys = _PEM_KEY.findall(stripped)
        chain = "\n".join(certs) if certs else None
        key = keys[0] if len(keys) == 1 else None
    if not (
        isinstance(chain, str) and _PEM_CERT.search(chain) and isinstance(key, str) and _PEM_KEY.search(key)
    ):
        raise ClientCertificateError("the client certificate secret holds no PEM certificate and private key")
    return ClientCertificate(chain_pem=chain, key_pem=key)


class ClientCertificates:
    """Resolves references to certificates through ``read(source, name) -> text``, caching each for ``ttl``."""

    def __init__(
        self, read: Callable[[str, str], str], clock: Callable[[], float], ttl: float = 300.0
    ) -> None:
        self._read = read
        self._cache: TtlCache[str, ClientCertificate] = TtlCache(clock, ttl)

    def __call__(self, reference: str) -> ClientCertificate:
        """The certificate a reference names (cached)."""
        return self._cache.get(reference, self._load)

    def _load(self, reference: str) -> ClientCertificate:
        source, _, name = reference.partition(":")
        if source not in SOURCES or not name:
            raise ClientCertificateError("unknown client certificate reference")
        return parse_value(self._read(source, name))


def aws_reader(secretsmanager: Callable[[], Any], ssm: Callable[[], Any]) -> Callable[[str, str], str]:
    """``read(source, name)`` over Secrets Manager and SSM clients made on first use."""

    def read(source: str, name: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            if source == "secretsmanager":
                return str(secretsmanager().get_secret_value(SecretId=name)["SecretString"])
            return str(ssm().get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])
        except (BotoCoreError, ClientError, KeyError) as exc:
            code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""
            # The attempt log is the tenant's to read: the same words for a missing name and a refused
            # one; the AWS code goes to the operator's log only.
            log.warning("client certificate unreadable", extra={"source": source, "code": code})
            raise ClientCertificateError(UNREADABLE) from exc

    return read
