"""The contract of SessionStore: one behavioural suite, run against the in-memory fake and DynamoDB on moto."""

from __future__ import annotations

from typing import Any

from chalicelib.aws.dynamodb.sessions import SessionTable
from testkit.fakes import FakeClock
from testkit.memory.sessions import MemorySessions
from tests.integration.contracts.builders import contract_store

store = contract_store(MemorySessions, SessionTable)


class TestSessions:
    def test_console_sessions_are_kept_until_signed_out(self, store: Any, clock: FakeClock) -> None:
        # GIVEN a session kept by its digest
        store.put_session("d" * 64, clock() + 3600)
        # THEN it is found with when it ends, and an unknown one is not
        assert store.session_expires_at("d" * 64) == clock() + 3600
        assert store.session_expires_at("e" * 64) is None
        # WHEN it is deleted (twice: the second is no error), THEN it is gone
        store.delete_session("d" * 64)
        store.delete_session("d" * 64)
        assert store.session_expires_at("d" * 64) is None

    def test_end_sessions_ends_every_console_session(self, store: Any, clock: FakeClock) -> None:
        # GIVEN three sessions (an earlier test may have left others)
        store.end_sessions()
        for digest in ("a" * 64, "b" * 64, "c" * 64):
            store.put_session(digest, clock() + 3600)
        # WHEN every session is ended THEN none is found, and a second call finds nothing to end
        assert store.end_sessions() == 3
        assert [store.session_expires_at(d * 64) for d in "abc"] == [None, None, None]
        assert store.end_sessions() == 0
