"""API tokens: random, shown once, stored as a sha256 hash, each tied to its own push Source."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa

from newsletter import audit
from newsletter.api.models import ApiToken
from newsletter.articles.models import Source, SourceKind
from newsletter.audit import Actor
from newsletter.db import utcnow
from newsletter.exceptions import Conflict, Forbidden, NotFound, Unauthorized, ValidationError
from newsletter.extensions import db

TOUCH_EVERY = timedelta(minutes=5)  # last_used_at precision: no write on every request
# What a token may do. ``articles``: push articles (the CMS, and the default); ``subscribers``:
# add people through POST /api/v1/subscribers; ``alerts``: publish alerts. Reading topics and
# articles needs a live token of any scope.
SCOPES = ("articles", "subscribers", "alerts")
DEFAULT_SCOPES = ("articles",)


def check_scopes(scopes: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """The scopes in canonical order (default: articles); an unknown one is a ValidationError."""
    wanted = [s.strip().lower() for s in (scopes or ()) if s.strip()] or list(DEFAULT_SCOPES)
    unknown = sorted(set(wanted) - set(SCOPES))
    if unknown:
        raise ValidationError(
            f"unknown scope: {', '.join(unknown)} (choose from {', '.join(SCOPES)})",
            {"scope": unknown},
        )
    return tuple(s for s in SCOPES if s in wanted)


def require_scope(token: ApiToken, scope: str) -> None:
    if scope not in token.scope_list:
        raise Forbidden(
            f"this token lacks the {scope!r} scope; create one with "
            f"`newsletter token create NAME --scope {scope}`",
            {"scope": scope, "token_scopes": token.scope_list},
        )


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def create_token(
    name: str, scopes: list[str] | tuple[str, ...] | None = None, *, actor: Actor
) -> tuple[ApiToken, str]:
    """A new token with its scopes (default: articles) and its push Source (named after it,
    so CMSes never share external ids)."""
    name = name.strip()
    granted = check_scopes(scopes)
    if not name or len(name) > 120:
        raise ValidationError("the token name must be 1 to 120 characters", {"name": name})
    if db.session.scalar(sa.select(ApiToken).where(ApiToken.name == name)) is not None:
        raise Conflict(f"a token named {name!r} exists already", {"name": name})
    source = db.session.scalar(sa.select(Source).where(Source.name == name))
    if source is None:
        source = Source(name=name, kind=SourceKind.PUSH, poll=False)
        db.session.add(source)
        db.session.flush()
    elif source.kind != SourceKind.PUSH:
        raise Conflict(f"a {source.kind} source is named {name!r}; choose another token name")
    token = secrets.token_urlsafe(32)
    record = ApiToken(
        name=name,
        token_hash=hash_token(token),
        prefix=token[:8],
        source_id=source.id,
        scopes=" ".join(granted),
    )
    db.session.add(record)
    audit.record(actor, "api_token.create", name, {"scopes": list(granted)})
    db.session.commit()
    return record, token


def revoke_token(name: str, *, actor: Actor) -> ApiToken:
    record = db.session.scalar(sa.select(ApiToken).where(ApiToken.name == name.strip()))
    if record is None:
        raise NotFound(f"no token named {name!r}", {"name": name})
    if record.revoked_at is None:
        record.revoked_at = utcnow()
        audit.record(actor, "api_token.revoke", record.name)
        db.session.commit()
    return record


def list_tokens() -> list[ApiToken]:
    return list(db.session.scalars(sa.select(ApiToken).order_by(ApiToken.name)))


def authenticate(authorization: str | None) -> ApiToken:
    """The live token of an ``Authorization: Bearer ...`` header; Unauthorized otherwise."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("a Bearer token is required", {"authorization": "missing"})
    record = db.session.scalar(
        sa.select(ApiToken).where(ApiToken.token_hash == hash_token(token.strip()))
    )
    if record is None or record.revoked_at is not None:
        raise Unauthorized("invalid or revoked token", {"authorization": "invalid"})
    now = utcnow()
    if record.last_used_at is None or now - record.last_used_at > TOUCH_EVERY:
        record.last_used_at = now
        db.session.commit()
    return record


def source_of(token: ApiToken) -> Source:
    """The token's push Source, recreated if someone deleted it."""
    source = db.session.get(Source, token.source_id) if token.source_id else None
    if source is None:
        name = token.name
        if db.session.scalar(sa.select(Source).where(Source.name == name)) is not None:
            name = f"{token.name} (token {token.id})"
        source = Source(name=name[:120], kind=SourceKind.PUSH, poll=False)
        db.session.add(source)
        db.session.flush()
        token.source_id = source.id
        db.session.commit()
    return source
