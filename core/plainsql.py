"""Plain parameterised SQL for the few reads run on every poll (the token check, the job's row,
a queued job's place).

Building a queryset and compiling it to SQL costs about 1 ms of CPU per query here, several times
the query itself, so the hottest reads are written in SQL once. A `Select` names its model, the
fields it reads and the SQL after `FROM <table>` (joins, WHERE, ORDER BY) with `%s` placeholders,
which Django's cursor turns into the database's own (SQLite `?`, PostgreSQL `%s`). Nothing here
touches the ORM's query machinery: table and column names come from the model's `_meta` (its
documented API), and the values the two databases return differently are converted here:

| field | SQLite gives | PostgreSQL gives | here |
|---|---|---|---|
| UUID | 32 hex digits | `UUID` | `UUID` |
| datetime | naive, in the connection's time zone | aware | aware (USE_TZ) |
| JSON | text | text | `json.loads` with the field's decoder |
| decimal | int or float | `Decimal` | `Decimal` with the field's decimal places |
| boolean | `bool` | `bool` | `bool` |

Parameters go through `param()`: a UUID is sent as the database stores it. Statements run again
and again with other values (these, and the engine's claim and status changes) take their cursor
from `statement_cursor()`: prepared on PostgreSQL. A `Select` there also asks for its rows in
PostgreSQL's binary format, which psycopg reads in C: Django's loader for `timestamptz` text is
Python (50 job rows: 0.35 against 1.1–1.3 ms to run and read); a JSON value then comes as its
text, decoded here as above.
tests/core/test_plainsql.py runs every query of the product on both databases against the ORM.
"""

import decimal
import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from uuid import UUID

from django.conf import settings
from django.db import connections
from django.db.models import Model
from django.utils import timezone
from django.utils.dateparse import parse_datetime

_FLOAT_TO_DECIMAL = decimal.Context(prec=15).create_decimal_from_float


def quoted(name: str) -> str:
    """An SQL identifier (standard double quotes: SQLite and PostgreSQL alike)."""
    return '"' + name.replace('"', '""') + '"'


def param(value, using: str = "default"):
    """A query parameter as the database compares it (a UUID column is char(32) on SQLite, a
    datetime naive UTC text)."""
    connection = connections[using]
    if isinstance(value, UUID) and not connection.features.has_native_uuid_field:
        return value.hex
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    return value


@contextmanager
def statement_cursor(using: str = "default", *, binary_rows: bool = False) -> Iterator:
    """A cursor for a fixed statement run again and again with other values. On PostgreSQL with
    `prepare_threshold` among the database's OPTIONS (settings: on unless EF_DB_POOLER), one
    that binds its values on the server, which psycopg prepares from the statement's
    `prepare_threshold`-th run on a connection: PostgreSQL then parses and plans it once per
    connection instead of at every run (a third of its CPU time on the claim and the status
    changes every job makes). Django's own cursors bind on the client and are never prepared.
    Elsewhere, and while Django logs queries (DEBUG, a test capturing them: its log shows a
    statement with its values, which a prepared run does not give it), Django's own cursor.
    Either way wrapped as Django wraps its cursors (execute wrappers, its database errors).
    `binary_rows`: the prepared cursor's rows come in the binary format (`_binary_rows`)."""
    connection = connections[using]
    if not _prepares(connection) or connection.queries_logged:
        with connection.cursor() as cursor:
            yield cursor
        return
    from django.db.backends.postgresql.base import ServerBindingCursor  # PostgreSQL's only

    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        raw = ServerBindingCursor(connection.connection)
    if binary_rows:
        _binary_rows(raw)
    connection.validate_thread_sharing()
    with connection.make_cursor(raw) as cursor:
        yield cursor


def _binary_rows(cursor) -> None:
    """Rows in the binary format, each value typed by psycopg's C loaders as the text format's
    are, except JSON: left as its text (the field's decoder reads it, `_json`)."""
    from psycopg import pq

    cursor.format = pq.Format.BINARY
    cursor.adapters.register_loader("jsonb", _jsonb_text_loader())


@functools.cache
def _jsonb_text_loader():
    """psycopg's loader class for binary jsonb giving its JSON text (psycopg is imported only
    where PostgreSQL is used)."""
    from psycopg import DataError, pq
    from psycopg.adapt import Loader

    class JsonbText(Loader):
        format = pq.Format.BINARY

        def load(self, data) -> bytes:
            if data[:1] != b"\x01":
                raise DataError(f"unknown jsonb binary format version {bytes(data[:1])!r}")
            return bytes(data[1:])

    return JsonbText


def _prepares(connection) -> bool:
    return (
        connection.vendor == "postgresql"
        and connection.settings_dict["OPTIONS"].get("prepare_threshold") is not None
    )


def _identity(value, connection):
    return value


def _uuid(value, connection):
    return value if value is None or isinstance(value, UUID) else UUID(value)


def _datetime(value, connection):
    if isinstance(value, str):
        value = parse_datetime(value)
    if isinstance(value, datetime) and settings.USE_TZ and timezone.is_naive(value):
        value = timezone.make_aware(value, connection.timezone)
    return value


def _json(decoder):
    def convert(value, connection):
        return json.loads(value, cls=decoder) if isinstance(value, str | bytes) else value

    return convert


def _decimal(places: int, context: decimal.Context):
    step = decimal.Decimal(1).scaleb(-places)

    def convert(value, connection):
        if value is None or isinstance(value, decimal.Decimal):
            return value
        return _FLOAT_TO_DECIMAL(value).quantize(step, context=context)

    return convert


def _bool(value, connection):
    return value if value is None else bool(value)


def _converter(field) -> Callable:
    kind = (
        field.target_field.get_internal_type() if field.is_relation else field.get_internal_type()
    )
    if kind == "UUIDField":
        return _uuid
    if kind == "DateTimeField":
        return _datetime
    if kind == "JSONField":
        return _json(field.decoder)
    if kind == "DecimalField":
        return _decimal(field.decimal_places, decimal.Context(prec=field.max_digits))
    if kind == "BooleanField":
        return _bool
    return _identity


class Select:
    """`SELECT <fields> FROM <model's table> <rest>`; rows are dicts keyed by field name.

    `fields` are field names or attnames (`owner_id`) of `model`; `rest` may join other tables
    (name them by their table) and must use `%s` for every parameter."""

    def __init__(self, model: type[Model], fields: list[str], rest: str, using: str = "default"):
        meta = model._meta
        table = quoted(meta.db_table)
        found = [meta.get_field(name) for name in fields]
        columns = ", ".join(f"{table}.{quoted(field.column)}" for field in found)
        # Names come from the model, the rest is a constant written with %s parameters.
        self.sql = f"SELECT {columns} FROM {table} {rest}"  # noqa: S608
        self.names = list(fields)
        self.converters = [_converter(field) for field in found]
        self.using = using

    def fetch(self, *params) -> list[dict]:
        connection = connections[self.using]
        with statement_cursor(self.using, binary_rows=True) as cursor:
            cursor.execute(self.sql, [param(p, self.using) for p in params])
            rows = cursor.fetchall()
        pairs = list(zip(self.names, self.converters, strict=True))
        return [
            {
                name: convert(value, connection)
                for (name, convert), value in zip(pairs, row, strict=True)
            }
            for row in rows
        ]

    def first(self, *params) -> dict | None:
        rows = self.fetch(*params)
        return rows[0] if rows else None


class Count:
    """`SELECT COUNT(*) FROM <model's table> <rest>`, `rest` as in Select."""

    def __init__(self, model: type[Model], rest: str, using: str = "default"):
        # The table's name comes from the model, the rest is a constant written with %s.
        self.sql = f"SELECT COUNT(*) FROM {quoted(model._meta.db_table)} {rest}"  # noqa: S608
        self.using = using

    def value(self, *params) -> int:
        with statement_cursor(self.using) as cursor:
            cursor.execute(self.sql, [param(p, self.using) for p in params])
            return cursor.fetchone()[0]
