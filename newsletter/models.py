"""Imports every domain's models so the metadata (and Alembic) sees the whole schema."""

from __future__ import annotations

import sqlite3
from typing import Any

import sqlalchemy as sa
from flask import Flask

from newsletter.admin.models import User
from newsletter.alerts.models import Alert, AlertArea, AlertMessage, AlertRendition
from newsletter.api.models import ApiToken
from newsletter.articles.models import Article, ArticleMunicipality, ArticleTopic, Source
from newsletter.audit import AuditEntry
from newsletter.delivery.models import Delivery
from newsletter.digests.models import Digest, DigestArticle
from newsletter.feedback.models import PageRating
from newsletter.push.models import PushSubscription
from newsletter.reference.models import Municipality, Topic
from newsletter.scheduling.models import JobRun
from newsletter.subscriptions.models import ConsentEvent, Subscriber, Subscription

__all__ = [
    "Alert",
    "AlertArea",
    "AlertMessage",
    "AlertRendition",
    "ApiToken",
    "Article",
    "ArticleMunicipality",
    "ArticleTopic",
    "AuditEntry",
    "ConsentEvent",
    "Delivery",
    "Digest",
    "DigestArticle",
    "JobRun",
    "Municipality",
    "PageRating",
    "PushSubscription",
    "Source",
    "Subscriber",
    "Subscription",
    "Topic",
    "User",
]


@sa.event.listens_for(sa.engine.Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """SQLite needs foreign keys switched on (cascades) and WAL for web + worker side by side."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def init_app(app: Flask) -> None:
    """Nothing to bind: importing this module registers the models."""
