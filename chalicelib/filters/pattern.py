"""EventBridge event patterns: validated and compiled once, matched without backtracking. Pure, no I/O.

A pattern is the JSON that AWS users write for EventBridge rules, matched here against a message's
document ``{"event_type", "source", "application", "payload", "headers"}`` (``document``; header names
lower-cased). Its semantics are EventBridge's:

- An object names fields; every field it names must match (AND). ``{"$or": [P1, P2, ...]}`` at any level
  matches when one of its patterns does.
- A field's value in the pattern is an object (the field is an object: match inside it) or a non-empty
  array of alternatives (any may match). An alternative is a literal (string, number, boolean, null) or
  one operator: ``prefix``, ``suffix`` (each optionally ``{"equals-ignore-case": ...}``),
  ``equals-ignore-case``, ``wildcard`` (``*`` any run; ``\\*`` and ``\\\\`` escape), ``anything-but``
  (values, or ``prefix`` / ``suffix`` / ``equals-ignore-case`` / ``wildcard``), ``numeric`` (``=``, or a
  lower bound ``>``/``>=`` and/or an upper bound ``<``/``<=``), ``exists``, ``cidr``.
- An array in the message matches when any of its elements does (an array of objects: one element must
  match the whole object pattern). A missing field matches nothing but ``{"exists": false}``; ``null``
  matches a JSON null, never a missing field. Numbers compare as numbers (``300`` matches ``300.0``,
  never ``"300"``); booleans are not numbers. ``anything-but`` matches strings and numbers only, and
  never a missing field.

Work is bounded by (pattern nodes) x (message values at their paths): each pattern node looks at the
values at its own path once; wildcards are cut into literal segments found leftmost with ``str.find``
(no regular expression, nothing retried). Message arrays are flattened without recursion, so a deep
message cannot exhaust the stack; matching never raises. Validation (``compile_pattern``) refuses
unknown operators and bad shapes with a ``PatternError`` naming the field, and bounds the pattern's
size (``MAX_PATTERN_BYTES``) and depth (``MAX_DEPTH``).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

FIELDS = ("event_type", "source", "application", "payload", "headers")
MAX_PATTERN_BYTES = 4096  # the pattern's compact JSON
MAX_DEPTH = 8  # nested objects and $or levels
MAX_STRING = 256  # characters of a string in an operator or literal
# Steps one match may take (a value looked at costs 1, plus 1 per operator it is tested against; an object
# visited costs 1): a message whose arrays would need more is refused by the pattern (``BUDGET_PATH``),
# so a tenant's patterns cannot hold the router, whatever the message (about a millisecond at most).
MAX_MATCH_STEPS = 10_000
BUDGET_PATH = "$budget"

Pred = Callable[[object], bool]
_MISSING = object()
log = logging.getLogger("hookway.filters")


class _Exhausted(Exception):
    """A match ran out of steps (internal: the pattern answers no match)."""


class PatternError(ValueError):
    """A pattern that cannot be saved: ``code`` is stable, ``field`` the dotted path that is wrong."""

    def __init__(self, code: str, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.code = code
        self.field = field
        self.message = f"{field}: {message}"


def document(
    *,
    event_type: str | None,
    source: str | None,
    application: str | None,
    payload: Any,
    headers: Mapping[str, str],
) -> dict[str, Any]:
    """The document a pattern is matched against (header names lower-cased)."""
    return {
        "event_type": event_type,
        "source": source,
        "application": application,
        "payload": payload,
        "headers": {str(k).lower(): v for k, v in headers.items()},
    }


# ------------------------------------------------------------------------------------------- matching


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _leaves(value: object) -> list[object]:
    """The scalar values at a field: arrays flattened (iteratively), objects skipped, missing: none."""
    if isinstance(value, list):
        out: list[object] = []
        stack: list[list[Any]] = [value]
        while stack:
            for item in stack.pop():
                if isinstance(item, list):
                    stack.append(item)
                elif not isinstance(item, dict):
                    out.append(item)
        return out
    if value is _MISSING or isinstance(value, dict):
        return []
    return [value]


def _objects(value: object) -> list[dict[str, Any]]:
    """The objects at a field: itself, or an array's object elements (flattened iteratively)."""
    if isinstance(value, dict):
        return [value]
    if not isinstance(value, list):
        return []
    out: list[dict[str, Any]] = []
    stack: list[list[Any]] = [value]
    while stack:
        for item in stack.pop():
            if isinstance(item, list):
                stack.append(item)
            elif isinstance(item, dict):
                out.append(item)
    return out


def _glob(segments: tuple[str, ...], text: str) -> bool:
    """Whether ``text`` matches literal segments joined by ``*``: each found leftmost, never retried."""
    if len(segments) == 1:
        return segments[0] == text
    first, last = segments[0], segments[-1]
    if len(text) < len(first) + len(last) or not text.startswith(first) or not text.endswith(last):
        return False
    position, end = len(first), len(text) - len(last)
    for segment in segments[1:-1]:
        if segment:
            found = text.find(segment, position, end)
            if found < 0:
                return False
            position = found + len(segment)
    return True


@dataclass(frozen=True)
class _Leaf:
    """A field's array of alternatives."""

    strings: frozenset[str]
    numbers: frozenset[int | float]
    booleans: frozenset[bool]
    null: bool
    preds: tuple[Pred, ...]
    exists: bool  # an {"exists": true} alternative
    absent: bool  # an {"exists": false} alternative
    # Alternatives of one kind tested at once (one set lookup or one C call for all of them).
    folded: frozenset[str] = frozenset()  # equals-ignore-case, casefolded
    prefixes: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()

    def match(self, value: object, budget: list[int]) -> bool:
        # One scalar (the common case) is its own list; an array is flattened, an object has no leaves.
        values = _leaves(value) if isinstance(value, list | dict) or value is _MISSING else (value,)
        if not values:
            return self.absent
        if self.exists:
            return True
        budget[0] -= len(values) * (1 + len(self.preds))
        if budget[0] < 0:
            raise _Exhausted
        for v in values:
            if isinstance(v, str):
                if (
                    v in self.strings
                    or (self.prefixes and v.startswith(self.prefixes))
                    or (self.suffixes and v.endswith(self.suffixes))
                    or (self.folded and v.casefold() in self.folded)
                ):
                    return True
            elif isinstance(v, bool):
                if v in self.booleans:
                    return True
            elif isinstance(v, int | float):
                if v in self.numbers:
                    return True
            elif v is None and self.null:
                return True
            for pred in self.preds:
                if pred(v):
                    return True
        return False


@dataclass(frozen=True)
class _Object:
    """An object pattern: named fields (leaves or objects) and ``$or`` groups, all of which must match."""

    fields: tuple[tuple[str, _Leaf | _Object], ...]
    ors: tuple[tuple[_Object, ...], ...]

    def fail(self, obj: Mapping[str, Any], budget: list[int]) -> str | None:
        """None when ``obj`` matches, else the dotted path of the first part that does not."""
        budget[0] -= 1
        for name, node in self.fields:
            value = obj.get(name, _MISSING)
            if isinstance(node, _Leaf):
                if not node.match(value, budget):
                    return name
                continue
            if isinstance(value, dict):
                sub = node.fail(value, budget)
                if sub is not None:
                    return f"{name}.{sub}"
                continue
            objects = _objects(value)
            budget[0] -= len(objects)
            if budget[0] < 0:
                raise _Exhausted
            if not objects:
                sub = node.fail({}, budget)
            else:
                for item in objects:
                    sub = node.fail(item, budget)
                    if sub is None:
                        break
            if sub is not None:
                return f"{name}.{sub}"
        for group in self.ors:
            if all(alternative.fail(obj, budget) is not None for alternative in group):
                return "$or"
        return None


class Pattern:
    """A compiled event pattern; build it with ``compile_pattern``."""

    __slots__ = ("_root", "source")

    def __init__(self, root: _Object, source: dict[str, Any]) -> None:
        self._root = root
        self.source = source  # the pattern as given (the API shows it back)

    def matches(self, doc: Mapping[str, Any]) -> bool:
        """Whether the document matches."""
        return self.mismatch(doc) is None

    def mismatch(self, doc: Mapping[str, Any]) -> str | None:
        """None when the document matches, else the dotted path of the first part that does not
        (``BUDGET_PATH`` when matching would take more than ``MAX_MATCH_STEPS``)."""
        try:
            return self._root.fail(doc, [MAX_MATCH_STEPS])
        except _Exhausted:
            return BUDGET_PATH


# ------------------------------------------------------------------------------------------ compiling


def compile_pattern(pattern: Any, *, field: str = "filter.payload") -> Pattern:
    """Validate and compile a pattern; raises ``PatternError`` naming the field that is wrong."""
    if not isinstance(pattern, dict):
        raise PatternError("invalid_pattern", field, "an event pattern is a JSON object")
    try:
        size = len(json.dumps(pattern, separators=(",", ":"), allow_nan=False))
    except RecursionError:
        raise PatternError("pattern_too_deep", field, f"a pattern nests at most {MAX_DEPTH} levels") from None
    except (TypeError, ValueError):
        raise PatternError("invalid_pattern", field, "the pattern is not plain JSON") from None
    if size > MAX_PATTERN_BYTES:
        raise PatternError("pattern_too_large", field, f"a pattern holds at most {MAX_PATTERN_BYTES} bytes")
    return Pattern(_compile_object(pattern, field, 1, top=True), pattern)


def compiled_or_never(pattern: Any) -> Pattern:
    """A stored pattern compiled; one that no longer validates (stricter bounds since it was saved)
    matches nothing rather than failing the router's batch, and says so in the log."""
    try:
        return compile_pattern(pattern)
    except PatternError as exc:
        log.warning("stored payload filter is invalid; it matches nothing", extra={"code": exc.code})
        return Pattern(_Object((), ((),)), pattern if isinstance(pattern, dict) else {})


def _compile_object(pattern: dict[str, Any], field: str, depth: int, *, top: bool = False) -> _Object:
    if depth > MAX_DEPTH:
        raise PatternError("pattern_too_deep", field, f"a pattern nests at most {MAX_DEPTH} levels")
    fields: list[tuple[str, _Leaf | _Object]] = []
    ors: list[tuple[_Object, ...]] = []
    for key, value in pattern.items():
        where = f"{field}.{key}"
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise PatternError("invalid_pattern", where, "$or is an array of at least two patterns")
            group = []
            for index, alternative in enumerate(value):
                at = f"{where}[{index}]"
                if not isinstance(alternative, dict) or not alternative:
                    raise PatternError("invalid_pattern", at, "each $or alternative is a non-empty object")
                group.append(_compile_object(alternative, at, depth + 1, top=top))
            ors.append(tuple(group))
            continue
        if key.startswith("$"):
            raise PatternError("unknown_pattern_operator", where, f"unknown operator {key!r}")
        if top and key not in FIELDS:
            raise PatternError(
                "invalid_pattern", where, f"a pattern matches the fields {', '.join(FIELDS)} of a message"
            )
        if isinstance(value, dict):
            inner = {str(k).lower(): v for k, v in value.items()} if top and key == "headers" else value
            fields.append((key, _compile_object(inner, where, depth + 1)))
        elif isinstance(value, list):
            fields.append((key, _compile_leaf(value, where)))
        else:
            raise PatternError(
                "invalid_pattern", where, "a field's pattern is an object or an array of alternatives"
            )
    return _Object(tuple(fields), tuple(ors))


def _string(value: Any, where: str, what: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_STRING:
        raise PatternError(
            "invalid_pattern", where, f"{what} takes a string of at most {MAX_STRING} characters"
        )
    return value


def _number(value: Any, where: str) -> int | float:
    if not _is_number(value) or (isinstance(value, float) and not math.isfinite(value)):
        raise PatternError("invalid_pattern", where, "a finite number is expected")
    number: int | float = value
    return number


def _compile_leaf(alternatives: list[Any], field: str) -> _Leaf:
    if not alternatives:
        raise PatternError("invalid_pattern", field, "an array of alternatives is not empty")
    strings: set[str] = set()
    numbers: set[int | float] = set()
    booleans: set[bool] = set()
    null = exists = absent = False
    preds: list[Pred] = []
    folded: set[str] = set()
    prefixes: list[str] = []
    suffixes: list[str] = []
    for index, item in enumerate(alternatives):
        where = f"{field}[{index}]"
        if item is None:
            null = True
        elif isinstance(item, bool):
            booleans.add(item)
        elif isinstance(item, str):
            strings.add(_string(item, where, "a literal"))
        elif isinstance(item, int | float):
            numbers.add(_number(item, where))
        elif isinstance(item, dict):
            if len(item) != 1:
                raise PatternError("invalid_pattern", where, "an operator object has exactly one operator")
            ((name, arg),) = item.items()
            at = f"{where}.{name}"
            if name == "exists":
                if not isinstance(arg, bool):
                    raise PatternError("invalid_pattern", at, "exists takes true or false")
                exists, absent = exists or arg, absent or not arg
            elif name == "equals-ignore-case":
                folded.add(_string(arg, at, name).casefold())
            elif name in ("prefix", "suffix") and isinstance(arg, str):
                (prefixes if name == "prefix" else suffixes).append(_string(arg, at, name))
            else:
                preds.append(_operator(name, arg, at))
        else:
            raise PatternError("invalid_pattern", where, "an alternative is a literal or an operator object")
    return _Leaf(
        frozenset(strings),
        frozenset(numbers),
        frozenset(booleans),
        null,
        tuple(preds),
        exists,
        absent,
        frozenset(folded),
        tuple(prefixes),
        tuple(suffixes),
    )


def _operator(name: str, arg: Any, where: str) -> Pred:
    if name in ("prefix", "suffix"):
        return _affix(name, arg, where, negate=False)
    if name == "equals-ignore-case":
        folded = _string(arg, where, name).casefold()
        return lambda v: isinstance(v, str) and v.casefold() == folded
    if name == "wildcard":
        segments = _wildcard(_string(arg, where, name), where)
        return lambda v: isinstance(v, str) and _glob(segments, v)
    if name == "numeric":
        return _numeric(arg, where)
    if name == "cidr":
        return _cidr(arg, where)
    if name == "anything-but":
        return _anything_but(arg, where)
    raise PatternError("unknown_pattern_operator", where, f"unknown operator {name!r}")


def _affix(name: str, arg: Any, where: str, *, negate: bool) -> Pred:
    fold = False
    if isinstance(arg, dict):
        if set(arg) != {"equals-ignore-case"}:
            raise PatternError(
                "invalid_pattern", where, f'{name} takes a string or {{"equals-ignore-case": string}}'
            )
        arg, fold = arg["equals-ignore-case"], True
    text = _string(arg, where, name)
    if fold:
        text = text.casefold()
    test = str.startswith if name == "prefix" else str.endswith

    def pred(v: object) -> bool:
        if not isinstance(v, str):
            return False
        return test(v.casefold() if fold else v, text) is not negate

    return pred


def _wildcard(text: str, where: str) -> tuple[str, ...]:
    """A wildcard cut into its literal segments (``\\*`` a star, ``\\\\`` a backslash, ``**`` refused)."""
    segments: list[str] = []
    current: list[str] = []
    index, star = 0, False
    while index < len(text):
        char = text[index]
        if char == "\\":
            following = text[index + 1 : index + 2]
            if following not in ("*", "\\"):
                raise PatternError("invalid_pattern", where, "in a wildcard a backslash escapes only * or \\")
            current.append(following)
            index, star = index + 2, False
            continue
        if char == "*":
            if star:
                raise PatternError("invalid_pattern", where, "a wildcard has no consecutive *")
            segments.append("".join(current))
            current, star = [], True
        else:
            current.append(char)
            star = False
        index += 1
    segments.append("".join(current))
    return tuple(segments)


_LOWER = {">": False, ">=": True}
_UPPER = {"<": False, "<=": True}


def _numeric(arg: Any, where: str) -> Pred:
    shape = 'numeric is ["=", n], or a lower bound (">", ">=") and/or an upper bound ("<", "<=")'
    if not isinstance(arg, list) or len(arg) not in (2, 4):
        raise PatternError("invalid_pattern", where, shape)
    pairs = [(arg[i], arg[i + 1]) for i in range(0, len(arg), 2)]
    low: tuple[int | float, bool] | None = None
    high: tuple[int | float, bool] | None = None
    for op, value in pairs:
        number = _number(value, where)
        if op == "=" and len(pairs) == 1:
            low = high = (number, True)
        elif op in _LOWER and low is None:
            low = (number, _LOWER[op])
        elif op in _UPPER and high is None:
            high = (number, _UPPER[op])
        else:
            raise PatternError("invalid_pattern", where, shape)
    if low is not None and high is not None and low[0] > high[0]:
        raise PatternError("invalid_pattern", where, "the lower bound is above the upper bound")

    def pred(v: object) -> bool:
        if not _is_number(v):
            return False
        x: Any = v
        if low is not None and not (x >= low[0] if low[1] else x > low[0]):
            return False
        return high is None or (x <= high[0] if high[1] else x < high[0])

    return pred


def _cidr(arg: Any, where: str) -> Pred:
    try:
        network = ipaddress.ip_network(_string(arg, where, "cidr"), strict=False)
    except ValueError:
        raise PatternError("invalid_pattern", where, "cidr takes an IPv4 or IPv6 network") from None

    def pred(v: object) -> bool:
        if not isinstance(v, str) or len(v) > 64:
            return False
        try:
            address = ipaddress.ip_address(v)
        except ValueError:
            return False
        return address.version == network.version and address in network

    return pred


def _anything_but(arg: Any, where: str) -> Pred:
    if isinstance(arg, dict):
        if len(arg) != 1:
            raise PatternError("invalid_pattern", where, "anything-but takes one operator")
        ((name, inner),) = arg.items()
        at = f"{where}.{name}"
        if name in ("prefix", "suffix"):
            return _affix(name, inner, at, negate=True)
        if name in ("equals-ignore-case", "wildcard"):
            items = inner if isinstance(inner, list) and inner else [inner]
            tests = [_operator(name, item, f"{at}[{i}]") for i, item in enumerate(items)]
            return lambda v: isinstance(v, str) and not any(t(v) for t in tests)
        raise PatternError("unknown_pattern_operator", at, f"anything-but does not take {name!r}")
    items = arg if isinstance(arg, list) else [arg]
    if not items:
        raise PatternError("invalid_pattern", where, "anything-but takes a value or a non-empty array")
    strings: set[str] = set()
    numbers: set[int | float] = set()
    for index, item in enumerate(items):
        if isinstance(item, str):
            strings.add(_string(item, f"{where}[{index}]", "anything-but"))
        else:
            numbers.add(_number(item, f"{where}[{index}]"))

    def pred(v: object) -> bool:
        if isinstance(v, str):
            return v not in strings
        return _is_number(v) and v not in numbers

    return pred
