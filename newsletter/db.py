"""Declarative base shared by every domain: naming convention, UTC timestamps, string enums."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
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
