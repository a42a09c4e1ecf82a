"""Background jobs on fakes: bounded steps, progress, at-least-once steps that count once, tenancy, failures."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.api.applications import parse_create as parse_create_application
from chalicelib.api.endpoints import parse_create as parse_create_endpoint
from chalicelib.api.endpoints import parse_recover
from chalicelib.api.endpoints import parse_update as parse_update_endpoint
from chalicelib.api.jobs import public_job
from chalicelib.api.messages import parse_publish
from chalicelib.errors import NotFoundError, StorageError
from chalicelib.ids import new_id
from chalicelib.jobs import MAX_STEP_TRIES, STEP_ITEMS, is_step_task, step_task
from chalicelib.models import Job, JobPlan
from chalicelib.scope import OPERATOR, Scope
from tests.conftest import Services
from tests.unit.test_delivery import Receiver, World


@pytest.fixture
def world(services: Services) -> World:
    return World(services, Receiver())


def _steps(world: World) -> list[str]:
    """The job step tasks waiting on the ingest queue (taken off it)."""
    steps = [body for body in world.s.queue.sent if is_step_task(body)]
    world.s.queue.sent[:] = [body for body in world.s.queue.sent if not is_step_task(body)]
    return steps


def _run_job(world: World, job_id: str) -> list[tuple[int, Job]]:
    """Run a job's steps one by one as the queue hands them out; (items, job) after each step."""
    progress = []
    for _ in range(100):
        steps = _steps(world)
        if not steps:
            return progress
        assert len(steps) == 1  # one step at a time: each queues the next
        before = world.s.store.get_job(job_id).done
        world.worker.job_runner.run(steps[0])
        job = world.s.store.get_job(job_id)
        progress.append((job.done - before, job))
    raise AssertionError("the job did not end")


def _application_with_endpoints(world: World, count: int) -> str:
    app = world.api.applications.create(parse_create_application({"name": "Big"}), OPERATOR).id
    template, _, _ = world.endpoints.create(
        parse_create_endpoint({"url": "https://hooks.example.com/in", "application": app}), OPERATOR
    )
    for i in range(count - 1):
        endpoint = template.with_changes(id=new_id("ep"), created_at=template.created_at + i + 1)
        world.s.store.put_endpoint(endpoint)
    return app


def test_deleting_an_application_of_2500_endpoints_runs_in_bounded_steps_with_progress(world: World) -> None:
    # GIVEN an application with 2,500 endpoints
    app = _application_with_endpoints(world, 2500)
    # WHEN it is deleted
    job = world.api.applications.delete(app, OPERATOR)
    # THEN the answer is a queued job, the application is gone at once and its endpoints are still there
    assert public_job(job) == {
        "id": job.id,
        "kind": "application.delete",
        "state": "queued",
        "done": 0,
        "total": None,
        "created_at": world.clock.now,
        "updated_at": world.clock.now,
        "error": None,
    }
    with pytest.raises(NotFoundError):
        world.api.applications.get(app, OPERATOR)
    assert len(world.s.store.endpoints_of(app)) == 2500
    # AND the job deletes them in five bounded steps whose progress only goes up
    progress = _run_job(world, job.id)
    assert [items for items, _ in progress] == [STEP_ITEMS] * 5
    assert [j.done for _, j in progress] == [500, 1000, 1500, 2000, 2500]
    assert [j.state for _, j in progress] == ["running"] * 4 + ["succeeded"]
    assert [j.total for _, j in progress] == [None] * 4 + [2500]
    assert world.s.store.endpoints_of(app) == []


def test_a_step_the_queue_hands_out_twice_counts_once(world: World) -> None:
    # GIVEN a deletion job of 1,200 endpoints whose first step ran
    app = _application_with_endpoints(world, 1200)
    job = world.api.applications.delete(app, OPERATOR)
    [first] = _steps(world)
    runner = world.worker.job_runner
    assert runner.run(first) == "stepped"
    [second] = _steps(world)
    # WHEN SQS delivers the first step again
    assert runner.run(first) == "duplicate"
    # THEN nothing is counted twice and no second copy of the next step is queued
    assert world.s.store.get_job(job.id).done == 500
    assert _steps(world) == []
    assert runner.run(second) == "stepped"
    assert runner.run(second) == "duplicate"
    assert [items for items, _ in _run_job(world, job.id)] == [200]
    done = world.s.store.get_job(job.id)
    assert (done.state, done.done, done.total) == ("succeeded", 1200, 1200)


def _skipped_deliveries(world: World, count: int) -> tuple[str, list[str], float]:
    """An endpoint disabled while ``count`` deliveries to it were queued (all end skipped), enabled again."""
    endpoint, _ = world.endpoint()
    start = world.clock.now
    ids = [
        world.publisher.publish(parse_publish({"event_type": "order.paid", "payload": {"n": i}}), OPERATOR)
        for i in range(count)
    ]
    world.route_all()
    world.s.store.disable_endpoint(endpoint.id, "operator", world.clock.now)
    assert world.run(max_steps=count + 10) == ["skipped"] * count
    world.endpoints.update(endpoint.id, parse_update_endpoint({"enabled": True}), OPERATOR)
    return endpoint.id, ids, start


def test_a_recovery_is_a_job_whose_deliveries_arrive_once(world: World) -> None:
    # GIVEN 600 deliveries skipped while the endpoint was disabled
    endpoint_id, ids, start = _skipped_deliveries(world, 600)
    # WHEN recovery is asked for: a job, whose first step's commit is lost once (the worker died after
    # queueing its deliveries), so SQS hands that step out again
    c = world.api
    job = c.jobs.start(c.recovery.plan_recover(endpoint_id, parse_recover({"since": start}), OPERATOR))
    store = world.s.store
    real_save = store.save_job
    saves: list[Job] = []

    def flaky_save(job: Job, *, expected_rev: int) -> bool:
        saves.append(job)
        if len(saves) == 2:  # the first step's commit (after its start)
            raise StorageError("DynamoDB put_item failed: ProvisionedThroughputExceededException")
        return real_save(job, expected_rev=expected_rev)

    store.save_job = flaky_save  # type: ignore[method-assign]
    [first] = _steps(world)
    with pytest.raises(StorageError):
        world.worker.job_runner.run(first)
    store.save_job = real_save  # type: ignore[method-assign]
    world.s.queue.sent.append(first)  # back after its visibility timeout
    progress = _run_job(world, job.id)
    # THEN it took two steps, counted each delivery once, and every delivery arrived once
    assert [items for items, _ in progress] == [500, 100]
    final = store.get_job(job.id)
    assert (final.state, final.done, final.total) == ("succeeded", 600, 600)
    outcomes = world.run(max_steps=2000)
    assert outcomes.count("succeeded") == 600
    sent = [r.headers["webhook-id"] for r in world.receiver.requests]
    assert sorted(sent) == sorted(ids)


def test_a_recovery_whose_endpoint_is_deleted_meanwhile_fails_with_the_reason(world: World) -> None:
    endpoint_id, _, start = _skipped_deliveries(world, 3)
    c = world.api
    job = c.jobs.start(c.recovery.plan_recover(endpoint_id, parse_recover({"since": start}), OPERATOR))
    world.endpoints.delete(endpoint_id, OPERATOR)
    [(_, ended)] = _run_job(world, job.id)
    assert ended.state == "failed"
    assert ended.error == {"code": "endpoint_not_found", "message": f"no endpoint {endpoint_id!r}"}


def test_a_step_that_keeps_failing_fails_the_job_before_the_dead_letter_queue_takes_it(world: World) -> None:
    # GIVEN a job whose handler raises an unexpected error every time
    c = world.api
    job = c.jobs.start(JobPlan("endpoint.replay", {"endpoint_id": "ep_gone"}, None))
    [step] = _steps(world)
    runner = world.worker.job_runner

    def broken(params: Any, cursor: str | None, limit: int) -> Any:
        raise RuntimeError("bug")

    runner._handlers = {"endpoint.replay": broken}  # type: ignore[assignment]
    # WHEN SQS hands the step out again and again
    for _ in range(MAX_STEP_TRIES):
        with pytest.raises(RuntimeError):
            runner.run(step)
    # THEN the next receive fails the job visibly instead of leaving it running forever
    assert runner.run(step) == "failed"
    failed = world.s.store.get_job(job.id)
    assert failed.state == "failed" and failed.error is not None
    assert failed.error["code"] == "step_failed"


def test_a_job_that_cannot_be_queued_is_a_503_and_shows_failed(world: World) -> None:
    world.s.queue.fail_with = StorageError("SQS SendMessage failed")
    with pytest.raises(StorageError):
        world.api.jobs.start(JobPlan("application.delete", {"application_id": "app_x"}, None))
    [job] = world.s.store.jobs.values()
    assert job.state == "failed" and job.error == {
        "code": "storage_unavailable",
        "message": "the job could not be queued",
    }


def test_a_token_sees_only_its_own_applications_jobs(world: World) -> None:
    c = world.api
    a = c.applications.create(parse_create_application({"name": "A"}), OPERATOR).id
    b = c.applications.create(parse_create_application({"name": "B"}), OPERATOR).id
    mine = c.jobs.start(JobPlan("endpoint.recover", {}, a))
    theirs = c.jobs.start(JobPlan("endpoint.recover", {}, b))
    operators = c.jobs.start(JobPlan("endpoint.recover", {}, None))
    token = Scope(application_id=a)
    assert c.jobs.get(mine.id, token).id == mine.id
    for other in (theirs.id, operators.id, "job_nope", "../x"):
        with pytest.raises(NotFoundError) as err:
            c.jobs.get(other, token)
        assert err.value.code == "job_not_found"
    assert {c.jobs.get(j.id, OPERATOR).id for j in (mine, theirs, operators)} == {
        mine.id,
        theirs.id,
        operators.id,
    }


def test_a_job_is_forgotten_after_a_week(world: World) -> None:
    job = world.api.jobs.start(JobPlan("endpoint.recover", {}, None))
    world.clock.advance(7 * 86400)
    with pytest.raises(NotFoundError):
        world.api.jobs.get(job.id, OPERATOR)


def test_the_ingest_consumer_runs_job_steps_and_routes_the_rest_of_a_batch(world: World) -> None:
    # GIVEN a batch holding a published message's envelope, a job step and an unreadable step
    c = world.api
    c.publisher.publish(parse_publish({"event_type": "order.paid", "payload": {}}), OPERATOR)
    job = c.jobs.start(JobPlan("application.delete", {"application_id": "app_none"}, None))
    envelope, step = world.s.queue.sent
    routed: list[list[str]] = []

    def route_many(bodies: Any) -> list[BaseException | None]:
        routed.append(list(bodies))
        return [None] * len(bodies)

    handle = world.worker.job_runner.around(route_many)
    # WHEN the consumer handles it
    errors = handle([step, envelope, '{"job": 1}'])
    # THEN the router got only the envelope, and the job ran
    assert errors == [None, None, None]
    assert routed == [[envelope]]
    assert world.s.store.get_job(job.id).state == "succeeded"
    assert json.loads(step) == {"job": job.id, "step": 1} and step == step_task(job.id, 1)
