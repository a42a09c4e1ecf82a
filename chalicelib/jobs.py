"""Background jobs: bulk operations that run outside the request, in bounded steps, with progress.

Deleting an application (its endpoints), recovering an endpoint's failed and skipped deliveries and replaying a
time range to an endpoint can touch any number of items: far more than one API request (29 s) can do. The
request only checks what it is asked, stores a ``Job`` (``JOB#{id}``) and queues its first *step task* on the
ingest queue; it answers ``202`` with the job, which ``GET /v1/jobs/{id}`` shows as it advances::

    API: create job (queued) --> ingest queue: {"job": id, "step": 1}
    router function: step n --> at most ``step_items`` items from the job's cursor --> commit (done += k,
                                cursor, step n+1) --> queue {"job": id, "step": n+1} ... until no cursor is left

The ingest queue's consumer hands step tasks here (``JobRunner.around``) and everything else to the router, so
no new queue or function is needed; a step is a few seconds of work, well inside the router's timeout.

Exactly-once progress over an at-least-once queue: every write of a job is conditional on the revision it read
(``Store.save_job``). A step first marks itself started (``tries`` + 1), does its items (each idempotent:
deleting a deleted endpoint, queueing an attempt the claim deduplicates), then commits ``step`` + 1 with its
count. A copy of a step that was already committed finds ``job.step`` past it and only makes sure the next
step's task was queued (``sent``); a step that crashed before its commit runs again from the same cursor and
counts once. A step that keeps failing (``MAX_STEP_TRIES`` receives) fails the job, before the queue's
dead-letter queue takes its task. A refusal of the work itself (the endpoint was deleted meanwhile: a 4xx
error) fails the job with that error; an outage (``StorageError``) leaves the step to SQS to retry.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from chalicelib.errors import HookwayError, NotFoundError, StorageError
from chalicelib.ids import new_id
from chalicelib.models import Job, JobPlan
from chalicelib.ports import JobStore, Queue
from chalicelib.scope import Scope

log = logging.getLogger("hookway.jobs")

STEP_ITEMS = 500  # items one step handles at most: ~500 DeleteItems or attempt reads, a few seconds
MAX_STEP_TRIES = 4  # receives of one step before the job fails (the ingest queue's fifth goes to its DLQ)
JOB_TTL_SECONDS = 7 * 86400
_TASK_PREFIX = '{"job":'
_ID = re.compile(r"job_[0-9a-f]{32}")


@dataclass(frozen=True)
class StepResult:
    """What one step did: how many items, and where the next starts (None: the job is done)."""

    done: int
    cursor: str | None
    total: int | None = None  # the whole job's item count, when a step learns it
    wait: float = 0.0  # seconds before the next step runs (a paced job: at most one SQS delay)


class StepHandler(Protocol):
    """One kind of job's step: at most ``limit`` items from ``cursor``; idempotent if run again."""

    def __call__(self, params: Mapping[str, Any], cursor: str | None, limit: int) -> StepResult:
        """Do the items and say where to go on."""


def step_task(job_id: str, step: int) -> str:
    """The queue's text of one step (never taken for an ingest envelope: see ``is_step_task``)."""
    return json.dumps({"job": job_id, "step": step}, separators=(",", ":"))


def is_step_task(body: str) -> bool:
    """Whether an ingest-queue body is a job step (an envelope never starts with this key)."""
    return body.startswith(_TASK_PREFIX)


class Jobs:
    """The API's side: start a job (store it, queue its first step) and read one, scoped to its caller."""

    def __init__(self, *, store: JobStore, queue: Queue, clock: Callable[[], float]) -> None:
        self._store = store
        self._queue = queue
        self._clock = clock

    def start(self, plan: JobPlan) -> Job:
        """Store a queued job and queue its first step; StorageError (503) if that cannot be queued."""
        now = self._clock()
        job = Job(
            id=new_id("job"),
            kind=plan.kind,
            created_at=now,
            updated_at=now,
            params=dict(plan.params),
            application_id=plan.application_id,
            sent=1,
            expires_at=now + JOB_TTL_SECONDS,
        )
        self._store.create_job(job)
        try:
            self._queue.send(step_task(job.id, 1))
        except StorageError:
            error = {"code": "storage_unavailable", "message": "the job could not be queued"}
            failed = replace(job, state="failed", error=error, rev=1, updated_at=self._clock())
            try:
                self._store.save_job(failed, expected_rev=0)
            except StorageError:
                log.warning("job left queued", extra={"job_id": job.id})
            raise
        log.info("job started", extra={"job_id": job.id, "kind": job.kind})
        return job

    def get(self, job_id: str, scope: Scope) -> Job:
        """One job the caller may see; another application's answers as if it did not exist."""
        if not isinstance(job_id, str) or not _ID.fullmatch(job_id):
            raise NotFoundError(f"no job {job_id!r}", code="job_not_found")
        job = self._store.get_job(job_id)
        if not scope.sees(job.application_id):
            raise NotFoundError(f"no job {job_id!r}", code="job_not_found")
        return job


class JobRunner:
    """The worker's side: runs one step of a job per step task (see the module docstring)."""

    def __init__(
        self,
        *,
        store: JobStore,
        queue: Queue,
        clock: Callable[[], float],
        handlers: Mapping[str, StepHandler],
        step_items: int = STEP_ITEMS,
    ) -> None:
        self._store = store
        self._queue = queue
        self._clock = clock
        self._handlers = handlers
        self._step_items = step_items

    def around(
        self, handle_many: Callable[[Sequence[str]], list[BaseException | None]]
    ) -> Callable[[list[str]], list[BaseException | None]]:
        """A batch handler that runs the step tasks of a batch here and hands the rest to ``handle_many``."""

        def handle(bodies: list[str]) -> list[BaseException | None]:
            errors: list[BaseException | None] = [None] * len(bodies)
            others = [(i, body) for i, body in enumerate(bodies) if not is_step_task(body)]
            for i, body in enumerate(bodies):
                if is_step_task(body):
                    try:
                        self.run(body)
                    except Exception as exc:
                        errors[i] = exc
            if others:
                results = handle_many([body for _, body in others])
                for (i, _), error in zip(others, results, strict=True):
                    errors[i] = error
            return errors

        return handle

    def run(self, body: str) -> str:
        """Run one step task; returns what happened. Raises only to have the queue retry it."""
        try:
            doc = json.loads(body)
            job_id, number = str(doc["job"]), int(doc["step"])
        except (KeyError, TypeError, ValueError):
            log.warning("unreadable job step dropped")
            return "unreadable"
        try:
            job = self._store.get_job(job_id)
        except NotFoundError:
            return "gone"
        if job.ended:
            return "ended"
        if number < job.step:
            self._ensure_sent(job)  # a copy of a committed step: the next one's task is all it owes
            return "duplicate"
        if number > job.step:
            return "early"
        if job.tries >= MAX_STEP_TRIES:
            self._fail(job, "step_failed", f"step {number} failed {job.tries} times")
            return "failed"
        handler = self._handlers.get(job.kind)
        if handler is None:
            self._fail(job, "unknown_kind", f"no handler for {job.kind}")
            return "failed"
        started = self._save(job, state="running", tries=job.tries + 1)
        if started is None:
            return "busy"  # another copy of this step got there first
        try:
            result = handler(job.params, job.cursor, self._step_items)
        except HookwayError as exc:
            if exc.status >= 500:
                raise  # an outage: SQS gives the step back
            self._fail(started, exc.code, exc.message)
            return "failed"
        done = started.done + result.done
        finished = result.cursor is None
        committed = self._save(
            started,
            step=number + 1,
            done=done,
            cursor=result.cursor,
            tries=0,
            state="succeeded" if finished else "running",
            total=done if finished else (result.total if result.total is not None else started.total),
        )
        if committed is None:
            return "lost"  # a copy started after us and owns the step now
        log.info(
            "job step",
            extra={"job_id": job.id, "kind": job.kind, "step": number, "items": result.done, "done": done},
        )
        if finished:
            return "succeeded"
        self._ensure_sent(committed, result.wait)
        return "stepped"

    def _ensure_sent(self, job: Job, wait: float = 0.0) -> None:
        """Queue the task of the job's next step unless it is known to be queued (``wait``: its delay; a
        copy of a committed step sends it without one, which only runs it early)."""
        if job.ended or job.sent >= job.step:
            return
        self._queue.send(step_task(job.id, job.step), delay_seconds=math.ceil(min(max(wait, 0.0), 900)))
        self._save(job, sent=job.step)  # if this is lost, a copy may queue it again: it then finds it done

    def _fail(self, job: Job, code: str, message: str) -> None:
        log.warning("job failed", extra={"job_id": job.id, "kind": job.kind, "reason": code})
        self._save(job, state="failed", error={"code": code, "message": message})

    def _save(self, job: Job, **changes: Any) -> Job | None:
        """The job with ``changes`` and its next revision, if no other write came between; else None."""
        new = replace(job, **changes, rev=job.rev + 1, updated_at=self._clock())
        return new if self._store.save_job(new, expected_rev=job.rev) else None
