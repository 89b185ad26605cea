"""A job's conditional update, and the row as written, in one plain SQL statement.

`transitions.transition` changes a status with `UPDATE <job> SET ... WHERE id = ... AND status IN
(...) [AND <where>] RETURNING <every column>` (PostgreSQL; SQLite 3.35+): one round trip where an
update and a read take two. Every job a worker runs makes two of them (its claim, its end), and
building them with the ORM costs several times the statements (core.plainsql says the same of
the polling path), so the plain values, `F(name) + n`, and conditions made of `=`, `<`, `<=`,
`>`, `>=` and `isnull` joined by AND/OR are written here; anything else goes through the ORM's
compiler, as does everything on an older SQLite. tests/jobs/test_job_update.py compares the
two paths. On PostgreSQL the change's event row is inserted by the same statement.
"""

from django.db import connections
from django.db.models import F, Q, Value, sql
from django.db.models.expressions import CombinedExpression

from core.plainsql import quoted, statement_cursor
from jobs.models import Job
from jobs.services.events import job_event_insert_from, job_event_record

_META = Job._meta
_OPERATORS = {"exact": "=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
_RETURNING = ", ".join(quoted(f.column) for f in _META.concrete_fields)
_converters: dict[str, list] = {}


class _NotPlain(Exception):
    """Something only the ORM's compiler writes."""


def update_returning(
    job_id, allowed, fields: dict, where: Q | None = None, *, event: tuple[str, str] | None = None
) -> Job | None:
    """Set `fields` on job `job_id` when its status is one of `allowed` (and `where` holds);
    the row as written, or None when no row matched. `event`: (kind, worker) of the event
    appended when it changed (`events.job_event_record`); on PostgreSQL in the same statement
    (a data-modifying CTE: one round trip less per change)."""
    connection = connections["default"]
    if not connection.features.can_return_columns_from_insert:  # an older SQLite
        job = _orm_update_then_read(job_id, allowed, fields, where)
        return _with_event(job, event)
    try:
        statement, params = _plain(connection, job_id, allowed, fields, where)
    except _NotPlain:
        statement, params = _compiled(job_id, allowed, fields, where)
    statement = f"{statement} RETURNING {_RETURNING}"
    with_event = event is not None and connection.vendor == "postgresql"
    if with_event:
        insert, insert_params = job_event_insert_from("changed", kind=event[0], worker=event[1])
        statement = (
            f"WITH changed AS ({statement}), event AS ({insert}) "  # noqa: S608  (names, marks)
            f"SELECT {_RETURNING} FROM changed"
        )
        params = [*params, *insert_params]
    with statement_cursor() as cursor:
        cursor.execute(statement, params)
        found = cursor.fetchall()
    job = _job_from_row(connection, found[0]) if found else None
    return job if with_event else _with_event(job, event)


def _with_event(job: Job | None, event: tuple[str, str] | None) -> Job | None:
    if job is not None and event is not None:
        job_event_record(job=job, kind=event[0], worker=event[1])
    return job


def _plain(connection, job_id, allowed, fields: dict, where: Q | None) -> tuple[str, list]:
    sets, params = [], []
    for name, value in fields.items():
        field = _META.get_field(name)
        column = quoted(field.column)
        if isinstance(value, CombinedExpression):
            sets.append(f"{column} = {column} + %s")
            params.append(_increment(value, name))
        elif hasattr(value, "resolve_expression"):
            raise _NotPlain(name)
        else:
            sets.append(f"{column} = %s")
            params.append(field.get_db_prep_save(value, connection))
    statuses = [getattr(status, "value", status) for status in allowed]
    conditions = [
        f"{quoted(_META.pk.column)} = %s",
        f"{quoted(_col('status'))} IN ({_marks(statuses)})",
    ]
    params += [_META.pk.get_db_prep_value(job_id, connection), *statuses]
    if where is not None:
        condition, where_params = _condition(connection, where)
        conditions.append(condition)
        params += where_params
    table = quoted(_META.db_table)
    statement = f"UPDATE {table} SET {', '.join(sets)} WHERE {' AND '.join(conditions)}"  # noqa: S608
    return statement, params


def _increment(value: CombinedExpression, name: str):
    """n of `F(name) + n`; anything else is not plain."""
    if (
        value.connector == "+"
        and isinstance(value.lhs, F)
        and value.lhs.name == name
        and isinstance(value.rhs, Value)
        and isinstance(value.rhs.value, int)
    ):
        return value.rhs.value
    raise _NotPlain(name)


def _col(name: str) -> str:
    return _META.get_field(name).column


def _marks(values) -> str:
    return ", ".join(["%s"] * len(values))


def _condition(connection, q: Q) -> tuple[str, list]:
    if q.negated or q.connector not in ("AND", "OR") or not q.children:
        raise _NotPlain(repr(q))
    parts, params = [], []
    for child in q.children:
        if isinstance(child, Q):
            part, part_params = _condition(connection, child)
        else:
            part, part_params = _lookup(connection, *child)
        parts.append(part)
        params += part_params
    return "(" + f" {q.connector} ".join(parts) + ")", params


def _lookup(connection, lookup: str, value) -> tuple[str, list]:
    name, _, kind = lookup.partition("__")
    kind = kind or "exact"
    field = _META.get_field(name)
    column = quoted(field.column)
    if kind == "isnull" and isinstance(value, bool):
        return f"{column} IS {'' if value else 'NOT '}NULL", []
    if kind not in _OPERATORS or value is None or hasattr(value, "resolve_expression"):
        raise _NotPlain(lookup)
    prepared = field.get_db_prep_value(field.get_prep_value(value), connection, prepared=True)
    return f"{column} {_OPERATORS[kind]} %s", [prepared]


def _compiled(job_id, allowed, fields: dict, where: Q | None) -> tuple[str, list]:
    rows = _rows(job_id, allowed, where)
    query = rows.query.chain(sql.UpdateQuery)
    query.add_update_values(fields)
    statement, params = query.get_compiler(rows.db).as_sql()
    return statement, list(params)


def _rows(job_id, allowed, where: Q | None):
    rows = Job.objects.filter(id=job_id, status__in=allowed)
    return rows if where is None else rows.filter(where)


def _orm_update_then_read(job_id, allowed, fields: dict, where: Q | None) -> Job | None:
    return Job.objects.get(id=job_id) if _rows(job_id, allowed, where).update(**fields) else None


def _job_from_row(connection, row) -> Job:
    """The values as a SELECT of the model would give them (UUIDs, datetimes, JSON, decimals)."""
    converters = _converters.get(connection.alias)
    if converters is None:
        compiler = Job.objects.all().query.get_compiler(connection.alias)
        found = compiler.get_converters([f.get_col(_META.db_table) for f in _META.concrete_fields])
        converters = _converters[connection.alias] = [
            (i, [*fns], expression) for i, (fns, expression) in found.items()
        ]
    values = list(row)
    for i, fns, expression in converters:
        for convert in fns:
            values[i] = convert(values[i], expression, connection)
    return Job.from_db(connection.alias, [f.attname for f in _META.concrete_fields], values)
