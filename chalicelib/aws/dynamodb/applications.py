"""Applications and their uids (``APP#``, ``APPUID#``): item layout and the DynamoDB adapter of
``ApplicationStore``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.aws.dynamodb.core import Table
from chalicelib.aws.dynamodb.keys import (
    Item,
    KeyKind,
    n,
    num,
    opt_s,
    s,
    time_key,
)
from chalicelib.branding import Branding
from chalicelib.errors import ConflictError, NotFoundError
from chalicelib.models import (
    Application,
)
from chalicelib.ports import Page

if TYPE_CHECKING:
    pass


def application_key(application_id: str) -> Item:
    """The primary key of an application item."""
    return {"pk": s(f"APP#{application_id}"), "sk": s("META")}


def uid_key(uid: str) -> Item:
    """The primary key of the item that claims an application's uid."""
    return {"pk": s(f"APPUID#{uid}"), "sk": s("META")}


def uid_to_item(uid: str, application_id: str) -> Item:
    """Encode the claim of a uid by an application."""
    return {**uid_key(uid), "application_id": s(application_id)}


def application_to_item(application: Application) -> Item:
    """Encode an application."""
    item: Item = {
        **application_key(application.id),
        "gsi1pk": s("APPS"),
        "gsi1sk": s(f"{time_key(application.created_at)}#{application.id}"),
        "name": s(application.name),
        "metadata": s(json.dumps(application.metadata)),
        "created_at": n(application.created_at),
        "updated_at": n(application.updated_at),
        "tokens_valid_after": n(application.tokens_valid_after),
    }
    if application.uid is not None:
        item["uid"] = s(application.uid)
    if not application.branding.empty:
        item["branding"] = s(branding_json(application.branding))
    return item


def branding_json(branding: Branding) -> str:
    """An application's branding as stored: the fields it sets, as JSON."""
    fields = {"name": branding.name, "logo_url": branding.logo_url, "accent": branding.accent}
    return json.dumps({k: v for k, v in fields.items() if v is not None})


def _branding(raw: str | None) -> Branding:
    doc = json.loads(raw) if raw else {}
    return Branding(name=doc.get("name"), logo_url=doc.get("logo_url"), accent=doc.get("accent"))


def item_to_application(item: Item) -> Application:
    """Decode an application."""
    return Application(
        id=item["pk"]["S"].removeprefix("APP#"),
        name=item["name"]["S"],
        created_at=float(item["created_at"]["N"]),
        updated_at=float(item["updated_at"]["N"]),
        uid=opt_s(item, "uid"),
        metadata=json.loads(item["metadata"]["S"]),
        tokens_valid_after=num(item, "tokens_valid_after", 0.0) or 0.0,
        branding=_branding(opt_s(item, "branding")),
    )


def _uid_taken(uid: str) -> ConflictError:
    return ConflictError(f"the uid {uid!r} belongs to another application", code="uid_taken")


def _application_not_found(application_id: str) -> NotFoundError:
    return NotFoundError(f"no application {application_id!r}", code="application_not_found")


KEYS = (
    KeyKind(
        "application",
        "APP#{id}",
        "META",
        gsi1="APPS / {created}#{id}",
        note="with its portal `branding` as JSON, when set",
    ),
    KeyKind("uid claim", "APPUID#{uid}", "META", note="written in one transaction with its application"),
)


class ApplicationTable(Table):
    """The applications of the table (see the module docstring)."""

    @staticmethod
    def _claim_uid(uid: str, application_id: str) -> dict[str, Any]:
        """A transaction item: claim a uid for an application, unless another one holds it."""
        return {
            "Put": {
                "Item": uid_to_item(uid, application_id),
                "ConditionExpression": "attribute_not_exists(pk) OR application_id = :a",
                "ExpressionAttributeValues": {":a": s(application_id)},
            }
        }

    @staticmethod
    def _release_uid(uid: str, application_id: str) -> dict[str, Any]:
        """A transaction item: drop an application's claim of a uid (never another application's)."""
        return {
            "Delete": {
                "Key": uid_key(uid),
                "ConditionExpression": "attribute_not_exists(pk) OR application_id = :a",
                "ExpressionAttributeValues": {":a": s(application_id)},
            }
        }

    def create_application(self, application: Application) -> None:
        """Store a new application and claim its uid, in one transaction."""
        if application.uid is None:
            self._call("put_item", Item=application_to_item(application))
            return
        codes = self._transact(
            [
                {"Put": {"Item": application_to_item(application)}},
                self._claim_uid(application.uid, application.id),
            ]
        )
        if codes:
            raise _uid_taken(application.uid)

    def update_application(self, old: Application, new: Application) -> None:
        """Update name, uid, metadata, branding and updated_at, moving the uid claim in the same transaction.

        ``tokens_valid_after`` is left as stored: only ``revoke_tokens`` moves it, so an update racing a
        revocation cannot undo it. A deleted application is not brought back (NotFoundError).
        """
        names = {"#n": "name", "#m": "metadata", "#u": "updated_at", "#uid": "uid", "#b": "branding"}
        values: dict[str, Any] = {
            ":n": s(new.name),
            ":m": s(application_to_item(new)["metadata"]["S"]),
            ":u": n(new.updated_at),
        }
        sets = ["#n = :n", "#m = :m", "#u = :u"]
        removes: list[str] = []
        if new.uid is not None:
            values[":uid"] = s(new.uid)
            sets.append("#uid = :uid")
        else:
            removes.append("#uid")
        if new.branding.empty:
            removes.append("#b")
        else:
            values[":b"] = s(branding_json(new.branding))
            sets.append("#b = :b")
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        update: dict[str, Any] = {
            "Update": {
                "Key": application_key(new.id),
                "UpdateExpression": expression,
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }
        items = [update]
        if new.uid != old.uid:
            if new.uid is not None:
                items.append(self._claim_uid(new.uid, new.id))
            if old.uid is not None:
                items.append(self._release_uid(old.uid, old.id))
        codes = self._transact(items)
        if not codes:
            return
        if codes[0] == "ConditionalCheckFailed":
            raise _application_not_found(new.id)
        if new.uid is not None and len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
            raise _uid_taken(new.uid)
        raise ConflictError("the application changed meanwhile; try again", code="conflict")

    def get_application(self, application_id: str) -> Application:
        """The application, or NotFoundError ``application_not_found``."""
        item = self._call("get_item", Key=application_key(application_id), ConsistentRead=True).get("Item")
        if not item:
            raise _application_not_found(application_id)
        return item_to_application(item)

    def application_id_for_uid(self, uid: str) -> str | None:
        """The id of the application with this uid, or None."""
        item = self._call("get_item", Key=uid_key(uid), ConsistentRead=True).get("Item")
        return str(item["application_id"]["S"]) if item else None

    def list_applications(self, *, limit: int, cursor: str | None) -> Page[Application]:
        """Applications, oldest first."""
        return self._query_index("APPS", limit, cursor, item_to_application, forward=True)

    def delete_application(self, application: Application) -> None:
        """Delete an application and its uid claim in one transaction (a missing one is no error)."""
        delete = {"Delete": {"Key": application_key(application.id)}}
        if application.uid is None:
            self._call("delete_item", Key=application_key(application.id))
        elif self._transact([delete, self._release_uid(application.uid, application.id)]):
            # The uid has moved to another application since: delete only this one.
            self._call("delete_item", Key=application_key(application.id))

    def revoke_tokens(self, application_id: str, before: float) -> None:
        """Move ``tokens_valid_after`` forward (never back); NotFoundError for a missing application."""
        try:
            self._call(
                "update_item",
                Key=application_key(application_id),
                UpdateExpression="SET tokens_valid_after = :t",
                ConditionExpression="attribute_exists(pk) AND "
                "(attribute_not_exists(tokens_valid_after) OR tokens_valid_after < :t)",
                ExpressionAttributeValues={":t": n(before)},
            )
        except ClientError:
            self.get_application(application_id)  # NotFoundError, or it is already revoked past ``before``
