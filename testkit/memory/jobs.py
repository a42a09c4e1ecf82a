"""The in-memory fake of JobStore (see ``testkit.fakes``)."""

from __future__ import annotations

from typing import Any

from chalicelib.errors import NotFoundError
from chalicelib.models import (
    Job,
)
from testkit.memory.base import MemoryTable


class MemoryJobs(MemoryTable):
    """JobStore, in dicts, keyed and paged like the DynamoDB layout."""

    def __init__(self, clock: Any, **kwargs: Any) -> None:
        super().__init__(clock, **kwargs)
        self.jobs: dict[str, Job] = {}

    def create_job(self, job: Job) -> None:
        self._maybe_fail()
        with self._lock:
            self.jobs[job.id] = job
            self.writes += 1

    def get_job(self, job_id: str) -> Job:
        self._maybe_fail()
        job = self.jobs.get(job_id)
        if job is None or job.expires_at <= self._clock():
            raise NotFoundError(f"no job {job_id!r}", code="job_not_found")
        return job

    def save_job(self, job: Job, *, expected_rev: int) -> bool:
        self._maybe_fail()
        with self._lock:
            stored = self.jobs.get(job.id)
            if stored is None or stored.rev != expected_rev:
                return False
            self.jobs[job.id] = job
            self.writes += 1
            return True
