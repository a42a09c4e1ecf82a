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

from chalicelib import branding as brand
from chalicelib.branding import Branding
from chalicelib.errors import ConfigError, ForbiddenError, NotFoundError, ValidationError
from chalicelib.ids import new_id
from chalicelib.models import Application, Job, JobPlan
from chalicelib.ports import ApplicationStore, JobStarter, Page, PageRequest
from chalicelib.scope import Scope

if TYPE_CHECKING:
    from chalicelib.caches import ApplicationCache

_ID = re.compile(r"app_[0-9a-f]{32}")
_UID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199}")
MAX_METADATA = 50


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise ValidationError("name is 1 to 200 characters", field="name")
    return value


def _uid(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _UID.fullmatch(value) or _ID.fullmatch(value):
        raise ValidationError(
            "uid is 1 to 200 characters of A-Z a-z 0-9 _ . : @ - and is not an application id", field="uid"
        )
    return value


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    valid = isinstance(value, dict) and len(value) <= MAX_METADATA
    if not valid or not all(
        isinstance(k, str) and 0 < len(k) <= 100 and isinstance(v, str) and len(v) <= 1000
        for k, v in value.items()
    ):
        raise ValidationError(
            f"metadata is an object of at most {MAX_METADATA} string values", field="metadata"
        )
    return dict(value)


def _branding(value: Any) -> Branding:
    try:
        return brand.parse(value)
    except brand.BrandingError as exc:
        field = "branding" if exc.field == "branding" else f"branding.{exc.field}"
        raise ValidationError(str(exc), field=field, code="invalid_branding") from None


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

    def create(self, doc: Any, scope: Scope) -> Application:
        """Validate and store a new application; 409 ``uid_taken`` if the uid is another's."""
        scope.require_operator()
        if not isinstance(doc, dict):
            raise ValidationError("the body must be a JSON object")
        now = self._clock()
        application = Application(
            id=new_id("app"),
            name=_name(doc.get("name")),
            uid=_uid(doc.get("uid")),
            metadata=_metadata(doc.get("metadata")),
            branding=_branding(doc.get("branding")),
            created_at=now,
            updated_at=now,
        )
        self._store.create_application(application)
        self._changed()
        return application

    def list(self, scope: Scope, page: PageRequest) -> Page[Application]:
        """A page of applications, oldest first."""
        scope.require_operator()
        return self._store.list_applications(limit=page.limit, cursor=page.cursor)

    def update(self, ref: str, doc: Any, scope: Scope) -> Application:
        """Change name, uid, metadata or branding."""
        scope.require_operator()
        if not isinstance(doc, dict):
            raise ValidationError("the body must be a JSON object")
        current = self._find(ref)
        changes: dict[str, Any] = {}
        if "name" in doc:
            changes["name"] = _name(doc["name"])
        if "uid" in doc:
            changes["uid"] = _uid(doc["uid"])
        if "metadata" in doc:
            changes["metadata"] = _metadata(doc["metadata"])
        if "branding" in doc:
            changes["branding"] = _branding(doc["branding"])  # the whole object: null clears it
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
        scope.require_operator()
        application = self._find(ref)
        if self._jobs is None:
            raise ConfigError("application deletion needs the job runner")
        plan = JobPlan("application.delete", {"application_id": application.id}, application.id)
        job = self._jobs.start(plan)
        self._store.delete_application(application)
        self._changed()
        return job
