"""The composition root: request-path clients are tight, background clients generous, per use."""

from __future__ import annotations

from chalicelib.config import Settings
from chalicelib.wiring import Container


def _config(client: object) -> object:
    return client.meta.config  # type: ignore[attr-defined]


def test_request_path_clients_have_tight_timeouts_and_a_retry_budget() -> None:
    # GIVEN a container WHEN the request profile makes a client THEN one stalled call costs about 3 s at most
    config = _config(Container(Settings(endpoint_url="http://127.0.0.1:9"))._client("dynamodb", "request"))
    assert (config.connect_timeout, config.read_timeout) == (1, 1)  # type: ignore[attr-defined]
    assert config.retries["total_max_attempts"] == 2  # type: ignore[attr-defined]


def test_background_clients_keep_generous_timeouts() -> None:
    config = _config(Container(Settings(endpoint_url="http://127.0.0.1:9"))._client("sqs", "background"))
    assert config.read_timeout >= 30  # type: ignore[attr-defined]
    assert config.retries["total_max_attempts"] >= 5  # type: ignore[attr-defined]


def test_the_profile_is_chosen_per_use_not_per_process() -> None:
    # GIVEN one container, as the local stack runs the API and the workers in one process
    container = Container(Settings(endpoint_url="http://127.0.0.1:9"))
    # WHEN each side asks for its clients THEN the API side's are tight and the workers' generous
    assert _config(container.ingest_queue._sqs).read_timeout == 1  # type: ignore[attr-defined]
    assert _config(container.background_ingest_queue._sqs).read_timeout >= 30  # type: ignore[attr-defined]
    # AND the adapters are separate objects, the request path's being the plain names
    assert container.store is not container.background_store
    assert _config(container.store._db).read_timeout == 1  # type: ignore[attr-defined]


def test_fakes_replace_the_adapters_of_both_profiles() -> None:
    container = Container(Settings(endpoint_url="http://127.0.0.1:9"))
    fake = object()
    container.use(store=fake)
    assert container.store is fake and container.background_store is fake
    # ... and a fake handed to the constructor too
    assert Container(Settings(), store=fake).background_store is fake
