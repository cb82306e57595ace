"""/api/v1: HTTP only; validation and storage live in the articles and api services."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from importlib.metadata import PackageNotFoundError, version
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, g, jsonify, request

from newsletter import schemas
from newsletter.alerts import service as alerts
from newsletter.alerts.schemas import (
    AlertAccepted,
    AlertIn,
    AlertList,
    AlertUpdateIn,
    PublicStatus,
    ReasonIn,
)
from newsletter.api import openapi
from newsletter.api import service as tokens
from newsletter.api.schemas import AlertQuery, ArticleQuery, QueryContext, TopicList
from newsletter.articles import service as articles
from newsletter.audit import Actor
from newsletter.exceptions import ValidationError
from newsletter.extensions import db
from newsletter.reference.service import list_topics, municipality_names
from newsletter.subscriptions import roster
from newsletter.subscriptions.schemas import SubscriberOut

bp = Blueprint("api", __name__, url_prefix="/api/v1")
F = TypeVar("F", bound=Callable[..., Any])


class BadRequest(ValidationError):
    status_code = 400


def token_required(scope: str | None = None) -> Callable[[F], F]:
    """A live Bearer token (401), holding ``scope`` when one is named (403)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = tokens.authenticate(request.headers.get("Authorization"))
            if scope is not None:
                tokens.require_scope(token, scope)
            g.api_token = token
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


@bp.after_request
def _unauthorized_header(response: Response) -> Response:
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="newsletter"'
    return response


def _version() -> str:
    try:
        return version("newsletter-cremasco")
    except PackageNotFoundError:
        return "0"


def _json_body() -> Any:
    data = request.get_json(silent=True)
    if data is None:
        raise BadRequest(
            "the body must be a JSON object (Content-Type: application/json)",
            {"body": "not JSON"},
        )
    return data


@bp.get("/openapi.json")
def openapi_document() -> Response:
    slugs = [topic.slug for topic in list_topics()]
    limit = int(current_app.config["API_ARTICLES_MAX_LIMIT"])
    return jsonify(openapi.document(slugs, limit, _version(), municipality_names()))


@bp.get("/topics")
@token_required()
def topics() -> Response:
    listed = TopicList.model_validate(
        {
            "topics": [
                {
                    "slug": t.slug,
                    "name": {"it": t.name_it, "en": t.name_en},
                    "description": {"it": t.description_it, "en": t.description_en},
                }
                for t in list_topics()
            ]
        }
    )
    return jsonify(schemas.dump(listed))


@bp.get("/articles")
@token_required()
def list_articles() -> Response:
    context = QueryContext(
        topics=frozenset(t.slug for t in list_topics()),
        max_limit=int(current_app.config["API_ARTICLES_MAX_LIMIT"]),
    )
    try:
        query = schemas.validate(ArticleQuery, request.args.to_dict(), context=context)
    except ValidationError as exc:
        raise BadRequest(exc.message, exc.details) from None
    found = articles.list_articles(
        topic=query.topic, since=query.since_time, limit=query.limit_value
    )
    return jsonify({"articles": [articles.article_dict(a) for a in found]})


@bp.post("/articles")
@token_required("articles")
def upsert_article() -> tuple[Response, int]:
    item = articles.parse_article(_json_body())
    source = tokens.source_of(g.api_token)
    article, created = articles.upsert_and_commit(source, item)
    return jsonify(articles.article_dict(article)), 201 if created else 200


@bp.post("/subscribers")
@token_required("subscribers")
def add_subscriber() -> tuple[Response, int]:
    """Operators add people by the roster's rules (subscriptions.roster): institutions active
    at once, citizens active only with proof of consent, departed addresses only with
    ``reactivate``."""
    entry = roster.parse_entry(_json_body(), roster.load_lookups())
    subscriber, created = roster.upsert_by_operator(
        entry, actor=Actor.of_token(g.api_token.name), channel="api"
    )
    out = SubscriberOut(
        id=subscriber.id,
        email=subscriber.email,
        name=subscriber.name,
        role=subscriber.role,
        municipality=subscriber.municipality.name if subscriber.municipality else None,
        topics=subscriber.topic_slugs,
        frequency=subscriber.frequency,
        locale=subscriber.locale,
        local_news=subscriber.local_news,
        alerts=subscriber.alerts,
        status=subscriber.status,
    )
    return jsonify(schemas.dump(out)), 201 if created else 200


# --- alerts: issued here, approved (when severe) by a second person in the admin area ---------


def _accepted(alert_id: int, message: int | None, status: PublicStatus, code: int) -> Any:
    out = AlertAccepted(id=alert_id, identifier=f"AOC-{alert_id}", message=message, status=status)
    return jsonify(schemas.dump(out)), code


def _token_actor() -> Actor:
    return Actor.of_token(g.api_token.name)


@bp.post("/alerts")
@token_required("alerts")
def issue_alert() -> Any:
    """201 ``sent``, or ``awaiting_approval`` for severe and extreme alerts: a token never
    releases those alone (no override through the API)."""
    data = schemas.validate(AlertIn, _json_body())
    message = alerts.issue(data, actor=_token_actor())
    db.session.commit()
    return _accepted(message.alert_id, message.sequence, alerts.public_status(message), 201)


@bp.get("/alerts")
@token_required("alerts")
def list_alerts() -> Response:
    try:
        query = schemas.validate(AlertQuery, request.args.to_dict())
    except ValidationError as exc:
        raise BadRequest(exc.message, exc.details) from None
    listed = AlertList(alerts=alerts.describe(alerts.recent_alerts(query.limit_value)))
    return jsonify(schemas.dump(listed))


@bp.get("/alerts/<int:id>")
@token_required("alerts")
def get_alert(id: int) -> Response:
    return jsonify(schemas.dump(alerts.describe([alerts.get_alert(id)])[0]))


@bp.post("/alerts/<int:id>/update")
@token_required("alerts")
def update_alert(id: int) -> Any:
    """A follow-up with the alert's whole new content (and ``note``: what changed)."""
    data = schemas.validate(AlertUpdateIn, _json_body())
    message = alerts.update(id, data, actor=_token_actor(), note=data.note)
    db.session.commit()
    return _accepted(id, message.sequence, alerts.public_status(message), 201)


@bp.post("/alerts/<int:id>/cancel")
@token_required("alerts")
def cancel_alert(id: int) -> Any:
    """Goes out at once; an alert still awaiting approval is withdrawn (nothing was sent)."""
    reason = schemas.validate(ReasonIn, _json_body()).reason
    message = alerts.cancel(id, actor=_token_actor(), note=reason)
    db.session.commit()
    if message is None:
        return _accepted(id, None, "withdrawn", 200)
    return _accepted(id, message.sequence, alerts.public_status(message), 200)
