"""An alert as issuers write it: the body of ``POST /api/v1/alerts`` and the admin form's data.

One class for both doors, so a limit cannot differ between them, and the OpenAPI document is
generated from it. Names of comuni are checked against the table by the service (they change),
the rest here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from newsletter.alerts.models import MAX_HEADLINE, MAX_NOTE, MAX_TEXT, MAX_URL
from newsletter.vocabulary import AlertSeverity

ALL = "*"  # "every comune of the area"

Headline = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_HEADLINE)
]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT)]


class AlertIn(BaseModel):
    """What an issuer says: headline, text, severity, where, when, and an optional link."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    headline: Headline = Field(description=f"at most {MAX_HEADLINE} characters")
    text: Text = Field(description=f"at most {MAX_TEXT} characters")
    severity: AlertSeverity = Field(
        description="CAP severity; severe and extreme wait for a second person's approval"
    )
    municipalities: list[Annotated[str, StringConstraints(min_length=1, max_length=120)]] = Field(
        min_length=1,
        max_length=100,
        description='names of the comuni concerned, or ["*"] for all of them',
    )
    topic: str | None = Field(default=None, max_length=40, description="a topic slug")
    starts_at: datetime | None = Field(default=None, description="ISO-8601; default: now")
    expires_at: datetime = Field(description="ISO-8601, with a time zone; after the start")
    url: str | None = Field(default=None, max_length=MAX_URL, description="http(s) link")
    headline_en: Headline | None = Field(default=None, description="English headline")
    text_en: Text | None = Field(default=None, description="English text")

    @field_validator("starts_at", "expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("needs a time zone (e.g. 2026-12-01T14:00:00+01:00)")
        return value.astimezone(UTC)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        if not value.startswith(("https://", "http://")) or any(c.isspace() for c in value):
            raise ValueError("must be an http:// or https:// address")
        return value

    @field_validator("municipalities")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        names = [v.strip() for v in value if v.strip()]
        if not names:
            raise ValueError("name at least one comune, or * for all")
        if ALL in names and len(names) > 1:
            raise ValueError('"*" means every comune: give it alone')
        return names

    @property
    def everywhere(self) -> bool:
        return self.municipalities == [ALL]


class ReasonIn(BaseModel):
    """Why: an administrator releasing a severe alert alone, a rejection, a cancellation."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: Annotated[str, StringConstraints(min_length=1, max_length=MAX_NOTE)]
