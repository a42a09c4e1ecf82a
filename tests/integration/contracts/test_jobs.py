"""The contract of JobStore: one behavioural suite, run against the in-memory fake and DynamoDB on moto."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from chalicelib.aws.dynamodb.jobs import JobTable
from chalicelib.errors import NotFoundError
from chalicelib.ids import new_id
from testkit.fakes import FakeClock
from testkit.memory.jobs import MemoryJobs
from tests.integration.contracts.builders import contract_store

store = contract_store(MemoryJobs, JobTable)


class TestJobs:
    def test_a_job_round_trips_and_changes_only_from_the_revision_it_read(
        self, store: Any, clock: FakeClock
    ) -> None:
        from chalicelib.models import Job

        # GIVEN a stored job
        job = Job(
            id=new_id("job"),
            kind="endpoint.recover",
            created_at=clock(),
            updated_at=clock(),
            params={"endpoint_id": "ep_1", "since": 1.5, "include_unmatched": True},
            application_id="app_1",
            expires_at=clock() + 600,
        )
        store.create_job(job)
        assert store.get_job(job.id) == job
        # WHEN two workers move it on from the same revision
        first = replace(job, state="running", done=500, cursor='["attempts","abc"]', rev=1, sent=1)
        second = replace(job, state="failed", error={"code": "x", "message": "y"}, rev=1)
        # THEN only the first write holds, with every field as written
        assert store.save_job(first, expected_rev=0) is True
        assert store.save_job(second, expected_rev=0) is False
        assert store.get_job(job.id) == first
        done = replace(first, state="succeeded", done=1200, total=1200, cursor=None, rev=2, step=4)
        assert store.save_job(done, expected_rev=1) is True
        assert store.get_job(job.id) == done
        # ... an unknown job is job_not_found, and so is one past its week
        with pytest.raises(NotFoundError) as err:
            store.get_job(new_id("job"))
        assert err.value.code == "job_not_found"
        assert store.save_job(replace(job, id=new_id("job")), expected_rev=0) is False
        clock.advance(601)
        with pytest.raises(NotFoundError):
            store.get_job(job.id)
