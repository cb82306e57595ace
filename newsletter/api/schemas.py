"""The API's own shapes: topics, lists, errors and the query of ``GET /articles``. Articles and
subscribers are declared by their domains (``articles.schemas``, ``subscriptions.schemas``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, WithJsonSchema, field_validator

from newsletter.articles.schemas import TOPIC_SLUG, ArticleOut
from newsletter.articles.service import parse_datetime

_INTEGER = re.compile(r"-?[0-9]{1,9}")
DEFAULT_LIMIT = 20
MAX_ALERTS = 100


def _check_limit(value: str | None, maximum: int) -> str | None:
    """``limit`` as a query string gives it: digits, from 1 to ``maximum``."""
    if value is not None and (not _INTEGER.fullmatch(value) or not 1 <= int(value) <= maximum):
        raise ValueError(f"must be an integer from 1 to {maximum}")
    return value


@dataclass(frozen=True)
class QueryContext:
    topics: frozenset[str]
    max_limit: int


class Localized(BaseModel):
    model_config = ConfigDict(title="Localized")

    it: str
    en: str


class TopicOut(BaseModel):
    model_config = ConfigDict(title="Topic", extra="forbid")

    slug: str
    name: Localized
    description: Localized


class TopicList(BaseModel):
    model_config = ConfigDict(title="TopicList")

    topics: list[TopicOut]


class ArticleList(BaseModel):
    model_config = ConfigDict(title="ArticleList")

    articles: list[ArticleOut]


class ErrorOut(BaseModel):
    """Every 4xx answer: a sentence, and per-field messages (or null)."""

    model_config = ConfigDict(title="Error")

    error: str
    details: Annotated[Any, Field(description="per-field messages, or null")]


class ArticleQuery(BaseModel):
    """``GET /api/v1/articles?topic=&since=&limit=``: query strings, checked here."""

    topic: Annotated[str | None, WithJsonSchema(TOPIC_SLUG)] = None
    since: Annotated[
        str | None,
        WithJsonSchema(
            {"type": "string", "format": "date-time", "description": "published at or after"}
        ),
    ] = None
    limit: Annotated[
        str | None,
        WithJsonSchema(
            {"type": "integer", "minimum": 1, "x-maximum": "articles", "default": DEFAULT_LIMIT}
        ),
    ] = None

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str | None, info: ValidationInfo) -> str | None:
        context = info.context
        if value is not None and isinstance(context, QueryContext) and value not in context.topics:
            raise ValueError(f"unknown topic: {value}")
        return value

    @field_validator("since")
    @classmethod
    def _since(cls, value: str | None) -> str | None:
        if value is not None:
            parse_datetime(value)  # ValueError names the format
        return value

    @field_validator("limit")
    @classmethod
    def _limit(cls, value: str | None, info: ValidationInfo) -> str | None:
        context = info.context
        return _check_limit(value, context.max_limit if isinstance(context, QueryContext) else 200)

    @property
    def since_time(self) -> datetime | None:
        return parse_datetime(self.since) if self.since is not None else None

    @property
    def limit_value(self) -> int:
        return int(self.limit) if self.limit is not None else DEFAULT_LIMIT


class AlertQuery(BaseModel):
    """``GET /api/v1/alerts?limit=``: the newest alerts, whatever their state."""

    limit: Annotated[
        str | None,
        WithJsonSchema(
            {"type": "integer", "minimum": 1, "maximum": MAX_ALERTS, "default": DEFAULT_LIMIT}
        ),
    ] = None

    @field_validator("limit")
    @classmethod
    def _limit(cls, value: str | None) -> str | None:
        return _check_limit(value, MAX_ALERTS)

    @property
    def limit_value(self) -> int:
        return int(self.limit) if self.limit is not None else DEFAULT_LIMIT
