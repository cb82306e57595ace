"""/api/v1: HTTP only; validation and storage live in the articles and api services."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps
from importlib.metadata import PackageNotFoundError, version
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, g, jsonify, request

from newsletter.api import openapi
from newsletter.api import service as tokens
from newsletter.api.subscribers import parse_subscriber, subscriber_dict
from newsletter.articles import service as articles
from newsletter.audit import Actor
from newsletter.exceptions import NotFound, ValidationError
from newsletter.reference.service import list_topics, municipality_names
from newsletter.subscriptions import roster

bp = Blueprint("api", __name__, url_prefix="/api/v1")
F = TypeVar("F", bound=Callable[..., Any])
_INTEGER = re.compile(r"-?[0-9]{1,9}")


class BadRequest(ValidationError):
    status_code = 400


def token_required(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g.api_token = tokens.authenticate(request.headers.get("Authorization"))
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


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


@bp.get("/openapi.json")
def openapi_document() -> Response:
    slugs = [topic.slug for topic in list_topics()]
    limit = int(current_app.config["API_ARTICLES_MAX_LIMIT"])
    return jsonify(openapi.document(slugs, limit, _version(), municipality_names()))


@bp.get("/topics")
@token_required
def topics() -> Response:
    return jsonify(
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


@bp.get("/articles")
@token_required
def list_articles() -> Response:
    errors: dict[str, str] = {}
    topic = request.args.get("topic")
    if topic is not None and topic not in {t.slug for t in list_topics()}:
        errors["topic"] = f"unknown topic: {topic}"
    since = None
    if "since" in request.args:
        try:
            since = articles.parse_datetime(request.args["since"])
        except ValueError as exc:
            errors["since"] = str(exc)
    limit = 20
    max_limit = int(current_app.config["API_ARTICLES_MAX_LIMIT"])
    if "limit" in request.args:
        raw = request.args["limit"]
        if not _INTEGER.fullmatch(raw) or not 1 <= int(raw) <= max_limit:
            errors["limit"] = f"must be an integer from 1 to {max_limit}"
        else:
            limit = int(raw)
    if errors:
        first, message = next(iter(errors.items()))
        raise BadRequest(f"{first} {message}", errors)
    found = articles.list_articles(topic=topic, since=since, limit=limit)
    return jsonify({"articles": [articles.article_dict(a) for a in found]})


@bp.post("/articles")
@token_required
def upsert_article() -> tuple[Response, int]:
    data = request.get_json(silent=True)
    if data is None:
        raise BadRequest(
            "the body must be a JSON object (Content-Type: application/json)",
            {"body": "not JSON"},
        )
    item = articles.parse_article(data)
    source = tokens.source_of(g.api_token)
    article, created = articles.upsert_and_commit(source, item)
    return jsonify(articles.article_dict(article)), 201 if created else 200


@bp.post("/subscribers")
@token_required
def add_subscriber() -> tuple[Response, int]:
    """Operators add institutional addresses: active at once, no double opt-in."""
    data = request.get_json(silent=True)
    if data is None:
        raise BadRequest(
            "the body must be a JSON object (Content-Type: application/json)",
            {"body": "not JSON"},
        )
    entry = parse_subscriber(data, [t.slug for t in list_topics()])
    try:
        subscriber, created = roster.upsert_by_operator(
            entry, actor=Actor.of_token(g.api_token.name), channel="api"
        )
    except NotFound as exc:
        raise ValidationError(exc.message, {"municipality": exc.message}) from None
    return jsonify(subscriber_dict(subscriber)), 201 if created else 200
