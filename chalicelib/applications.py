"""Applications (tenants): create, read, change, delete; their portal access.

An application is one of the platform's customers. ``uid`` is the customer's own id, unique in the
deployment and usable wherever the application's id is; ``branding`` (name, logo, accent) dresses its
portal, over the deployment's defaults. Deleting an application deletes it at once (its portal tokens end
with it) and its endpoints in a background job (``chalicelib.jobs``; deliveries still queued for them end
``skipped``, visibly); its messages stay readable by the operator until their retention ends.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from chalicelib.branding import Branding
from chalicelib.commands import UNSET, CreateApplication, UpdateApplication
from chalicelib.errors import ConfigError, ForbiddenError, NotFoundError
from chalicelib.ids import new_id
from chalicelib.models import Application, Job, JobPlan
from chalicelib.ports import ApplicationStore, JobStarter, Page, PageRequest
from chalicelib.scope import Scope

if TYPE_CHECKING:
    from chalicelib.caches import ApplicationCache

_ID = re.compile(r"app_[0-9a-f]{32}")
# An application's own id for it (checked on create and update in chalicelib.api.applications).
_UID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199}")
ID = _ID
UID = _UID


class ApplicationService:
    """The operator manages applications; an application token may read its own."""

    def __init__(
        self,
        store: ApplicationStore,
        clock: Callable[[], float],
        *,
        jobs: JobStarter | None = None,
        default_branding: Branding | None = None,
        cache: ApplicationCache | None = None,
    ) -> None:
        self._cache = cache
        self._store = store
        self._clock = clock
        self._default_branding = default_branding or Branding()
        self._jobs = jobs

    def _changed(self) -> None:
        if self._cache is not None:
            self._cache.invalidate()

    def _find(self, ref: str) -> Application:
        if not isinstance(ref, str) or not ref:
            raise NotFoundError(f"no application {ref!r}", code="application_not_found")
        if _ID.fullmatch(ref):
            return self._store.get_application(ref)
        found = self._store.application_id_for_uid(ref) if _UID.fullmatch(ref) else None
        if found is None:
            raise NotFoundError(f"no application {ref!r}", code="application_not_found")
        return self._store.get_application(found)

    def resolve(self, ref: str, scope: Scope) -> str:
        """The id of the application named by id or uid; a token may name only its own (else 403)."""
        return self.get(ref, scope).id

    def resolve_cached(self, ref: str, scope: Scope) -> str:
        """As ``resolve``, from a short-lived cache (like sources): a publish makes no consistent read.

        A change made in this process is seen at once; one made elsewhere within the cache's TTL.
        """
        cache = self._cache
        if cache is None or not isinstance(ref, str) or not ref:
            return self.resolve(ref, scope)
        if not scope.is_operator:
            own = cache.get(str(scope.application_id))
            if ref not in (own.id, own.uid):
                raise ForbiddenError("a token reaches its own application only")
            return own.id
        if _ID.fullmatch(ref):
            return cache.get(ref).id
        found = cache.id_for_uid(ref) if _UID.fullmatch(ref) else None
        if found is None:
            raise NotFoundError(f"no application {ref!r}", code="application_not_found")
        return cache.get(found).id

    def get(self, ref: str, scope: Scope) -> Application:
        """One application by id or uid. A token sees its own; any other reference is 403, found or not."""
        if scope.is_operator:
            return self._find(ref)
        own = self._store.get_application(str(scope.application_id))
        if ref not in (own.id, own.uid):
            raise ForbiddenError("a token reaches its own application only")
        return own

    def create(self, command: CreateApplication, scope: Scope) -> Application:
        """Store a new application; 409 ``uid_taken`` if the uid is another's."""
        now = self._clock()
        application = Application(
            id=new_id("app"),
            name=command.name,
            uid=command.uid,
            metadata=dict(command.metadata or {}),
            branding=command.branding or Branding(),
            created_at=now,
            updated_at=now,
        )
        self._store.create_application(application)
        self._changed()
        return application

    def list(self, scope: Scope, page: PageRequest) -> Page[Application]:
        """A page of applications, oldest first."""
        return self._store.list_applications(limit=page.limit, cursor=page.cursor)

    def update(self, ref: str, command: UpdateApplication, scope: Scope) -> Application:
        """Change name, uid, metadata or branding."""
        current = self._find(ref)
        given: dict[str, Any] = {
            "name": command.name,
            "uid": command.uid,
            "metadata": command.metadata,
            "branding": command.branding,
        }
        changes = {name: value for name, value in given.items() if value is not UNSET}
        updated = replace(current, **changes, updated_at=self._clock())
        self._store.update_application(current, updated)
        self._changed()
        return updated

    def branding(self, scope: Scope) -> Branding:
        """The caller's portal branding: its application's own over the deployment's (the operator: those)."""
        if scope.is_operator:
            return self._default_branding
        own = self._store.get_application(str(scope.application_id))
        return own.branding.over(self._default_branding)

    def delete(self, ref: str, scope: Scope) -> Job:
        """Delete an application at once, and its endpoints in a background job (``application.delete``):
        their queued deliveries end skipped. Returns the job.

        The job is queued first and the application deleted second, so a failure between the two leaves
        the application in place (the caller retries) rather than endpoints nobody can reach.
        """
        application = self._find(ref)
        if self._jobs is None:
            raise ConfigError("application deletion needs the job runner")
        plan = JobPlan("application.delete", {"application_id": application.id}, application.id)
        job = self._jobs.start(plan)
        self._store.delete_application(application)
        self._changed()
        return job
