"""Background jobs (``JOB#``, ``chalicelib.jobs``): item layout and the DynamoDB adapter of ``JobStore``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from chalicelib.aws.dynamodb.core import Table
from chalicelib.aws.dynamodb.keys import (
    Item,
    KeyKind,
    n,
    opt_s,
    s,
)
from chalicelib.errors import NotFoundError
from chalicelib.models import (
    Job,
    job_kind,
    job_state,
)

if TYPE_CHECKING:
    pass


def job_key(job_id: str) -> Item:
    """The primary key of a job."""
    return {"pk": s(f"JOB#{job_id}"), "sk": s("META")}


def job_to_item(job: Job) -> Item:
    """Encode a job."""
    item: Item = {
        **job_key(job.id),
        "kind": s(job.kind),
        "state": s(job.state),
        "params": s(json.dumps(job.params, separators=(",", ":"))),
        "done": n(job.done),
        "step": n(job.step),
        "sent": n(job.sent),
        "tries": n(job.tries),
        "rev": n(job.rev),
        "created_at": n(job.created_at),
        "updated_at": n(job.updated_at),
        "expires_at": n(job.expires_at),
        "ttl": n(int(job.expires_at)),
    }
    if job.application_id is not None:
        item["application_id"] = s(job.application_id)
    if job.total is not None:
        item["total"] = n(job.total)
    if job.error is not None:
        item["error"] = s(json.dumps(job.error, separators=(",", ":")))
    if job.cursor is not None:
        item["cursor"] = s(job.cursor)
    return item


def item_to_job(item: Item) -> Job:
    """Decode a job."""
    error = opt_s(item, "error")
    return Job(
        id=item["pk"]["S"].removeprefix("JOB#"),
        kind=job_kind(item["kind"]["S"]),
        state=job_state(item["state"]["S"]),
        params=json.loads(item["params"]["S"]),
        application_id=opt_s(item, "application_id"),
        done=int(item["done"]["N"]),
        total=int(item["total"]["N"]) if "total" in item else None,
        error=json.loads(error) if error is not None else None,
        step=int(item["step"]["N"]),
        sent=int(item["sent"]["N"]),
        tries=int(item["tries"]["N"]),
        cursor=opt_s(item, "cursor"),
        rev=int(item["rev"]["N"]),
        created_at=float(item["created_at"]["N"]),
        updated_at=float(item["updated_at"]["N"]),
        expires_at=float(item["expires_at"]["N"]),
    )


KEYS = (
    KeyKind(
        "background job",
        "JOB#{id}",
        "META",
        note="kind, state, done, total, cursor, `rev`; TTL a week; read by id only, a few writes per step of up to 500 items",
    ),
)


class JobTable(Table):
    """The jobs of the table (see the module docstring)."""

    def create_job(self, job: Job) -> None:
        """Store a new job (its id is new: no condition)."""
        self._call("put_item", Item=job_to_item(job))

    def get_job(self, job_id: str) -> Job:
        """The job (read consistently: a step reads what the last one committed), or NotFoundError."""
        item = self._call("get_item", Key=job_key(job_id), ConsistentRead=True).get("Item")
        if not item or float(item["expires_at"]["N"]) <= self._clock():
            raise NotFoundError(f"no job {job_id!r}", code="job_not_found")
        return item_to_job(item)

    def save_job(self, job: Job, *, expected_rev: int) -> bool:
        """Replace a job if its stored revision is still ``expected_rev``; False if another write won."""
        try:
            self._call(
                "put_item",
                Item=job_to_item(job),
                ConditionExpression="attribute_exists(pk) AND rev = :rev",
                ExpressionAttributeValues={":rev": n(expected_rev)},
            )
        except ClientError:
            return False
        return True
