"""Set-based inserts and saves for the hot paths (a sweep firing thousands of levels at once,
the alert processor's batch).

On PostgreSQL the rows travel as one array per column and land through
`INSERT … SELECT … FROM unnest(…)` (or `UPDATE … FROM unnest(…)`): a handful of parameters
instead of one per value, which is where Django's `bulk_create` spends its time on large
batches. Elsewhere (SQLite, the embedded default) it is `bulk_create` (`bulk_update`), which
is fast enough there.

The statement runs on the connection's own psycopg cursor, inside whatever transaction is
open, but outside Django's query logging (`connection.queries`, assertNumQueries).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TypeVar

import psycopg
from django.db import connection, models

M = TypeVar("M", bound=models.Model)


def _column(field: models.Field, objs: Sequence[models.Model], *, add: bool = True) -> list:
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        values = [field.pre_save(obj, add=add) for obj in objs]
    else:
        values = [getattr(obj, field.attname) for obj in objs]
    if isinstance(field, models.JSONField):
        return [None if v is None else json.dumps(v, cls=field.encoder) for v in values]
    return values


def bulk_insert(objs: Sequence[M]) -> list[M]:
    """Insert model instances (no signals, like bulk_create) and set their primary keys."""
    if not objs:
        return list(objs)
    model = type(objs[0])
    if connection.vendor != "postgresql":
        return model.objects.bulk_create(objs)
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key and not f.generated]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    arrays = ", ".join(f"%b::{f.db_type(connection)}[]" for f in fields)
    pk = connection.ops.quote_name(meta.pk.column)
    sql = (
        f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({columns}) "  # noqa: S608 # nosec B608 # names from the model, quoted; values are bound parameters
        f"SELECT {columns} FROM unnest({arrays}) WITH ORDINALITY AS s({columns}, n) "
        f"ORDER BY n RETURNING {pk}"
    )
    connection.ensure_connection()
    # A server-binding cursor: arrays go over the wire in binary, nothing is quoted in Python.
    # RETURNING follows the insert's ORDER BY n, as bulk_create relies on for a VALUES list.
    # Django's error classes, as its own cursors raise them: a lost connection is the
    # OperationalError that callers (and the 503 answer) expect, and Django marks it unusable.
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, [_column(f, objs) for f in fields])
        ids = [row[0] for row in cursor.fetchall()]
    for obj, pk_value in zip(objs, ids, strict=True):
        obj.pk = pk_value
        obj._state.adding = False
        obj._state.db = connection.alias
    return list(objs)


def bulk_save(objs: Sequence[M]) -> None:
    """Save existing model instances, every column as `save()` would (no signals), in one
    `UPDATE … FROM unnest(…)` on PostgreSQL; `bulk_update` elsewhere."""
    if not objs:
        return
    model = type(objs[0])
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key and not f.generated]
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objs, [f.name for f in fields])
        return
    quote = connection.ops.quote_name
    pk = meta.pk
    columns = ", ".join(quote(f.column) for f in [pk, *fields])
    arrays = ", ".join(f"%b::{f.db_type(connection)}[]" for f in [pk, *fields])
    assignments = ", ".join(f"{quote(f.column)} = s.{quote(f.column)}" for f in fields)
    table = quote(meta.db_table)
    sql = (
        f"UPDATE {table} SET {assignments} FROM unnest({arrays}) AS s({columns}) "  # noqa: S608 # nosec B608 # names from the model, quoted; values are bound parameters
        f"WHERE {table}.{quote(pk.column)} = s.{quote(pk.column)}"
    )
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, [_column(f, objs, add=False) for f in [pk, *fields]])
