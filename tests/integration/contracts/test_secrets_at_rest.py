"""The contract of the sealed Store (sources and endpoints sealed at rest): one behavioural suite, run against the in-memory fake and DynamoDB on moto."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from chalicelib.ids import new_id
from chalicelib.models import (
    Endpoint,
    Secret,
    Source,
    Verification,
)
from testkit.fakes import FakeClock
from tests.integration.contracts.builders import (
    _source,
)

SECRET_PLAINTEXTS = {
    "endpoint HMAC secret": "whsec_c2VhbGVkLWF0LXJlc3QtaG1hYy1zZWNyZXQ=",
    "endpoint ed25519 key": "whsk_" + "B" * 86 + "==",
    "receiver basic password": "receiver-password-at-rest",
    "receiver bearer token": "receiver-bearer-at-rest",
    "custom header value": "custom-header-at-rest",
    "source secret": "source-secret-at-rest",
    "source basic auth": "provider:source-basic-at-rest",
}


@pytest.fixture(params=["memory", "dynamodb"])
def sealed(request: pytest.FixtureRequest, clock: FakeClock) -> tuple[Any, Any, Any]:
    """A sealed store, a function that returns every byte it holds, and a function that makes another
    sealed store on the same data and key (another container: nothing cached): the fake with a fake
    keyring, or DynamoDB with a KMS key, both on moto."""
    from chalicelib.aws.dynamo import DynamoStore
    from chalicelib.aws.kms import KmsKeyring
    from chalicelib.sealing import SealedStore, Sealer
    from testkit import aws
    from testkit.fakes import FakeKeyring, MemoryStore

    if request.param == "memory":
        fake = MemoryStore(clock)

        def held() -> str:
            return repr(fake.endpoints) + repr(fake.sources)

        keyring = FakeKeyring()
        return (
            SealedStore(fake, Sealer(keyring, clock)),
            held,
            lambda: SealedStore(fake, Sealer(keyring, clock)),
        )
    endpoint = request.getfixturevalue("endpoint")
    db = aws.client("dynamodb", endpoint)
    table = aws.create_state_table(endpoint)
    kms = aws.client("kms", endpoint)
    key = kms.create_key(Description="contract suite")["KeyMetadata"]["Arn"]

    def scanned() -> str:
        return json.dumps(db.scan(TableName=table)["Items"])

    store = DynamoStore(db, table, clock)
    keyring = KmsKeyring(lambda: kms, key, "test")
    return (
        SealedStore(store, Sealer(keyring, clock)),
        scanned,
        lambda: SealedStore(store, Sealer(keyring, clock)),
    )


def _secret_holders(clock: FakeClock) -> tuple[Endpoint, Endpoint, Source]:
    p = SECRET_PLAINTEXTS
    basic = Endpoint(
        id=new_id("ep"),
        url="https://hooks.example.com/a",
        created_at=clock(),
        updated_at=clock(),
        secrets=(
            Secret("sec_h", p["endpoint HMAC secret"], clock()),
            Secret("sec_e", p["endpoint ed25519 key"], clock()),
        ),
        headers={"X-Api-Key": p["custom header value"]},
        auth={"type": "basic", "username": "hookway", "password": p["receiver basic password"]},
    )
    bearer = replace(basic, id=new_id("ep"), auth={"type": "bearer", "token": p["receiver bearer token"]})
    source = _source(
        clock,
        verification=Verification("github", (Secret("sec_s", p["source secret"], clock()),), None, {}),
        basic_auth=(p["source basic auth"],),
    )
    return basic, bearer, source


class TestSecretsAtRest:
    def test_no_secret_of_any_kind_is_in_the_stored_bytes(
        self, sealed: tuple[Any, Any, Any], clock: FakeClock
    ) -> None:
        store, held, another = sealed
        # GIVEN every kind of secret, WHEN stored
        basic, bearer, source = _secret_holders(clock)
        store.put_endpoint(basic)
        store.put_endpoint(bearer)
        store.put_source(source)
        # THEN none is in what the store holds (DynamoDB: a scan of the table, every attribute)
        stored = held()
        assert basic.id in stored and "X-Api-Key" in stored and "hwenc1:" in stored
        for kind, plaintext in SECRET_PLAINTEXTS.items():
            assert plaintext not in stored, kind
        # ... and each reads back as it was, here and in another container (which unwraps the data key)
        for reader in (store, another()):
            assert reader.get_endpoint(basic.id) == basic and reader.get_endpoint(bearer.id) == bearer
            assert reader.get_source(source.id) == source

    def test_a_ciphertext_moved_to_another_item_does_not_open(
        self, sealed: tuple[Any, Any, Any], clock: FakeClock
    ) -> None:
        from chalicelib.sealing import SealError

        store, _, another = sealed
        victim, evil, _ = _secret_holders(clock)
        store.put_endpoint(victim)
        store.put_endpoint(replace(evil, headers={}, auth=None, secrets=()))
        # WHEN a victim's sealed signing secret is written, as stored, into the other endpoint's header
        stolen = store.inner.get_endpoint(victim.id).secrets[0].value
        store.inner.put_endpoint(replace(store.inner.get_endpoint(evil.id), headers={"X-Echo": stolen}))
        # THEN reading that endpoint fails: Hookway never sends the victim's secret to its URL
        for reader in (store, another()):
            with pytest.raises(SealError):
                reader.get_endpoint(evil.id)
            assert reader.get_endpoint(victim.id) == victim
