"""Hostile request bodies as hypothesis strategies, for the endpoints machines and chats post
to: random JSON, a real payload with one value of the wrong type, huge strings, deep nesting,
bytes that are not UTF-8, JSON the database cannot store, and content types nobody sends."""

from __future__ import annotations

import copy
import json
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Derandomized: the same cases on every run, so a failure is never a fluke of the draw.
FUZZ = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)


@contextmanager
def rolled_back():
    """One case from the same database as every other: replaying it (to shrink a failure)
    meets the same answers, and what one case stored never decides the next."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def tally(node, name: str, by: int = 1) -> None:
    """Add to a test's `name` property (`cases`, `server_errors`), which `make harness` sums
    over the run: one entry per test, however many cases hypothesis ran."""
    properties = node.user_properties
    for index, (key, value) in enumerate(properties):
        if key == name:
            properties[index] = (name, value + by)
            return
    properties.append((name, by))


def _stamped(moment: datetime, minutes: int | None) -> str:
    if minutes is None:
        return moment.isoformat()  # no offset at all
    return moment.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat()


# ISO 8601 times from year 1 to 9999, with any offset Python takes (±23:59) or none.
timestamps = st.builds(
    _stamped,
    st.datetimes(),
    st.none() | st.integers(-(24 * 60 - 1), 24 * 60 - 1),
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=50)
    | timestamps,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)

# Values Python's parser reads and PostgreSQL refuses (tests/helpers.py, UNSTORABLE_JSON).
UNSTORABLE = ["NaN", "-Infinity", "1e999", '"a\\u0000b"', '{"\\ud800": 1}']

CONTENT_TYPES = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=hikeshi",
    "application/xml",
    "application/octet-stream",
    "",
]


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*path, index))


def _at(value, path):
    for step in path:
        value = value[step]
    return value


def _replaced(shape, path, new):
    if not path:
        return new
    body = copy.deepcopy(shape)
    parent = _at(body, path[:-1])
    if new is _DROP:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return body


_DROP = object()


def _instead_of(value) -> st.SearchStrategy:
    """What to put where `value` was: mostly something of its own kind that a parser must
    still refuse or handle (a time in year 1 or at +23:59, a huge number, an odd string)."""
    if isinstance(value, str):
        same_kind = timestamps | st.text(max_size=300)
    elif isinstance(value, bool):
        same_kind = st.booleans()
    elif isinstance(value, int | float):
        same_kind = st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    else:
        same_kind = json_values
    return same_kind | json_values | st.just(_DROP)


def _one_change(shape) -> st.SearchStrategy:
    paths = list(_paths(shape))
    return st.sampled_from(paths).flatmap(
        lambda path: st.builds(
            _replaced, st.just(shape), st.just(path), _instead_of(_at(shape, path))
        )
    )


def mutated(shape) -> st.SearchStrategy:
    """`shape` with a value anywhere in it replaced or dropped, and maybe a second one."""
    once = _one_change(shape).filter(lambda body: body is not _DROP)
    return once | once.flatmap(
        lambda body: _one_change(body) if isinstance(body, dict | list) else st.just(body)
    ).filter(lambda body: body is not _DROP)


def _huge(shape, path, size):
    return json.dumps(_replaced(shape, path, "火" * size)).encode()


def _nested(depth, opener):
    closer = {"[": "]", '{"a":': "}"}[opener]
    return (opener * depth + "1" + closer * depth).encode()


def _not_utf8(raw: bytes, at: int) -> bytes:
    at %= len(raw) + 1
    return raw[:at] + b"\xc3\x28\xff" + raw[at:]


def _unstorable(shape, value: str) -> bytes:
    return (json.dumps(shape)[:-1] + f', "extra": {value}}}').encode()


def raw_bodies(shape: dict) -> st.SearchStrategy[bytes]:
    """Request bodies built around a real payload `shape`: some valid, most not."""

    def dumped(bodies):
        return st.builds(lambda body: json.dumps(body).encode(), bodies)

    paths = [path for path in _paths(shape) if path]
    # Weighted towards the real shape, so that valid-looking bodies get far into the parser.
    return st.one_of(
        dumped(st.just(shape)),
        dumped(mutated(shape)),
        dumped(mutated(shape)),
        dumped(json_values),
        st.builds(
            _huge,
            st.just(shape),
            st.sampled_from(paths),
            st.sampled_from([10_000, 300_000, 1_100_000]),
        ),
        st.builds(_nested, st.integers(1, 100_000), st.sampled_from(["[", '{"a":'])),
        st.builds(_not_utf8, dumped(mutated(shape)), st.integers(0, 10_000)),
        st.builds(_unstorable, st.just(shape), st.sampled_from(UNSTORABLE)),
        st.binary(max_size=200),
    )


def near_misses(shape: dict) -> st.SearchStrategy[bytes]:
    """A real payload with a value or two changed: what a sender with a bug, or a new version,
    posts with the right secret; most get far into the parser, and some are accepted."""
    return st.builds(lambda body: json.dumps(body).encode(), mutated(shape))


content_types = st.sampled_from(
    ["application/json", "application/json; charset=utf-8"]
) | st.sampled_from(CONTENT_TYPES)
