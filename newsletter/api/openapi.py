"""The OpenAPI 3.1 document of /api/v1, built from the same limits and patterns the code checks."""

from __future__ import annotations

from typing import Any

import email_validator

from newsletter.articles import service as articles

ERROR_RESPONSE = {"$ref": "#/components/responses/Error"}
SPECIAL_USE_DOMAINS_EXCLUDED = (
    r"^(?!.*[@.](" + "|".join(email_validator.SPECIAL_USE_DOMAIN_NAMES) + r")$)"
)


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "type": [schema["type"], "null"]}


def document(
    topic_slugs: list[str], max_limit: int, version: str, municipalities: list[str]
) -> dict[str, Any]:
    text = {"type": "string", "maxLength": articles.MAX_TEXT}
    url = {"type": "string", "maxLength": articles.MAX_URL, "pattern": articles.URL_PATTERN}
    date_time = {"type": "string", "format": "date-time"}
    topic = {"type": "string", "enum": topic_slugs}
    article_in = {
        "type": "object",
        "required": ["title", "published_at"],
        "description": "external_id defaults to url, so one of them is required.",
        "anyOf": [
            {"required": ["external_id"], "properties": {"external_id": {"type": "string"}}},
            {
                "required": ["url"],
                "properties": {"url": {"type": "string", "maxLength": articles.MAX_EXTERNAL_ID}},
            },
        ],
        "properties": {
            "external_id": {
                "type": "string",
                "minLength": 1,
                "maxLength": articles.MAX_EXTERNAL_ID,
            },
            "title": {
                "type": "string",
                "minLength": 1,
                "maxLength": articles.MAX_TITLE,
                "pattern": articles.TITLE_PATTERN,
            },
            "url": _nullable(url),
            "published_at": {**date_time, "description": "with a UTC offset"},
            "summary": _nullable(text),
            "body_html": _nullable({**text, "description": "sanitised on the way in"}),
            "body": _nullable({**text, "description": "plain text, used without body_html"}),
            "image_url": _nullable(url),
            "topics": _nullable(
                {
                    "type": "array",
                    "items": topic,
                    "maxItems": articles.MAX_TOPICS,
                    "description": "absent or empty: the service classifies the article",
                }
            ),
        },
    }
    article_out = {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "id", "source", "external_id", "title", "url", "published_at", "summary",
            "body_html", "body", "image_url", "topics", "topic_assignments",
            "municipalities", "created_at", "updated_at",
        ],
        "properties": {
            "id": {"type": "integer"},
            "source": {"type": "string"},
            "external_id": {"type": "string"},
            "title": {"type": "string"},
            "url": {"type": ["string", "null"]},
            "published_at": date_time,
            "summary": {"type": "string"},
            "body_html": {"type": "string"},
            "body": {"type": "string"},
            "image_url": {"type": ["string", "null"]},
            "topics": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "topic_assignments": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["topic", "assigned_by", "score"],
                    "properties": {
                        "topic": {"type": "string"},
                        "assigned_by": {"type": "string", "enum": ["auto", "source", "editor"]},
                        "score": {"type": ["number", "null"]},
                    },
                },
            },
            "municipalities": {"type": "array", "items": {"type": "string"}},
            "created_at": date_time,
            "updated_at": date_time,
        },
    }  # fmt: skip
    topic_out = {
        "type": "object",
        "additionalProperties": False,
        "required": ["slug", "name", "description"],
        "properties": {
            "slug": {"type": "string"},
            "name": {
                "type": "object",
                "required": ["it", "en"],
                "properties": {"it": {"type": "string"}, "en": {"type": "string"}},
            },
            "description": {
                "type": "object",
                "required": ["it", "en"],
                "properties": {"it": {"type": "string"}, "en": {"type": "string"}},
            },
        },
    }
    subscriber_in = {
        "type": "object",
        "required": ["email", "role"],
        "if": {"properties": {"role": {"const": "mayor"}}, "required": ["role"]},
        "then": {
            "required": ["municipality"],
            "properties": {"municipality": {"type": "string", "enum": municipalities}},
        },
        "properties": {
            "email": {
                "type": "string",
                "format": "email",
                "maxLength": 320,
                # email-validator refuses special-use domains (RFC 6761): say so in the schema.
                "pattern": SPECIAL_USE_DOMAINS_EXCLUDED,
            },
            "role": {"type": "string", "enum": ["citizen", "mayor", "official"]},
            "municipality": {
                "type": ["string", "null"],
                "enum": [*municipalities, None],
                "description": "a name from the municipality table (required for a mayor)",
            },
            "topics": {"type": "array", "items": topic, "minItems": 1},
            "frequency": {"type": "string", "enum": ["immediate", "daily", "weekly"]},
            "locale": {"type": "string", "enum": ["it", "en"]},
            "name": {"type": ["string", "null"], "maxLength": 200},
            "local_news": {
                "type": "boolean",
                "description": "with a municipality: every article about it, whatever the topic",
            },
        },
    }
    subscriber_out = {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "id", "email", "name", "role", "municipality", "local_news", "topics", "frequency",
            "locale", "status",
        ],
        "properties": {
            "id": {"type": "integer"},
            "email": {"type": "string"},
            "name": {"type": ["string", "null"]},
            "role": {"type": "string", "enum": ["citizen", "mayor", "official"]},
            "municipality": {"type": ["string", "null"]},
            "local_news": {"type": "boolean"},
            "topics": {"type": "array", "items": {"type": "string"}},
            "frequency": {"type": "string", "enum": ["immediate", "daily", "weekly"]},
            "locale": {"type": "string", "enum": ["it", "en"]},
            "status": {"type": "string", "enum": ["active"]},
        },
    }  # fmt: skip
    error = {
        "type": "object",
        "required": ["error", "details"],
        "properties": {
            "error": {"type": "string"},
            "details": {"description": "per-field messages, or null"},
        },
    }

    def json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": schema}}}

    article_ref = {"$ref": "#/components/schemas/Article"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Area Omogenea Cremasca newsletter API",
            "version": version,
            "description": (
                "Articles in (upsert by source and external id) and out; topics; "
                "institutional subscribers added by operators."
            ),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "ArticleIn": article_in,
                "Article": article_out,
                "Topic": topic_out,
                "SubscriberIn": subscriber_in,
                "Subscriber": subscriber_out,
                "Error": error,
            },
            "responses": {
                "Error": json_response(
                    "bad input or credentials", {"$ref": "#/components/schemas/Error"}
                )
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/openapi.json": {
                "get": {
                    "operationId": "getOpenApi",
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": json_response("OpenAPI 3.1", {"type": "object"})},
                }
            },
            "/api/v1/topics": {
                "get": {
                    "operationId": "listTopics",
                    "summary": "The topics, in display order",
                    "responses": {
                        "200": json_response(
                            "the topics",
                            {
                                "type": "object",
                                "required": ["topics"],
                                "properties": {
                                    "topics": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Topic"},
                                    }
                                },
                            },
                        ),
                        "401": ERROR_RESPONSE,
                    },
                }
            },
            "/api/v1/articles": {
                "get": {
                    "operationId": "listArticles",
                    "summary": "Visible articles, newest first",
                    "parameters": [
                        {"name": "topic", "in": "query", "schema": topic},
                        {
                            "name": "since",
                            "in": "query",
                            "description": "published at or after",
                            "schema": date_time,
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": max_limit,
                                "default": 20,
                            },
                        },
                    ],
                    "responses": {
                        "200": json_response(
                            "the articles",
                            {
                                "type": "object",
                                "required": ["articles"],
                                "properties": {"articles": {"type": "array", "items": article_ref}},
                            },
                        ),
                        "400": ERROR_RESPONSE,
                        "401": ERROR_RESPONSE,
                    },
                },
                "post": {
                    "operationId": "upsertArticle",
                    "summary": "Create or update one article by (token's source, external_id)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ArticleIn"}
                            }
                        },
                    },
                    "responses": {
                        "200": json_response("updated (or unchanged)", article_ref),
                        "201": json_response("created", article_ref),
                        "400": ERROR_RESPONSE,
                        "401": ERROR_RESPONSE,
                        "422": ERROR_RESPONSE,
                    },
                },
            },
            "/api/v1/subscribers": {
                "post": {
                    "operationId": "addSubscriber",
                    "summary": "Add or update an institutional subscriber, active at once",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/SubscriberIn"}
                            }
                        },
                    },
                    "responses": {
                        "200": json_response(
                            "updated", {"$ref": "#/components/schemas/Subscriber"}
                        ),
                        "201": json_response(
                            "created", {"$ref": "#/components/schemas/Subscriber"}
                        ),
                        "400": ERROR_RESPONSE,
                        "401": ERROR_RESPONSE,
                        "422": ERROR_RESPONSE,
                    },
                }
            },
        },
    }
