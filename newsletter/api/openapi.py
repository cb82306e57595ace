"""The OpenAPI 3.1 document of /api/v1, generated from the schema classes the code validates
and serialises with, so the document and the behaviour cannot drift apart.

Values that live in tables (topic slugs, municipality names) and settings (the largest
``limit``) are marked in the schemas (``x-vocabulary``, ``x-maximum``) and filled in here, per
request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from newsletter.alerts.schemas import (
    AlertAccepted,
    AlertIn,
    AlertList,
    AlertOut,
    AlertUpdateIn,
    ReasonIn,
)
from newsletter.api.schemas import AlertQuery, ArticleList, ArticleQuery, ErrorOut, TopicList
from newsletter.articles.schemas import ArticleIn, ArticleOut
from newsletter.subscriptions.schemas import SubscriberIn, SubscriberOut

REF = "#/components/schemas/{model}"
Mode = Literal["validation", "serialization"]
INPUTS: tuple[type[BaseModel], ...] = (ArticleIn, SubscriberIn, AlertIn, AlertUpdateIn, ReasonIn)
OUTPUTS: tuple[type[BaseModel], ...] = (
    ArticleOut,
    SubscriberOut,
    TopicList,
    ArticleList,
    ErrorOut,
    AlertAccepted,
    AlertOut,
    AlertList,
)
# A path's ``{id}``: the ids a route can match (larger numbers are a 404, see web.IdConverter).
ID_PARAMETER = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
}


@dataclass(frozen=True)
class Operation:
    """One route as the document shows it."""

    path: str
    method: str
    operation_id: str
    summary: str
    responses: dict[int, tuple[str, type[BaseModel] | None]]
    scope: str | None = None  # the token scope it needs; None: any token
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    public: bool = False
    errors: tuple[int, ...] = field(default=(401,))
    description: str | None = None


OPERATIONS = (
    Operation(
        "/api/v1/openapi.json", "get", "getOpenApi", "This document",
        {200: ("OpenAPI 3.1", None)}, public=True, errors=(),
    ),
    Operation(
        "/api/v1/topics", "get", "listTopics", "The topics, in display order",
        {200: ("the topics", TopicList)},
    ),
    Operation(
        "/api/v1/articles", "get", "listArticles", "Visible articles, newest first",
        {200: ("the articles", ArticleList)}, query=ArticleQuery, errors=(400, 401),
    ),
    Operation(
        "/api/v1/articles", "post", "upsertArticle",
        "Create or update one article by (token's source, external_id)",
        {200: ("updated (or unchanged)", ArticleOut), 201: ("created", ArticleOut)},
        scope="articles", body=ArticleIn, errors=(400, 401, 403, 422),
    ),
    Operation(
        "/api/v1/subscribers", "post", "addSubscriber",
        "Add or update a subscriber as an operator: institutions active at once, citizens "
        "active with proof of consent, pending (confirmation mail) without",
        {200: ("updated", SubscriberOut), 201: ("created", SubscriberOut)},
        scope="subscribers", body=SubscriberIn, errors=(400, 401, 403, 409, 422),
    ),
    Operation(
        "/api/v1/alerts", "post", "issueAlert",
        "Issue an urgent alert: sent at once, or (severe, extreme) awaiting a second person's "
        "approval in the admin area",
        {201: ("issued: status sent or awaiting_approval", AlertAccepted)},
        scope="alerts", body=AlertIn, errors=(400, 401, 403, 422),
        description="A token never releases a severe or extreme alert alone. Unknown comuni, "
        "an expiry in the past or before the start: 422 naming the field.",
    ),
    Operation(
        "/api/v1/alerts", "get", "listAlerts", "The newest alerts, whatever their state",
        {200: ("the alerts, newest first", AlertList)},
        scope="alerts", query=AlertQuery, errors=(400, 401, 403),
    ),
    Operation(
        "/api/v1/alerts/{id}", "get", "getAlert", "One alert with its messages",
        {200: ("the alert", AlertOut)}, scope="alerts", errors=(401, 403, 404),
    ),
    Operation(
        "/api/v1/alerts/{id}/update", "post", "updateAlert",
        "A follow-up with the alert's whole new content; severe and extreme ones await "
        "approval again",
        {201: ("the follow-up: status sent or awaiting_approval", AlertAccepted)},
        scope="alerts", body=AlertUpdateIn, errors=(400, 401, 403, 404, 409, 422),
        description="409 when the alert is not published (pending, cancelled, rejected) or "
        "has a message awaiting approval.",
    ),
    Operation(
        "/api/v1/alerts/{id}/cancel", "post", "cancelAlert",
        "Cancel an alert: the cancellation goes out at once (no approval); an alert still "
        "awaiting approval is withdrawn",
        {200: ("status sent (cancellation), or withdrawn (nothing had been sent)",
               AlertAccepted)},
        scope="alerts", body=ReasonIn, errors=(400, 401, 403, 404, 409, 422),
        description="409 when the alert is cancelled or rejected already.",
    ),
)  # fmt: skip


def _components() -> dict[str, Any]:
    pairs: list[tuple[type[BaseModel], Mode]] = [
        *((m, "validation") for m in INPUTS),
        *((m, "serialization") for m in OUTPUTS),
    ]
    _keys, schema = models_json_schema(pairs, ref_template=REF)
    return dict(schema.get("$defs", {}))


def _fill(node: Any, vocabularies: dict[str, list[str]], maxima: dict[str, int]) -> Any:
    """The schema with its ``x-vocabulary`` and ``x-maximum`` markers replaced by values."""
    if isinstance(node, list):
        return [_fill(item, vocabularies, maxima) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _fill(v, vocabularies, maxima) for k, v in node.items()}
    if "x-vocabulary" in out:
        values = vocabularies[out.pop("x-vocabulary")]
        # An empty table allows nothing (an empty enum is not valid JSON Schema).
        out = {**out, "enum": values} if values else {"not": {}}
    if "x-maximum" in out:
        out["maximum"] = maxima[out.pop("x-maximum")]
    return out


def _parameters(query: type[BaseModel]) -> list[dict[str, Any]]:
    schema = query.model_json_schema(ref_template=REF)
    return [
        {"name": name, "in": "query", "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _operation(op: Operation) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, (description, model) in sorted(op.responses.items()):
        schema = {"$ref": REF.format(model=model.__name__)} if model else {"type": "object"}
        responses[str(status)] = _json(description, schema)
    for status in op.errors:
        responses[str(status)] = {"$ref": "#/components/responses/Error"}
    out: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary}
    if op.public:
        out["security"] = []
    if op.scope:
        out["description"] = f"Needs a token with the `{op.scope}` scope (403 otherwise)."
        out["x-token-scope"] = op.scope
    if op.description:
        out["description"] = " ".join(filter(None, (out.get("description"), op.description)))
    parameters = [ID_PARAMETER] if "{id}" in op.path else []
    if op.query is not None:
        parameters += _parameters(op.query)
    if parameters:
        out["parameters"] = parameters
    if op.body is not None:
        ref = {"$ref": REF.format(model=op.body.__name__)}
        out["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref}}}
    out["responses"] = responses
    return out


def document(
    topic_slugs: list[str], max_limit: int, version: str, municipalities: list[str]
) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    raw = {
        "openapi": "3.1.0",
        "info": {
            "title": "Area Omogenea Cremasca newsletter API",
            "version": version,
            "description": (
                "Articles in (upsert by source and external id) and out; topics; subscribers "
                "added by operators; urgent alerts issued and followed up. Tokens carry "
                "scopes: `articles` (the default), `subscribers`, `alerts`."
            ),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _components(),
            "responses": {
                "Error": _json(
                    "bad input, credentials or scope", {"$ref": REF.format(model="ErrorOut")}
                )
            },
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }
    filled: dict[str, Any] = _fill(
        raw,
        {"topics": topic_slugs, "municipalities": municipalities},
        {"articles": max_limit},
    )
    return filled
