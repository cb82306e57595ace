"""The article format, declared once: what the API and import files accept, what the API answers.

``parse_article`` (service) validates with ``ArticleIn``; ``article_dict`` serialises through
``ArticleOut``; ``/api/v1/openapi.json`` is generated from both. Topic slugs are checked against
the table by the service; the document marks them ``x-vocabulary: topics``, which the API
replaces with the current slugs.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    WithJsonSchema,
)

MAX_TITLE = 500
MAX_EXTERNAL_ID = 500
MAX_URL = 2000
MAX_TEXT = 200_000  # summary, body, body_html
MAX_TOPICS = 10
# Explicit characters, not \s: JSON Schema (ECMA) and Python disagree on what \s matches.
_BLANK = r" \t\n\r\f\v"
URL_PATTERN = rf"^https?://[^{_BLANK}/?#@\[\]\\]+(?:[/?#][^{_BLANK}]*)?$"
TITLE_PATTERN = rf"[^{_BLANK}]"
SLUG_PATTERN = r"^[a-z][a-z0-9-]{0,39}$"
_URL = re.compile(URL_PATTERN)
_TITLE = re.compile(TITLE_PATTERN)
_SLUG = re.compile(SLUG_PATTERN)
# Filled in by the API with the current slugs (see newsletter/api/openapi.py).
TOPIC_SLUG = {"type": "string", "x-vocabulary": "topics"}


def _url(value: str) -> str:
    if not _URL.fullmatch(value):
        raise ValueError("must be an absolute http or https URL")
    return value


def _title(value: str) -> str:
    if not _TITLE.search(value):
        raise ValueError("must not be empty")
    return value


def _slugs(value: list[str]) -> list[str]:
    bad = [s for s in dict.fromkeys(value) if not _SLUG.fullmatch(s)]
    if bad:
        raise ValueError(f"unknown topic: {', '.join(bad)}")
    return list(dict.fromkeys(value))


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "type": [schema["type"], "null"]}


_URL_SCHEMA = {"type": "string", "maxLength": MAX_URL, "pattern": URL_PATTERN}
_TEXT_SCHEMA = {"type": "string", "maxLength": MAX_TEXT}

Url = Annotated[
    StrictStr | None,
    Field(max_length=MAX_URL),
    AfterValidator(lambda v: _url(v) if v is not None else None),
    WithJsonSchema(_nullable(_URL_SCHEMA)),
]


Text = Annotated[
    StrictStr | None, Field(max_length=MAX_TEXT), WithJsonSchema(_nullable(_TEXT_SCHEMA))
]


TopicSlugs = Annotated[
    list[StrictStr] | None,
    Field(max_length=MAX_TOPICS),
    AfterValidator(lambda v: _slugs(v) if v is not None else None),
    WithJsonSchema(
        {
            "type": ["array", "null"],
            "items": TOPIC_SLUG,
            "maxItems": MAX_TOPICS,
            "description": "absent or empty: the service classifies the article",
        }
    ),
]


def _external_id_or_url(schema: dict[str, Any]) -> None:
    schema["description"] = "external_id defaults to url, so one of them is required."
    schema["anyOf"] = [
        {"required": ["external_id"], "properties": {"external_id": {"type": "string"}}},
        {
            "required": ["url"],
            "properties": {"url": {"type": "string", "maxLength": MAX_EXTERNAL_ID}},
        },
    ]


class ArticleIn(BaseModel):
    """One article of the contract's format (API body, item of an import file)."""

    model_config = ConfigDict(title="ArticleIn", json_schema_extra=_external_id_or_url)

    external_id: Annotated[
        StrictStr | None,
        Field(min_length=1, max_length=MAX_EXTERNAL_ID),
        WithJsonSchema({"type": "string", "minLength": 1, "maxLength": MAX_EXTERNAL_ID}),
    ] = None
    title: Annotated[
        StrictStr, Field(max_length=MAX_TITLE, pattern=TITLE_PATTERN), AfterValidator(_title)
    ]
    url: Url = None
    published_at: Annotated[
        StrictStr,
        Field(max_length=64),
        WithJsonSchema(
            {
                "type": "string",
                "format": "date-time",
                # Years 1000-9899: an offset cannot push these past the calendar in UTC.
                "pattern": "^(1[0-9]{3}|[2-8][0-9]{3}|9[0-8][0-9]{2})-",
                "description": "with a UTC offset",
            }
        ),
    ]
    summary: Text = None
    body_html: Annotated[Text, Field(description="sanitised on the way in")] = None
    body: Annotated[Text, Field(description="plain text, used without body_html")] = None
    image_url: Url = None
    topics: TopicSlugs = None


AssignedBy = Literal["auto", "source", "editor"]
# Serialised by the service (UTC, with "Z"), declared here as what it is.
DateTime = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


class TopicAssignmentOut(BaseModel):
    model_config = ConfigDict(title="TopicAssignment", extra="forbid")

    topic: str
    assigned_by: AssignedBy
    score: float | None


class ArticleOut(BaseModel):
    """A stored article as the API answers it."""

    model_config = ConfigDict(title="Article", extra="forbid")

    id: int
    source: str
    external_id: str
    title: str
    url: str | None
    published_at: DateTime
    summary: str
    body_html: str
    body: str
    image_url: str | None
    topics: Annotated[list[str], Field(min_length=1)]
    topic_assignments: list[TopicAssignmentOut]
    municipalities: list[str]
    created_at: DateTime
    updated_at: DateTime
