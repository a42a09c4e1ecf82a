"""Sources: where webhooks are received and how their senders are verified (operator only)."""

from __future__ import annotations

from chalice.app import Response

from chalicelib.api.resource import Resource, container, json_reply, listing, no_content

routes = Resource(__name__)


@routes.operation("/v1/sources", ["POST"], access="operator")
def create_source() -> Response:
    """Create a source; answers 201 with its id and ingest URL."""
    from chalicelib.sources import public_source

    source = container().sources.create(routes.json_body())
    return json_reply(public_source(source, routes.base_url()), 201)


@routes.operation("/v1/sources", ["GET"], access="operator")
def list_sources() -> Response:
    """List sources (secret values never included)."""
    from chalicelib.sources import public_source

    base = routes.base_url()
    return listing(container().sources.list(routes.page_request()), lambda s: public_source(s, base))


@routes.operation("/v1/sources/{source_id}", ["GET"], access="operator")
def get_source(source_id: str) -> Response:
    """One source."""
    from chalicelib.sources import public_source

    return json_reply(public_source(container().sources.get(source_id), routes.base_url()))


@routes.operation("/v1/sources/{source_id}", ["PATCH", "PUT"], access="operator")
def update_source(source_id: str) -> Response:
    """Change a source's fields."""
    from chalicelib.sources import public_source

    source = container().sources.update(source_id, routes.json_body())
    return json_reply(public_source(source, routes.base_url()))


@routes.operation("/v1/sources/{source_id}", ["DELETE"], access="operator")
def delete_source(source_id: str) -> Response:
    """Delete a source."""
    container().sources.delete(source_id)
    return no_content()


@routes.operation("/v1/sources/{source_id}/secrets", ["POST"], access="operator")
def add_source_secret(source_id: str) -> Response:
    """Add a verification secret (rotation), optionally retiring the others after a grace period."""
    source, secret = container().sources.add_secret(source_id, routes.json_body())
    return json_reply(
        {
            "source_id": source.id,
            "secret": secret.public(),
            "secrets": [s.public() for s in source.verification.secrets],
        },
        201,
    )


@routes.operation("/v1/sources/{source_id}/secrets/{secret_id}", ["DELETE"], access="operator")
def retire_source_secret(source_id: str, secret_id: str) -> Response:
    """Retire a verification secret now."""
    container().sources.retire_secret(source_id, secret_id)
    return no_content()


@routes.operation("/v1/sources/{source_id}/rejections", ["GET"], access="operator")
def list_rejections(source_id: str) -> Response:
    """The source's recent rejected requests and its rejection counts."""
    return json_reply(container().sources.rejections(source_id))
