"""The contract of ApplicationStore: one behavioural suite, run against the in-memory fake and DynamoDB on moto."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from chalicelib.aws.dynamodb.applications import ApplicationTable
from chalicelib.branding import Branding
from chalicelib.errors import ConflictError, NotFoundError
from testkit.fakes import FakeClock
from testkit.memory.applications import MemoryApplications
from tests.integration.contracts.builders import _application, _pages, contract_store

store = contract_store(MemoryApplications, ApplicationTable)


class TestApplications:
    def test_round_trip_and_uid_lookup(self, store: Any, clock: FakeClock) -> None:
        # GIVEN an application with a uid and one without
        app = _application(clock, uid="acme-1", metadata={"plan": "pro", "region": "eu"})
        bare = _application(clock, metadata={})
        # WHEN both are created
        store.create_application(app)
        store.create_application(bare)
        # THEN each reads back whole and the uid names its application
        assert store.get_application(app.id) == app
        assert store.get_application(bare.id) == bare
        assert store.application_id_for_uid("acme-1") == app.id
        assert store.application_id_for_uid("nobody") is None

    def test_branding_round_trips_and_is_replaced_or_cleared_by_an_update(
        self, store: Any, clock: FakeClock
    ) -> None:
        branded = _application(clock, branding=Branding("Acme", "https://acme.example/l.svg", "#0f766e"))
        store.create_application(branded)
        assert store.get_application(branded.id) == branded
        partial = replace(branded, branding=Branding(accent="#111111"), updated_at=clock() + 1)
        store.update_application(branded, partial)
        assert store.get_application(branded.id).branding == Branding(accent="#111111")
        store.update_application(partial, replace(partial, branding=Branding()))
        assert store.get_application(branded.id).branding == Branding()

    def test_missing_application(self, store: Any) -> None:
        with pytest.raises(NotFoundError) as err:
            store.get_application("app_missing")
        assert err.value.code == "application_not_found"

    def test_uid_conflict_on_create(self, store: Any, clock: FakeClock) -> None:
        # GIVEN an application holding a uid
        first = _application(clock, uid="shared")
        store.create_application(first)
        # WHEN another one is created with the same uid
        second = _application(clock, uid="shared")
        with pytest.raises(ConflictError) as err:
            store.create_application(second)
        # THEN it is refused and nothing of it is stored
        assert err.value.code == "uid_taken"
        with pytest.raises(NotFoundError):
            store.get_application(second.id)
        assert store.application_id_for_uid("shared") == first.id
        # AND creating the holder again (a retry) is no conflict
        store.create_application(first)

    def test_uid_conflict_on_update(self, store: Any, clock: FakeClock) -> None:
        # GIVEN two applications with their own uids
        a = _application(clock, uid="a")
        b = _application(clock, uid="b")
        store.create_application(a)
        store.create_application(b)
        # WHEN b tries to take a's uid
        with pytest.raises(ConflictError) as err:
            store.update_application(b, replace(b, uid="a", name="renamed"))
        # THEN nothing changes
        assert err.value.code == "uid_taken"
        assert store.get_application(b.id) == b
        assert store.application_id_for_uid("a") == a.id
        assert store.application_id_for_uid("b") == b.id

    def test_uid_move_frees_the_old_uid(self, store: Any, clock: FakeClock) -> None:
        # GIVEN an application with uid "old"
        app = _application(clock, uid="old")
        store.create_application(app)
        # WHEN it moves to "new" (and other fields change)
        clock.advance(5)
        moved = replace(app, uid="new", name="Acme 2", metadata={"k": "v"}, updated_at=clock())
        store.update_application(app, moved)
        # THEN "new" names it, "old" is free for another application
        assert store.get_application(app.id) == moved
        assert store.application_id_for_uid("new") == app.id
        assert store.application_id_for_uid("old") is None
        other = _application(clock, uid="old")
        store.create_application(other)
        assert store.application_id_for_uid("old") == other.id
        # AND dropping the uid frees it as well
        store.update_application(moved, replace(moved, uid=None))
        assert store.get_application(app.id).uid is None
        assert store.application_id_for_uid("new") is None

    def test_update_without_uid_change_keeps_the_uid(self, store: Any, clock: FakeClock) -> None:
        app = _application(clock, uid="same")
        store.create_application(app)
        store.update_application(app, replace(app, name="n2"))
        assert store.get_application(app.id).name == "n2"
        assert store.application_id_for_uid("same") == app.id

    def test_update_of_a_deleted_application_is_not_found(self, store: Any, clock: FakeClock) -> None:
        app = _application(clock, uid="gone")
        with pytest.raises(NotFoundError) as err:
            store.update_application(app, replace(app, uid="gone2"))
        assert err.value.code == "application_not_found"
        assert store.application_id_for_uid("gone2") is None

    def test_delete_frees_the_uid(self, store: Any, clock: FakeClock) -> None:
        # GIVEN an application with a uid
        app = _application(clock, uid="u1")
        store.create_application(app)
        # WHEN it is deleted
        store.delete_application(app)
        # THEN it is gone and its uid can be taken again
        with pytest.raises(NotFoundError):
            store.get_application(app.id)
        assert store.application_id_for_uid("u1") is None
        again = _application(clock, uid="u1")
        store.create_application(again)
        assert store.application_id_for_uid("u1") == again.id
        # AND deleting an application without a uid works too
        bare = _application(clock)
        store.create_application(bare)
        store.delete_application(bare)
        with pytest.raises(NotFoundError):
            store.get_application(bare.id)

    def test_applications_page_oldest_first(self, store: Any, clock: FakeClock) -> None:
        made = []
        for i in range(5):
            made.append(_application(clock, uid=f"u{i}" if i % 2 else None))
            store.create_application(made[-1])
            clock.advance(1)
        seen, pages = _pages(store, "list_applications")
        assert [a.id for a in seen] == [a.id for a in made]
        assert pages == 3

    def test_revoke_tokens_only_moves_forward(self, store: Any, clock: FakeClock) -> None:
        # GIVEN an application
        app = _application(clock, uid="rv")
        store.create_application(app)
        # WHEN its tokens are revoked, then "revoked" at an earlier time
        store.revoke_tokens(app.id, 1000.0)
        store.revoke_tokens(app.id, 500.0)
        # THEN the later instant stands
        assert store.get_application(app.id).tokens_valid_after == 1000.0
        store.revoke_tokens(app.id, 2000.5)
        assert store.get_application(app.id).tokens_valid_after == 2000.5
        # AND an update built from a stale copy cannot undo the revocation
        store.update_application(app, replace(app, name="stale"))
        got = store.get_application(app.id)
        assert (got.name, got.tokens_valid_after) == ("stale", 2000.5)
        # AND a missing application is a 404
        with pytest.raises(NotFoundError) as err:
            store.revoke_tokens("app_missing", 1.0)
        assert err.value.code == "application_not_found"
