"""The in-memory fake of ApplicationStore (see ``testkit.fakes``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chalicelib.aws.dynamodb import keys
from chalicelib.errors import ConflictError, NotFoundError
from chalicelib.models import (
    Application,
)
from chalicelib.ports import Page
from testkit.memory.base import MemoryTable


class MemoryApplications(MemoryTable):
    """ApplicationStore, in dicts, keyed and paged like the DynamoDB layout."""

    def __init__(self, clock: Any, **kwargs: Any) -> None:
        super().__init__(clock, **kwargs)
        self.applications: dict[str, Application] = {}
        self.uids: dict[str, str] = {}

    def _uid_free(self, uid: str, application_id: str) -> None:
        holder = self.uids.get(uid)
        if holder is not None and holder != application_id:
            raise ConflictError(f"the uid {uid!r} belongs to another application", code="uid_taken")

    def create_application(self, application: Application) -> None:
        self._maybe_fail()
        with self._lock:
            if application.uid is not None:
                self._uid_free(application.uid, application.id)
                self.uids[application.uid] = application.id
            self.applications[application.id] = application
            self.writes += 1

    def update_application(self, old: Application, new: Application) -> None:
        """As DynamoStore: name, uid, metadata and updated_at change; tokens_valid_after stays as stored."""
        self._maybe_fail()
        with self._lock:
            stored = self.applications.get(new.id)
            if stored is None:
                raise NotFoundError(f"no application {new.id!r}", code="application_not_found")
            if new.uid != old.uid:
                if new.uid is not None:
                    self._uid_free(new.uid, new.id)
                if old.uid is not None and self.uids.get(old.uid) == old.id:
                    del self.uids[old.uid]
                if new.uid is not None:
                    self.uids[new.uid] = new.id
            self.applications[new.id] = replace(
                stored,
                name=new.name,
                uid=new.uid,
                metadata=new.metadata,
                branding=new.branding,
                updated_at=new.updated_at,
            )
            self.writes += 1

    def get_application(self, application_id: str) -> Application:
        self._maybe_fail()
        try:
            return self.applications[application_id]
        except KeyError:
            raise NotFoundError(f"no application {application_id!r}", code="application_not_found") from None

    def application_id_for_uid(self, uid: str) -> str | None:
        self._maybe_fail()
        return self.uids.get(uid)

    def list_applications(self, *, limit: int, cursor: str | None) -> Page[Application]:
        self._maybe_fail()
        entries = [
            (f"{keys.time_key(a.created_at)}#{a.id}", f"APP#{a.id}", "META", a)
            for a in self.applications.values()
        ]
        return self._page(entries, limit, cursor, forward=True)

    def delete_application(self, application: Application) -> None:
        self._maybe_fail()
        with self._lock:
            self.applications.pop(application.id, None)
            if application.uid is not None and self.uids.get(application.uid) == application.id:
                del self.uids[application.uid]

    def revoke_tokens(self, application_id: str, before: float) -> None:
        self._maybe_fail()
        with self._lock:
            application = self.get_application(application_id)
            if before > application.tokens_valid_after:
                self.applications[application_id] = replace(application, tokens_valid_after=before)
                self.writes += 1
