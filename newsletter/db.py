"""Declarative base shared by every domain: naming convention, UTC timestamps, string enums."""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, MappedColumn, mapped_column, registry

M = TypeVar("M")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Stores UTC and always hands back an aware UTC datetime, on SQLite as on PostgreSQL.

    Naive values are refused: a naive time is a bug waiting for the next DST change.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def str_enum(enum_cls: type[enum.Enum], name: str) -> sa.Enum:
    """A portable enum: VARCHAR plus a named CHECK constraint, storing the member values."""
    return sa.Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(str(m.value)) for m in enum_cls) + 4,
        values_callable=lambda e: [str(m.value) for m in e],
        validate_strings=True,
    )


def link_key(target: str, *, index: bool = False) -> MappedColumn[Any]:
    """One half of a link table's key: the row goes when the row it points to goes."""
    return mapped_column(sa.ForeignKey(target, ondelete="CASCADE"), primary_key=True, index=index)


class Base(DeclarativeBase):
    registry = registry(
        metadata=sa.MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime(), dict[str, Any]: sa.JSON()},
    )


def get_or_404(model: type[M], ident: Any, message: str | None = None) -> M:
    """The row with this primary key, or NotFound (a 404 page, a 404 JSON, one CLI line)."""
    from newsletter.exceptions import NotFound
    from newsletter.extensions import db

    found = db.session.get(model, ident)
    if found is None:
        name = getattr(model, "__tablename__", model.__name__).replace("_", " ")
        raise NotFound(message or f"no {name} {ident}", {name.replace(" ", "_"): ident})
    return found


def rows_table(
    dialect: str,
    name: str,
    columns: Sequence[tuple[str, sa.types.TypeEngine[Any]]],
    rows: Sequence[Sequence[Any]],
) -> sa.FromClause:
    """Python rows as a table for one ``INSERT ... SELECT`` / ``UPDATE ... FROM``: the rows
    travel as one JSON text, encoded by ``json.dumps`` in C and decoded by the database
    (PostgreSQL's ``json_to_recordset``, SQLite's ``json_each``), so 20,000 rows are one
    parameter, not 20,000 statement executions or 200,000 placeholders (nor a driver's
    per-element array encoding, which costs more than the JSON). Values are JSON-able (str,
    str enums, int, bool, None, dicts for JSON columns); ``rows`` match ``columns`` in order."""
    names = [n for n, _type in columns]
    if dialect == "postgresql":
        text = json.dumps([dict(zip(names, row, strict=True)) for row in rows])
        document = sa.cast(sa.literal(text, sa.Text()), postgresql.JSON())
        table = sa.func.json_to_recordset(document).table_valued(
            *(sa.column(n, t) for n, t in columns)
        )
        return table.render_derived(name=name, with_types=True)
    if len(columns) == 1:  # a plain JSON array of values
        [(column, type_)] = columns
        each = sa.func.json_each(json.dumps([row[0] for row in rows])).table_valued("value")
        return sa.select(sa.type_coerce(each.c.value, type_).label(column)).subquery(name)
    each = sa.func.json_each(json.dumps(rows)).table_valued("value")
    return sa.select(
        *(
            sa.type_coerce(sa.func.json_extract(each.c.value, f"$[{i}]"), type_).label(n)
            for i, (n, type_) in enumerate(columns)
        )
    ).subquery(name)
