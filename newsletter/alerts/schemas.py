"""An alert as issuers write it: the body of ``POST /api/v1/alerts`` and the admin form's data,
and what the API answers about alerts.

One class for both doors, so a limit cannot differ between them, and the OpenAPI document is
generated from it. Each field's JSON Schema says exactly what the validation accepts (the API's
schemathesis test holds them to it): lengths are counted before blanks at the ends are trimmed,
"blank" means the characters JSON Schema and Python agree on, date-times are RFC 3339 strings.
Names of comuni and topic slugs are checked against the tables by the service (they change);
the document marks them ``x-vocabulary`` for the API to fill in. What no schema can say (the
expiry is in the future and after the start) the service checks: 422.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictStr,
    WithJsonSchema,
)

from newsletter.alerts.models import MAX_HEADLINE, MAX_NOTE, MAX_TEXT, MAX_URL
from newsletter.articles.sanitize import clean_control
from newsletter.articles.service import parse_datetime
from newsletter.vocabulary import AlertSeverity

ALL = "*"  # "every comune of the area"
MAX_NAME = 120
MAX_MUNICIPALITIES = 100
# Explicit characters, not \s: JSON Schema (ECMA) and Python disagree on what \s matches.
BLANK = " \t\n\r\f\v"
NOT_BLANK = rf"[^{BLANK}]"
URL_PATTERN = r"^https?://[^\u0000-\u0020\u007f]+$"
_URL = re.compile(URL_PATTERN)
EXAMPLE_TIME = "2026-12-01T14:00:00+01:00"


def _text(value: str) -> str:
    """Trimmed, control characters replaced (NUL breaks PostgreSQL); never blank."""
    trimmed = value.strip(BLANK)  # first: \f and \v are blanks here, controls below
    if not trimmed:
        raise ValueError("must not be blank")
    return clean_control(trimmed)


def _string(max_length: int, description: str, *, nullable: bool = False) -> Any:
    schema: dict[str, Any] = {
        "type": "string",
        "minLength": 1,
        "maxLength": max_length,
        "pattern": NOT_BLANK,
        "description": description,
    }
    if nullable:
        schema = {"anyOf": [schema, {"type": "null"}], "description": description}
    return WithJsonSchema(schema)


Headline = Annotated[
    StrictStr,
    Field(max_length=MAX_HEADLINE),
    AfterValidator(_text),
    _string(MAX_HEADLINE, f"at most {MAX_HEADLINE} characters"),
]
Text = Annotated[
    StrictStr,
    Field(max_length=MAX_TEXT),
    AfterValidator(_text),
    _string(MAX_TEXT, f"at most {MAX_TEXT} characters"),
]
Note = Annotated[
    StrictStr,
    Field(max_length=MAX_NOTE),
    AfterValidator(_text),
    _string(MAX_NOTE, f"at most {MAX_NOTE} characters"),
]


def _time(value: Any) -> datetime | None:
    """An RFC 3339 string with an offset (from JSON), or an aware datetime (from Python)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"needs a time zone (e.g. {EXAMPLE_TIME})")
        return value.astimezone(UTC)
    if not isinstance(value, str):
        raise ValueError(f"must be an ISO 8601 date-time string, e.g. {EXAMPLE_TIME}")
    try:
        return parse_datetime(value)
    except ValueError:
        try:
            naive = datetime.fromisoformat(value).tzinfo is None
        except ValueError:
            naive = False
        if naive:
            raise ValueError(f"needs a time zone (e.g. {EXAMPLE_TIME})") from None
        raise


def _time_schema(description: str, *, nullable: bool) -> Any:
    schema: dict[str, Any] = {"type": "string", "format": "date-time", "description": description}
    if nullable:
        schema = {"anyOf": [schema, {"type": "null"}], "description": description}
    return WithJsonSchema(schema)


def _url(value: str | None) -> str | None:
    if value is not None and not _URL.fullmatch(value):
        raise ValueError("must be an http:// or https:// address")
    return value


def _names(value: list[str]) -> list[str]:
    names = [v.strip(BLANK) for v in value]
    if any(not n for n in names):
        raise ValueError("names must not be blank")
    if ALL in names and len(names) > 1:
        raise ValueError('"*" means every comune: give it alone')
    return [clean_control(n) for n in names]


MUNICIPALITY_NAME = {"type": "string", "x-vocabulary": "municipalities"}
TOPIC_SLUG = {"type": "string", "x-vocabulary": "topics"}


class AlertIn(BaseModel):
    """What an issuer says: headline, text, severity, where, when, and an optional link."""

    model_config = ConfigDict(title="AlertIn", extra="forbid")

    headline: Headline
    text: Text
    severity: AlertSeverity = Field(
        description="CAP severity; severe and extreme wait for a second person's approval"
    )
    municipalities: Annotated[
        list[Annotated[StrictStr, Field(min_length=1, max_length=MAX_NAME)]],
        Field(min_length=1, max_length=MAX_MUNICIPALITIES),
        AfterValidator(_names),
        WithJsonSchema(
            {
                "description": 'names of the comuni concerned, or ["*"] for all of them',
                "anyOf": [
                    {
                        "type": "array",
                        "items": MUNICIPALITY_NAME,
                        "minItems": 1,
                        "maxItems": MAX_MUNICIPALITIES,
                    },
                    {"type": "array", "items": {"const": ALL}, "minItems": 1, "maxItems": 1},
                ],
            }
        ),
    ]
    topic: Annotated[
        StrictStr | None,
        Field(max_length=40),
        WithJsonSchema(
            {"anyOf": [TOPIC_SLUG, {"type": "null"}], "description": "a topic slug (optional)"}
        ),
    ] = None
    starts_at: Annotated[
        datetime | None,
        BeforeValidator(_time),
        _time_schema("with a UTC offset; absent or null: now", nullable=True),
    ] = None
    expires_at: Annotated[
        datetime,
        BeforeValidator(_time),
        _time_schema("with a UTC offset; in the future and after starts_at", nullable=False),
    ]
    url: Annotated[
        StrictStr | None,
        Field(max_length=MAX_URL),
        AfterValidator(_url),
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "string", "maxLength": MAX_URL, "pattern": URL_PATTERN},
                    {"type": "null"},
                ],
                "description": "an http(s) link with more (optional)",
            }
        ),
    ] = None
    headline_en: Annotated[
        StrictStr | None,
        Field(max_length=MAX_HEADLINE),
        AfterValidator(lambda v: _text(v) if v is not None else None),
        _string(MAX_HEADLINE, "English headline (optional)", nullable=True),
    ] = None
    text_en: Annotated[
        StrictStr | None,
        Field(max_length=MAX_TEXT),
        AfterValidator(lambda v: _text(v) if v is not None else None),
        _string(MAX_TEXT, "English text (optional)", nullable=True),
    ] = None

    @property
    def everywhere(self) -> bool:
        return self.municipalities == [ALL]


class AlertUpdateIn(AlertIn):
    """A follow-up: the alert's whole new content, and what changed."""

    model_config = ConfigDict(title="AlertUpdateIn", extra="forbid")

    note: Annotated[
        StrictStr | None,
        Field(max_length=MAX_NOTE),
        AfterValidator(lambda v: _text(v) if v is not None else None),
        _string(MAX_NOTE, "what changed (optional)", nullable=True),
    ] = None


class ReasonIn(BaseModel):
    """Why: an administrator releasing a severe alert alone, a rejection, a cancellation."""

    model_config = ConfigDict(title="ReasonIn", extra="forbid")

    reason: Note


# --- answers -------------------------------------------------------------------------------

# What became of a message, in the words of the contract ("sent" = released to the channels).
PublicStatus = Literal["sent", "awaiting_approval", "rejected", "withdrawn"]
DateTime = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
NullableDateTime = Annotated[
    str | None,
    WithJsonSchema({"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]}),
]


class AlertAccepted(BaseModel):
    """The answer to issuing, updating or cancelling: the alert and what became of the new
    message (``withdrawn``: an alert still awaiting approval was cancelled; nothing was sent)."""

    model_config = ConfigDict(title="AlertAccepted", extra="forbid")

    id: int
    identifier: str = Field(description='the alert\'s public number, "AOC-<id>"')
    message: int | None = Field(description="the message's sequence (1 = the alert itself)")
    status: PublicStatus


class AlertMessageOut(BaseModel):
    """One thing said about an alert (CAP msgType: alert, update, cancel)."""

    model_config = ConfigDict(title="AlertMessage", extra="forbid")

    sequence: int
    type: Literal["alert", "update", "cancel"]
    status: PublicStatus
    headline: str
    severity: AlertSeverity
    municipalities: list[str]
    starts_at: DateTime
    expires_at: DateTime
    note: str | None
    issued_by: str
    issued_at: DateTime
    approved_by: str | None
    approved_at: NullableDateTime
    override_reason: str | None
    rejected_by: str | None
    released_at: NullableDateTime


class AlertOut(BaseModel):
    """An alert as it stands (the content of its latest released message), with its messages."""

    model_config = ConfigDict(title="Alert", extra="forbid")

    id: int
    identifier: str
    state: Literal["pending", "published", "cancelled", "rejected"]
    active: bool = Field(description="published and not yet expired")
    headline: str
    text: str
    headline_en: str | None
    text_en: str | None
    severity: AlertSeverity
    municipalities: list[str] = Field(description='names, or ["*"] for every comune')
    topic: str | None
    starts_at: DateTime
    expires_at: DateTime
    url: str | None
    created_at: DateTime
    published_at: NullableDateTime
    updated_at: NullableDateTime
    cancelled_at: NullableDateTime
    messages: list[AlertMessageOut]


class AlertList(BaseModel):
    model_config = ConfigDict(title="AlertList", extra="forbid")

    alerts: list[AlertOut]
