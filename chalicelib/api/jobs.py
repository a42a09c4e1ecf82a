"""Background jobs (an application's deletion, an endpoint's recovery or replay): their progress."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Response

from chalicelib.api.resource import Resource, container, json_reply

if TYPE_CHECKING:
    from chalicelib.models import Job

routes = Resource(__name__)


def started(job: Job) -> Response:
    """A started background job: 202, its state, and where to follow it."""
    return json_reply(public_job(job), 202, {"Location": f"/v1/jobs/{job.id}"})


@routes.operation("/v1/jobs/{job_id}", ["GET"], access="read")  # its application's jobs only
def get_job(job_id: str) -> Response:
    """A background job's state and progress (``done`` of ``total``, null while unknown)."""
    return json_reply(public_job(container().jobs.get(job_id, routes.scope())))


def public_job(job: Job) -> dict[str, Any]:
    """What the API shows: ``GET /v1/jobs/{id}``."""
    return {
        "id": job.id,
        "kind": job.kind,
        "state": job.state,
        "done": job.done,
        "total": job.total,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "error": dict(job.error) if job.error else None,
    }
