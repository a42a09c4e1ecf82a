"""Sources and their rejections (``SRC#``): item layout and the DynamoDB adapter of ``SourceStore`` and
``RejectionStore``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.aws.dynamodb.core import Table
from chalicelib.aws.dynamodb.keys import (
    Item,
    KeyKind,
    int_of,
    n,
    opt_s,
    s,
)
from chalicelib.errors import NotFoundError
from chalicelib.inbound_models import (
    MtlsRule,
    Rejection,
    Secret,
    Source,
    Verification,
)
from chalicelib.paging import Page

if TYPE_CHECKING:
    pass


def source_key(source_id: str) -> Item:
    """The primary key of a source item."""
    return {"pk": s(f"SRC#{source_id}"), "sk": s("META")}


def source_to_item(source: Source) -> Item:
    """Encode a source."""
    v = source.verification
    item: Item = {
        **source_key(source.id),
        "gsi1pk": s("SOURCES"),
        "gsi1sk": s(f"{source.created_at:017.6f}#{source.id}"),
        "name": s(source.name),
        "description": s(source.description),
        "scheme": s(v.scheme),
        "secrets": s(json.dumps([[x.id, x.value, x.created_at, x.expires_at] for x in v.secrets])),
        "options": s(json.dumps(v.options)),
        "ip_allowlist": s(json.dumps(list(source.ip_allowlist))),
        "basic_auth": s(json.dumps(list(source.basic_auth))),
        "rejection_status": n(source.rejection_status),
        "replay_window": n(source.replay_window),
        "enabled": {"BOOL": source.enabled},
        "created_at": n(source.created_at),
        "updated_at": n(source.updated_at),
    }
    if v.tolerance is not None:
        item["tolerance"] = n(v.tolerance)
    if source.mtls is not None:
        item["mtls"] = s(
            json.dumps({"subjects": list(source.mtls.subjects), "issuers": list(source.mtls.issuers)})
        )
    if source.dedupe is not None:
        item["dedupe"] = s(source.dedupe)
    if source.max_body_bytes is not None:
        item["max_body_bytes"] = n(source.max_body_bytes)
    if source.application_id is not None:
        item["application_id"] = s(source.application_id)
    return item


def item_to_source(item: Item) -> Source:
    """Decode a source."""
    secrets = tuple(
        Secret(id=a, value=b, created_at=c, expires_at=d) for a, b, c, d in json.loads(item["secrets"]["S"])
    )
    mtls_raw = opt_s(item, "mtls")
    mtls = None
    if mtls_raw:
        m = json.loads(mtls_raw)
        mtls = MtlsRule(subjects=tuple(m["subjects"]), issuers=tuple(m["issuers"]))
    return Source(
        id=item["pk"]["S"].removeprefix("SRC#"),
        name=item["name"]["S"],
        description=item.get("description", {"S": ""})["S"],
        verification=Verification(
            scheme=item["scheme"]["S"],
            secrets=secrets,
            tolerance=int_of(item, "tolerance"),
            options=json.loads(item["options"]["S"]),
        ),
        created_at=float(item["created_at"]["N"]),
        updated_at=float(item["updated_at"]["N"]),
        ip_allowlist=tuple(json.loads(item["ip_allowlist"]["S"])),
        basic_auth=tuple(json.loads(item["basic_auth"]["S"])),
        mtls=mtls,
        rejection_status=int(item["rejection_status"]["N"]),
        dedupe=opt_s(item, "dedupe"),
        replay_window=int(item["replay_window"]["N"]),
        max_body_bytes=int_of(item, "max_body_bytes"),
        enabled=item["enabled"]["BOOL"],
        application_id=opt_s(item, "application_id"),
    )


def rejection_key(source_id: str, slot: int) -> Item:
    """The primary key of a source's rejection ring slot."""
    return {"pk": s(f"SRC#{source_id}"), "sk": s(f"REJ#{slot:04d}")}


def rejection_fields(rejection: Rejection, until: int) -> Item:
    """The attributes of a sampled rejection (its ring slot's key aside), shown until ``until``."""
    return {
        "at": n(rejection.at),
        "code": s(rejection.code),
        "message": s(rejection.message),
        "source_ip": s(rejection.source_ip or ""),
        "method": s(rejection.method),
        "content_type": s(rejection.content_type),
        "size": n(rejection.size),
        "user_agent": s(rejection.user_agent),
        "header_names": s(json.dumps(rejection.header_names)),
        "until": n(until),
    }


def rejection_shown_until(item: Item) -> float:
    """Until when a ring slot is shown (``ttl`` in slots written before the ring kept counters)."""
    return float((item.get("until") or item["ttl"])["N"])


def rejection_counts_of(item: Item) -> dict[str, int]:
    """The rejection counters an item holds (``rejected_{code}`` and ``rejected_total``)."""
    return {k.removeprefix("rejected_"): int(v["N"]) for k, v in item.items() if k.startswith("rejected_")}


def item_to_rejection(item: Item) -> Rejection:
    """Decode a rejection."""
    return Rejection(
        source_id=item["pk"]["S"].removeprefix("SRC#"),
        at=float(item["at"]["N"]),
        code=item["code"]["S"],
        message=item["message"]["S"],
        source_ip=item["source_ip"]["S"] or None,
        method=item["method"]["S"],
        content_type=item["content_type"]["S"],
        size=int(item["size"]["N"]),
        user_agent=item["user_agent"]["S"],
        header_names=tuple(json.loads(item["header_names"]["S"])) if "header_names" in item else (),
    )


KEYS = (
    KeyKind("source", "SRC#{id}", "META", gsi1="SOURCES / {created}#{id}"),
    KeyKind(
        "sampled recent rejections and their counters",
        "SRC#{id}",
        "REJ#{slot}",
        note="a ring of slots: a sample, shown until `until`, and the `rejected_{code}` counters its writes added; no TTL",
    ),
    KeyKind(
        "rejection counters kept before the ring held them",
        "SRC#{id}",
        "STATS",
        note="still added up on read",
    ),
)


class SourceTable(Table):
    """The sources of the table (see the module docstring)."""

    def put_source(self, source: Source) -> None:
        """Create or replace a source."""
        self._call("put_item", Item=source_to_item(source))

    def get_source(self, source_id: str) -> Source:
        """The source, or NotFoundError."""
        item = self._call("get_item", Key=source_key(source_id), ConsistentRead=True).get("Item")
        if not item:
            raise NotFoundError(f"no source {source_id!r}", code="source_not_found")
        return item_to_source(item)

    def list_sources(self, *, limit: int, cursor: str | None) -> Page[Source]:
        """Sources, oldest first."""
        return self._query_index("SOURCES", limit, cursor, item_to_source, forward=True)

    def delete_source(self, source_id: str) -> None:
        """Delete a source, or NotFoundError."""
        try:
            self._call("delete_item", Key=source_key(source_id), ConditionExpression="attribute_exists(pk)")
        except ClientError:
            raise NotFoundError(f"no source {source_id!r}", code="source_not_found") from None

    def record_rejections(
        self, sample: Rejection, counts: Mapping[str, int], *, slot: int, until: int
    ) -> None:
        """One UpdateItem on the ring slot: the sample replaces what it held, the counts are added to it."""
        wanted = {code: value for code, value in counts.items() if value > 0}
        fields = rejection_fields(sample, until)
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values: dict[str, Any] = {f":f{i}": value for i, value in enumerate(fields.values())}
        names.update({f"#c{i}": f"rejected_{code}" for i, code in enumerate(wanted)})
        values.update({f":c{i}": n(value) for i, value in enumerate(wanted.values())})
        names.update({"#total": "rejected_total", "#ttl": "ttl"})
        values[":total"] = n(sum(wanted.values()))
        added = ", ".join(["#total :total", *(f"#c{i} :c{i}" for i in range(len(wanted)))])
        self._call(
            "update_item",
            Key=rejection_key(sample.source_id, slot),
            # No TTL on a slot (an older one had it): its counters must outlive the sample it shows.
            UpdateExpression="SET "
            + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields)))
            + " REMOVE #ttl ADD "
            + added,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def list_rejections(self, source_id: str) -> list[Rejection]:
        """The recent rejections of a source, newest first (those past their display time skipped)."""
        now = self._clock()
        result = self._call(
            "query",
            KeyConditionExpression="pk = :p AND begins_with(sk, :r)",
            ExpressionAttributeValues={":p": s(f"SRC#{source_id}"), ":r": s("REJ#")},
        )
        items = [i for i in result.get("Items", []) if rejection_shown_until(i) > now]
        return sorted((item_to_rejection(i) for i in items), key=lambda r: r.at, reverse=True)

    def rejection_counts(self, source_id: str) -> dict[str, int]:
        """How many rejections per reason code a source has had: its ring slots' counters added up (and
        the ``STATS`` item's, where counts were kept before); one Query of the source's few items."""
        totals: dict[str, int] = {}
        start: Any = None
        while True:
            kwargs: dict[str, Any] = {
                "KeyConditionExpression": "pk = :p",
                "ExpressionAttributeValues": {":p": s(f"SRC#{source_id}")},
            }
            if start:
                kwargs["ExclusiveStartKey"] = start
            result = self._call("query", **kwargs)
            for item in result.get("Items", []):
                if item["sk"]["S"] == "STATS" or item["sk"]["S"].startswith("REJ#"):
                    for code, value in rejection_counts_of(item).items():
                        totals[code] = totals.get(code, 0) + value
            start = result.get("LastEvaluatedKey")
            if not start:
                return totals
