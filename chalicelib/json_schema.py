"""JSON Schemas (draft 2020-12) of the event-type catalog: safe to save, bounded to evaluate.

A schema is written by the operator and evaluated against payloads that portal tokens may choose (a test
event of a catalog type), so both ends are bounded.

On save (:func:`check_schema`, 400 with ``field: "schema"``):

- at most ``MAX_SCHEMA_BYTES`` of JSON and ``MAX_SCHEMA_DEPTH`` levels of nesting (``schema_too_large``);
- a valid draft 2020-12 schema (``invalid_schema``), whose regexes compile;
- references stay inside the document (``schema_ref_not_local``): every ``$ref`` is a string starting with
  ``#`` that resolves in the document; no ``$dynamicRef``/``$recursiveRef``; ``$id`` only at the root (a
  nested ``$id`` would change the base a ``#...`` reference resolves against); ``$schema`` absent or
  draft 2020-12. The walk is conservative: it also looks inside ``const``, ``enum`` and ``examples``
  values, because a ``$ref`` may point into them.

On evaluation (:func:`first_error`), nothing is ever retrieved: the validator's ``referencing.Registry``
refuses every URI (no HTTP, no ``file://``), on top of the save-time check, so a schema stored before that
check existed cannot fetch either (and it is checked again when first used). Then:

- a payload is at most ``MAX_PAYLOAD_BYTES`` of JSON (413 ``schema_payload_too_large``);
- ``uniqueItems`` is linear: each item's canonical JSON (keys sorted, ``1.0`` written as ``1``, ``true``
  kept apart from ``1``) goes into a dict, which is JSON Schema equality;
- ``unevaluatedProperties``/``unevaluatedItems`` collect what was evaluated in sets (jsonschema's own are
  quadratic and run Python's ``re`` on ``patternProperties``);
- regexes (``pattern``, ``patternProperties`` keys, hence ``additionalProperties`` too) run on the
  ``regex`` engine with a timeout and with the GIL released. Why a bounded engine rather than a static
  refusal of nested quantifiers and backreferences: no static check is both safe and usable. ``(a|aa)+``
  has no nested quantifier and is exponential; an unanchored search is quadratic on a long string with
  almost any pattern; and a conservative check refuses ordinary patterns such as ``^([a-z]+\\.)*[a-z]+$``.
  A timeout bounds every case, and releasing the GIL keeps the local single-process API (threads) serving
  ``/v1/health`` and ``/in`` meanwhile. ``format`` (``regex`` included) is an annotation only: no format
  checker runs on payloads.
- the whole evaluation has a time budget (``budget`` seconds): every keyword checks the deadline and each
  regex gets the time left, so a schema built to explode (nested ``anyOf`` through ``$ref``, say) answers
  422 ``schema_budget_exceeded`` in about that time. In a Lambda the invocation ends well inside its
  timeout; on the local API the thread ends, and other threads keep running.
"""

from __future__ import annotations

import contextvars
import functools
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from chalicelib.errors import PayloadTooLargeError, UnprocessableError, ValidationError

MAX_SCHEMA_BYTES = 64 * 1024
MAX_SCHEMA_DEPTH = 64
MAX_PAYLOAD_BYTES = 256 * 1024
DEFAULT_BUDGET = 0.5
# The reason of a 422 is at most this long: jsonschema's messages quote the instance, which may be large.
MAX_REASON = 300
_DIALECTS = {"https://json-schema.org/draft/2020-12/schema", "https://json-schema.org/draft/2020-12/schema#"}


class _OutOfTime(Exception):
    """The evaluation's deadline passed (raised through jsonschema's generators)."""


class _Budget:
    def __init__(self, deadline: float, timer: Callable[[], float]) -> None:
        self.deadline = deadline
        self.timer = timer

    def remaining(self) -> float:
        left = self.deadline - self.timer()
        if left <= 0:
            raise _OutOfTime
        return left


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "hookway_schema_budget", default=None
)


def _pointer(parts: Any) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


# ---------------------------------------------------------------------------------------------- on save


def check_schema(schema: Any) -> dict[str, Any] | None:
    """The schema as given if it may be saved; raises ``ValidationError`` (400, ``field: "schema"``)."""
    if schema is None:
        return None
    if not isinstance(schema, dict):
        raise ValidationError("schema is a JSON Schema object", field="schema", code="invalid_schema")
    try:
        size = len(json.dumps(schema, separators=(",", ":")))
    except (RecursionError, ValueError):
        size = MAX_SCHEMA_BYTES + 1
    if size > MAX_SCHEMA_BYTES:
        raise ValidationError(
            "schema is a JSON Schema object of at most 64 KiB", field="schema", code="schema_too_large"
        )
    patterns: list[tuple[str, str]] = []
    refs: list[tuple[str, str]] = []
    _walk(schema, (), patterns, refs)
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = _pointer(exc.path) or "(root)"
        raise ValidationError(
            f"schema is not a valid JSON Schema (draft 2020-12) at {where}: {_short(exc.message)}",
            field="schema",
            code="invalid_schema",
        ) from None
    for where, pattern in patterns:
        try:
            _compiled(pattern)
        except Exception:  # regex.error, or an overflow in a repeat count
            raise ValidationError(
                f"schema has a regex that does not compile at {where}", field="schema", code="invalid_schema"
            ) from None
    resolver = _registry().resolver_with_root(_resource(schema))
    from referencing.exceptions import Unresolvable

    for where, ref in refs:
        try:
            resolver.lookup(ref)
        except Unresolvable:
            raise ValidationError(
                f"schema's $ref at {where} points nowhere in the schema",
                field="schema",
                code="invalid_schema",
            ) from None
    return schema


def _walk(
    node: Any, path: tuple[str, ...], patterns: list[tuple[str, str]], refs: list[tuple[str, str]]
) -> None:
    if len(path) > MAX_SCHEMA_DEPTH:
        raise ValidationError(
            f"schema is nested at most {MAX_SCHEMA_DEPTH} levels deep",
            field="schema",
            code="schema_too_large",
        )
    if isinstance(node, list):
        for index, item in enumerate(node):
            _walk(item, (*path, str(index)), patterns, refs)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        here = (*path, key)
        where = _pointer(here)
        if key == "$ref":
            if not isinstance(value, str) or not value.startswith("#"):
                raise _not_local(f"$ref at {where} is not a reference inside the schema (starting with #)")
            refs.append((where, value))
        elif key in ("$dynamicRef", "$recursiveRef"):
            raise _not_local(f"{key} at {where} is not supported: use a $ref starting with #")
        elif key == "$id" and path:
            raise _not_local(f"$id at {where}: only the root may have an $id")
        elif key == "$schema" and not (isinstance(value, str) and value in _DIALECTS):
            raise _not_local(f"$schema at {where}: only draft 2020-12 is supported")
        elif key == "pattern" and isinstance(value, str):
            patterns.append((where, value))
        elif key == "patternProperties" and isinstance(value, dict):
            patterns.extend((_pointer((*here, p)), p) for p in value)
        _walk(value, here, patterns, refs)


def _not_local(message: str) -> ValidationError:
    return ValidationError(message, field="schema", code="schema_ref_not_local")


# ------------------------------------------------------------------------------------------ evaluation


def first_error(
    schema: dict[str, Any],
    payload: Any,
    *,
    budget: float = DEFAULT_BUDGET,
    timer: Callable[[], float] = time.monotonic,
) -> tuple[str, str] | None:
    """The JSON pointer and reason of the first way ``payload`` breaks ``schema``, or None.

    Raises 413 ``schema_payload_too_large``, 422 ``schema_budget_exceeded`` (out of time or too deep)
    and 422 ``schema_unresolvable`` (a reference that does not resolve: nothing is ever retrieved).
    """
    try:
        size = len(json.dumps(payload, separators=(",", ":")))
    except RecursionError:
        size = MAX_PAYLOAD_BYTES + 1
    except ValueError:  # not JSON (cannot come from a request): let the validator say what breaks
        size = 0
    if size > MAX_PAYLOAD_BYTES:
        raise PayloadTooLargeError(
            f"a payload checked against a schema is at most {MAX_PAYLOAD_BYTES // 1024} KiB of JSON",
            code="schema_payload_too_large",
        )
    from referencing.exceptions import Unresolvable

    validator = _validator_class()(schema, registry=_registry())
    token = _BUDGET.set(_Budget(timer() + budget, timer))
    try:
        errors = sorted(validator.iter_errors(payload), key=lambda e: list(e.path))
    except (_OutOfTime, RecursionError):
        raise UnprocessableError(
            f"checking the payload against its schema took more than its budget ({budget:g} s) or nested too deep",
            code="schema_budget_exceeded",
        ) from None
    except Unresolvable as exc:
        ref = getattr(exc, "ref", "")
        raise UnprocessableError(
            f"the schema has a reference that does not resolve inside it: {_short(str(ref))}",
            code="schema_unresolvable",
        ) from None
    finally:
        _BUDGET.reset(token)
    if not errors:
        return None
    return _pointer(errors[0].absolute_path), _short(errors[0].message)


def _short(text: str) -> str:
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def _refuse(uri: str) -> Any:
    """The registry's retrieve: nothing, ever (no network, no files)."""
    from referencing.exceptions import NoSuchResource

    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


@functools.cache
def _registry() -> Any:
    from referencing import Registry

    return Registry(retrieve=_refuse)  # type: ignore[call-arg]


def _resource(schema: dict[str, Any]) -> Any:
    from referencing.jsonschema import DRAFT202012

    return DRAFT202012.create_resource(schema)


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str) -> Any:
    import regex

    return regex.compile(pattern, regex.VERSION0)


def _search(pattern: str, text: str) -> bool:
    budget = _BUDGET.get()
    timeout = budget.remaining() if budget is not None else DEFAULT_BUDGET
    try:
        return _compiled(pattern).search(text, timeout=timeout, concurrent=True) is not None
    except TimeoutError:
        raise _OutOfTime from None


def _check_time() -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.remaining()


def _canonical(value: Any) -> Any:
    """A form whose JSON text is equal exactly when the values are equal in JSON Schema."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


# Keyword implementations, in jsonschema's shape: (validator, keyword value, instance, schema) -> errors.


def _unique_items(validator: Any, unique: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if not unique or not validator.is_type(instance, "array"):
        return
    from jsonschema.exceptions import ValidationError as SchemaValidationError

    seen: dict[str, int] = {}
    for index, item in enumerate(instance):
        key = json.dumps(_canonical(item), sort_keys=True, separators=(",", ":"))
        if key in seen:
            yield SchemaValidationError(f"has non-unique elements (items {seen[key]} and {index} are equal)")
            return
        seen[key] = index


def _pattern(validator: Any, pattern: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if validator.is_type(instance, "string") and not _search(pattern, instance):
        from jsonschema.exceptions import ValidationError as SchemaValidationError

        yield SchemaValidationError(f"{_short(repr(instance))} does not match {pattern!r}")


def _pattern_properties(validator: Any, patterns: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _extras(instance: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    return [k for k in instance if k not in properties and not any(_search(p, k) for p in patterns)]


def _additional_properties(validator: Any, extra_schema: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    extras = _extras(instance, schema)
    if extra_schema is False and extras:
        from jsonschema.exceptions import ValidationError as SchemaValidationError

        named = ", ".join(repr(k) for k in sorted(extras)[:5]) + (", ..." if len(extras) > 5 else "")
        yield SchemaValidationError(_short(f"Additional properties are not allowed ({named} unexpected)"))
        return
    for key in extras:
        yield from validator.descend(instance[key], extra_schema, path=key)


def _valid(validator: Any, instance: Any, schema: Any) -> bool:
    return next(validator.descend(instance, schema), None) is None


def _in_place(validator: Any, instance: Any, schema: dict[str, Any]) -> Iterator[tuple[Any, Any]]:
    """(validator, subschema) of the in-place applicators whose annotations count: referenced schemas,
    valid ``allOf``/``anyOf``/``oneOf`` branches, ``if`` with ``then`` or else ``else``, and
    ``dependentSchemas`` of present properties (for objects)."""
    ref = schema.get("$ref")
    if isinstance(ref, str):
        resolved = validator._resolver.lookup(ref)
        yield validator.evolve(schema=resolved.contents, _resolver=resolved.resolver), resolved.contents
    for keyword in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(keyword, ()):
            if _valid(validator, instance, sub):
                yield validator, sub
    if "if" in schema:
        if _valid(validator, instance, schema["if"]):
            yield validator, schema["if"]
            if "then" in schema:
                yield validator, schema["then"]
        elif "else" in schema:
            yield validator, schema["else"]
    if isinstance(instance, dict):
        for name, sub in schema.get("dependentSchemas", {}).items():
            if name in instance:
                yield validator, sub


def _evaluated_keys(validator: Any, instance: dict[str, Any], schema: Any, *, own: bool = True) -> set[str]:
    _check_time()
    if not isinstance(schema, dict):
        return set()
    keys = set(schema.get("properties", {})) & set(instance)
    for pattern in schema.get("patternProperties", {}):
        keys.update(k for k in instance if _search(pattern, k))
    if "additionalProperties" in schema:
        keys.update(
            k
            for k in _extras(instance, schema)
            if _valid(validator, instance[k], schema["additionalProperties"])
        )
    if own and "unevaluatedProperties" in schema:
        keys.update(k for k in instance if _valid(validator, instance[k], schema["unevaluatedProperties"]))
    for sub_validator, sub in _in_place(validator, instance, schema):
        keys |= _evaluated_keys(sub_validator, instance, sub)
    return keys


def _unevaluated_properties(validator: Any, rest: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    evaluated = _evaluated_keys(validator, instance, schema, own=False)
    for key in instance:
        if key in evaluated:
            continue
        if rest is False:
            from jsonschema.exceptions import ValidationError as SchemaValidationError

            yield SchemaValidationError(
                _short(f"Unevaluated properties are not allowed ({key!r} was unexpected)"), path=[key]
            )
        else:
            yield from validator.descend(instance[key], rest, path=key)


def _evaluated_indexes(validator: Any, instance: list[Any], schema: Any, *, own: bool = True) -> set[int]:
    _check_time()
    if not isinstance(schema, dict):
        return set()
    if "items" in schema:
        return set(range(len(instance)))
    indexes = set(range(min(len(schema.get("prefixItems", ())), len(instance))))
    if "contains" in schema:
        indexes.update(i for i, item in enumerate(instance) if _valid(validator, item, schema["contains"]))
    if own and "unevaluatedItems" in schema:
        indexes.update(
            i for i, item in enumerate(instance) if _valid(validator, item, schema["unevaluatedItems"])
        )
    for sub_validator, sub in _in_place(validator, instance, schema):
        indexes |= _evaluated_indexes(sub_validator, instance, sub)
    return indexes


def _unevaluated_items(validator: Any, rest: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if not validator.is_type(instance, "array"):
        return
    evaluated = _evaluated_indexes(validator, instance, schema, own=False)
    for index, item in enumerate(instance):
        if index in evaluated:
            continue
        if rest is False:
            from jsonschema.exceptions import ValidationError as SchemaValidationError

            yield SchemaValidationError(f"Unevaluated items are not allowed (item {index})", path=[index])
        else:
            yield from validator.descend(item, rest, path=index)


def _budgeted(keyword: Callable[..., Any]) -> Callable[..., Iterator[Any]]:
    def check(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[Any]:
        _check_time()
        yield from keyword(validator, value, instance, schema) or ()

    return check


@functools.cache
def _validator_class() -> Any:
    """Draft 2020-12 with the keywords above, every keyword behind the deadline, no format checker."""
    from jsonschema import Draft202012Validator
    from jsonschema.validators import extend

    keywords = dict(Draft202012Validator.VALIDATORS)
    keywords.update(
        uniqueItems=_unique_items,
        pattern=_pattern,
        patternProperties=_pattern_properties,
        additionalProperties=_additional_properties,
        unevaluatedProperties=_unevaluated_properties,
        unevaluatedItems=_unevaluated_items,
    )
    return extend(Draft202012Validator, {name: _budgeted(fn) for name, fn in keywords.items()})
