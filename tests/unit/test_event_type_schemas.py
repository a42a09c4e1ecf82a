"""Event-type schemas are safe to save and bounded to evaluate (issue 19, security items 4 and 5).

Each test reads GIVEN / WHEN / THEN. The attacks of the review run here on the service with fakes; the
HTTP versions (a loopback server as a ``$ref`` target, /v1/health during a slow pattern) are in
tests/e2e/test_event_type_schemas.py.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from chalicelib import json_schema
from chalicelib.api.event_types import parse_create as parse_create_event_type
from chalicelib.api.messages import parse_publish
from chalicelib.errors import PayloadTooLargeError, UnprocessableError, ValidationError
from chalicelib.scope import OPERATOR
from tests.conftest import Services


def _catalog(services: Services, name: str, schema: Any) -> None:
    services.api.event_types.create(parse_create_event_type({"name": name, "schema": schema}), OPERATOR)


def _publish(services: Services, name: str, payload: Any) -> str:
    return services.api.publisher.publish(parse_publish({"event_type": name, "payload": payload}), OPERATOR)


def _refused(services: Services, name: str, payload: Any) -> UnprocessableError | PayloadTooLargeError:
    sent = len(services.queue.sent)
    with pytest.raises((UnprocessableError, PayloadTooLargeError)) as err:
        _publish(services, name, payload)
    assert len(services.queue.sent) == sent  # nothing stored
    return err.value


# ---------------------------------------------------------------------------- references (item 4)


@pytest.mark.parametrize(
    ("schema", "where"),
    [
        ({"$ref": "http://127.0.0.1:9/schema.json"}, "/$ref"),
        ({"$ref": "file:///etc/passwd"}, "/$ref"),
        ({"properties": {"a": {"$ref": "other.json#/x"}}}, "/properties/a/$ref"),
        ({"$ref": "//127.0.0.1:9/x"}, "/$ref"),
        ({"$id": "http://127.0.0.1:9/", "properties": {"a": {"$ref": "a.json"}}}, "/properties/a/$ref"),
        ({"properties": {"a": {"$id": "http://127.0.0.1:9/a.json", "$ref": "#"}}}, "/properties/a/$id"),
        ({"$defs": {"a": {"$dynamicAnchor": "m"}}, "$dynamicRef": "#m"}, "/$dynamicRef"),
        ({"$recursiveRef": "#"}, "/$recursiveRef"),
        ({"$schema": "http://127.0.0.1:9/meta.json"}, "/$schema"),
        ({"$ref": {"not": "a string"}}, "/$ref"),
        # a $ref may point into enum or const, so their values are walked too
        ({"enum": [{"$ref": "http://127.0.0.1:9/x"}]}, "/enum/0/$ref"),
    ],
)
def test_a_schema_that_refers_outside_itself_is_refused_on_save(
    services: Services, schema: dict[str, Any], where: str
) -> None:
    # GIVEN a schema with a reference that would leave the document WHEN it is saved
    with pytest.raises(ValidationError) as err:
        _catalog(services, "order.created", schema)
    # THEN 400 naming the field and the place, with a stable code, and nothing is saved
    assert err.value.status == 400 and err.value.code == "schema_ref_not_local"
    assert err.value.field == "schema" and where in err.value.message
    assert services.api.event_types._cached("order.created") is None


def test_local_references_anchors_and_a_root_id_still_work(services: Services) -> None:
    # GIVEN a schema using $defs, an $anchor and a root $id (which no reference leaves)
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://schemas.example.com/order.json",
        "$defs": {"money": {"$anchor": "money", "type": "integer", "minimum": 0}},
        "type": "object",
        "properties": {"total": {"$ref": "#/$defs/money"}, "tax": {"$ref": "#money"}},
    }
    _catalog(services, "order.created", schema)
    # WHEN payloads are published THEN they are checked through the local references
    _publish(services, "order.created", {"total": 5, "tax": 1})
    err = _refused(services, "order.created", {"total": 5, "tax": -1})
    assert err.code == "schema_mismatch" and err.details["pointer"] == "/tax"


def test_a_reference_that_points_nowhere_is_refused_on_save(services: Services) -> None:
    with pytest.raises(ValidationError) as err:
        _catalog(services, "x", {"$ref": "#/$defs/missing"})
    assert err.value.code == "invalid_schema" and err.value.field == "schema"


def test_a_stored_schema_that_refers_outside_is_never_retrieved(services: Services, tmp_path: Path) -> None:
    # GIVEN a schema saved before the save-time check, whose $ref names a readable local file
    target = tmp_path / "string.json"
    target.write_text(json.dumps({"type": "string", "title": "FILE-CONTENT"}))
    catalog = services.api.event_types
    catalog.create(parse_create_event_type({"name": "legacy"}), OPERATOR)
    stored = services.store.get_event_type("legacy")
    services.store.put_event_type(replace(stored, schema={"$ref": target.as_uri()}, updated_at=1.0))
    # WHEN a payload is published THEN it is refused without reading the file (a read would have given
    # schema_mismatch, since 5 is not a string), and the message says to save the schema again
    err = _refused(services, "legacy", 5)
    assert err.status == 422 and err.code == "schema_refused" and "save it again" in err.message
    # AND the validator itself never retrieves, even when asked directly
    with pytest.raises(UnprocessableError) as direct:
        json_schema.first_error({"$ref": target.as_uri()}, 5)
    assert direct.value.code == "schema_unresolvable"
    assert "FILE-CONTENT" not in direct.value.message


# ---------------------------------------------------------------------------------- budget (item 5)


def _objects(size: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    total = 2
    while total < size:
        items.append({"id": len(items), "name": "n", "tags": ["a"]})
        total += len(json.dumps(items[-1])) + 2
    return items


def test_unique_items_over_40_kb_of_objects_is_linear(services: Services) -> None:
    # GIVEN uniqueItems over objects, the review's 40 KB payload (11.5 s before)
    _catalog(services, "batch", {"type": "array", "uniqueItems": True})
    items = _objects(40_000)
    started = time.monotonic()
    _publish(services, "batch", items)
    # THEN it is accepted in well under a second
    assert time.monotonic() - started < 1.0
    # AND a repeat at the very end is found, by index, without echoing the payload
    err = _refused(services, "batch", [*items, dict(items[0])])
    assert err.code == "schema_mismatch"
    assert err.details["reason"] == f"has non-unique elements (items 0 and {len(items)} are equal)"


@pytest.mark.parametrize(
    ("items", "unique"),
    [
        ([1, 1.0], False),
        ([True, 1], True),
        ([False, 0], True),
        ([None, False], True),
        (["1", 1], True),
        ([{"a": 1, "b": [1, 2]}, {"b": [1.0, 2], "a": 1}], False),
        ([[1, 2], [2, 1]], True),
        ([{"a": True}, {"a": 1}], True),
        ([2**60, float(2**60)], False),
        ([2**53 + 1, float(2**53)], True),
        ([0.5, 0.5], False),
        ([{}, []], True),
    ],
)
def test_unique_items_follows_json_schema_equality(items: list[Any], unique: bool) -> None:
    # 1 == 1.0, true != 1, object key order is irrelevant, array order is not
    found = json_schema.first_error({"uniqueItems": True}, items)
    assert (found is None) is unique
    from jsonschema import Draft202012Validator

    assert Draft202012Validator({"uniqueItems": True}).is_valid(items) is unique  # the reference


def test_a_nested_quantifier_pattern_answers_at_once(services: Services) -> None:
    # GIVEN the review's pattern and 27 characters (3.9 s of backtracking before)
    _catalog(services, "p", {"type": "string", "pattern": "^(a+)+$"})
    started = time.monotonic()
    err = _refused(services, "p", "a" * 27 + "!")
    assert err.code == "schema_mismatch"
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize(
    "schema",
    [
        {"pattern": "^(a|aa)+$"},
        {"patternProperties": {"^(a|aa)+$": {}}},
        {"properties": {"x": {}}, "patternProperties": {"^(a|aa)+$": {}}, "additionalProperties": False},
        {"patternProperties": {"^(a|aa)+$": {}}, "unevaluatedProperties": False},
        {"propertyNames": {"pattern": "^(a|aa)+$"}},
    ],
)
def test_an_exponential_regex_is_cut_by_the_budget(schema: dict[str, Any]) -> None:
    # GIVEN a regex that even a guarded backtracking engine cannot answer quickly, wherever it sits
    evil = "a" * 60 + "!"
    payload: Any = evil if "pattern" in schema else {evil: 1}
    started = time.monotonic()
    # WHEN a payload makes it backtrack THEN 422 schema_budget_exceeded, about the budget later
    with pytest.raises(UnprocessableError) as err:
        json_schema.first_error(schema, payload, budget=0.2)
    assert err.value.code == "schema_budget_exceeded"
    assert time.monotonic() - started < 2.0


def test_format_regex_is_an_annotation(services: Services) -> None:
    # GIVEN format: regex (no format checker runs on payloads) WHEN a hostile "regex" is the payload
    _catalog(services, "f", {"type": "string", "format": "regex"})
    started = time.monotonic()
    _publish(services, "f", "(a+)+" * 1000 + "((((")
    assert time.monotonic() - started < 0.5


def test_a_schema_built_to_explode_is_cut_by_the_budget(services: Services) -> None:
    # GIVEN 30 levels of anyOf, each referring twice to the next (2^30 evaluations), well under 64 KiB
    defs: dict[str, Any] = {f"l{i}": {"anyOf": [{"$ref": f"#/$defs/l{i + 1}"}] * 2} for i in range(30)}
    defs["l30"] = {"type": "string"}
    _catalog(services, "boom", {"$defs": defs, "$ref": "#/$defs/l0"})
    started = time.monotonic()
    err = _refused(services, "boom", 5)
    assert err.status == 422 and err.code == "schema_budget_exceeded"
    assert time.monotonic() - started < 3.0


def test_a_reference_cycle_is_a_422_not_a_500(services: Services) -> None:
    _catalog(services, "loop", {"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"})
    assert _refused(services, "loop", 1).code == "schema_budget_exceeded"


def test_a_payload_over_the_bound_is_413(services: Services) -> None:
    _catalog(services, "big", {"type": "array"})
    err = _refused(services, "big", ["x" * 1000] * (json_schema.MAX_PAYLOAD_BYTES // 1000))
    assert err.status == 413 and err.code == "schema_payload_too_large"


@pytest.mark.parametrize(
    "schema",
    [
        {"enum": ["x" * (64 * 1024)]},
        json.loads('{"items":' * 70 + "{}" + "}" * 70),
        {"const": json.loads("[" * 70 + "]" * 70)},
    ],
)
def test_a_schema_over_the_size_or_depth_bound_is_refused(services: Services, schema: Any) -> None:
    with pytest.raises(ValidationError) as err:
        _catalog(services, "huge", schema)
    assert err.value.code == "schema_too_large" and err.value.field == "schema"


def test_unevaluated_keywords_are_linear_and_right() -> None:
    # GIVEN unevaluatedProperties/Items (jsonschema's own are quadratic) over 15,000 members
    closed = {"allOf": [{"additionalProperties": True}], "unevaluatedProperties": False}
    many = {f"k{i}": i for i in range(15_000)}
    started = time.monotonic()
    assert json_schema.first_error(closed, many) is None
    assert json_schema.first_error({"items": True, "unevaluatedItems": False}, list(range(20_000))) is None
    assert time.monotonic() - started < 1.0
    # THEN what they accept and refuse is the specification's
    schema = {
        "properties": {"a": {}},
        "patternProperties": {"^p": {}},
        "anyOf": [{"properties": {"b": {}}}, {"required": ["zz"]}],
        "if": {"required": ["c"]},
        "then": {"properties": {"c": {}}},
        "unevaluatedProperties": False,
    }
    assert json_schema.first_error(schema, {"a": 1, "p1": 1, "b": 1, "c": 1}) is None
    assert json_schema.first_error(schema, {"a": 1, "d": 1}) == (
        "/d",
        "Unevaluated properties are not allowed ('d' was unexpected)",
    )
    arrays = {"prefixItems": [{}], "contains": {"type": "string"}, "unevaluatedItems": {"type": "integer"}}
    assert json_schema.first_error(arrays, [None, "s", 3]) is None
    assert json_schema.first_error(arrays, [None, "s", 3.5])[0] == "/2"  # type: ignore[index]


def test_a_mismatch_reason_is_short_even_for_a_large_payload(services: Services) -> None:
    _catalog(services, "s", {"type": "string"})
    err = _refused(services, "s", {"k": "v" * 100_000})
    assert len(err.details["reason"]) <= json_schema.MAX_REASON
