"""GET /v1/messages' query is parsed in chalicelib.api into a typed command before any service sees it."""

from __future__ import annotations

import pytest

from chalicelib.api.messages import parse_search
from chalicelib.api.resource import parse_page
from chalicelib.commands import SearchMessages
from chalicelib.errors import HookwayError
from chalicelib.ports import PageRequest


def test_every_filter_is_parsed_into_the_command() -> None:
    # GIVEN a query with every filter, and the page parameters beside them
    params = {
        "application": "acme-uid",
        "source": "src_a",
        "endpoint": "ep_b",
        "event_type": "order.*",
        "provider_id": "evt 1",
        "after": "1700000000",
        "before": "1700000100.5",
        "status": "failed",
        "limit": "5",
        "cursor": "abc",
    }
    # WHEN parsed THEN each filter is a typed field (times as numbers) and the page is apart
    assert parse_search(params) == SearchMessages(
        application="acme-uid",
        source_id="src_a",
        endpoint_id="ep_b",
        event_type="order.*",
        provider_id="evt 1",
        after=1_700_000_000.0,
        before=1_700_000_100.5,
        status="failed",
    )
    assert parse_page(params) == PageRequest(5, "abc")
    assert parse_search({}) == SearchMessages()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"colour": "red"}, "colour"),
        ({"source": "a#3"}, "source"),
        ({"endpoint": ""}, "endpoint"),
        ({"event_type": "order.**"}, "event_type"),
        ({"provider_id": "x" * 501}, "provider_id"),
        ({"status": "lost"}, "status"),
        ({"after": "nan"}, "after"),
        ({"before": "1e12"}, "before"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(params: dict[str, str], field: str) -> None:
    with pytest.raises(HookwayError) as err:
        parse_search(params)
    assert (err.value.status, err.value.code, err.value.field) == (400, "invalid_filter", field)


@pytest.mark.parametrize("limit", ["0", "201", "-1", "ten", "12345"])
def test_a_bad_limit_is_a_400(limit: str) -> None:
    with pytest.raises(HookwayError) as err:
        parse_page({"limit": limit})
    assert (err.value.status, err.value.code) == (400, "invalid_limit")
