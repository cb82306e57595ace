"""Subscriber rows, declared once: a line of the roster CSV, the body of
``POST /api/v1/subscribers`` and what the API answers are these classes, so a rule cannot differ
between the CSV and the API, and ``/api/v1/openapi.json`` is generated from them.

Topic slugs and municipality names live in tables: validation checks them against a
``Lookups`` passed as pydantic's context (loaded once per request or file, not per row), and
the JSON Schema marks them ``x-vocabulary`` for the API to fill in with the current values.

New per-person settings (e.g. ``local_news``, ``alerts``) are one field here: the CSV column,
the API field, the export and the document all follow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from typing import Annotated, Any

import email_validator
from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from newsletter.reference.names import name_key as _name_key
from newsletter.subscriptions import rules
from newsletter.subscriptions.models import Frequency, Role, SubscriberStatus, normalize_email
from newsletter.vocabulary import Locale

LOCALES = Locale.values()
MAX_EMAIL = 320
MAX_NAME = 200
MAX_MUNICIPALITY = 120
MAX_SOURCE = 200
INSTITUTIONAL = frozenset({Role.MAYOR, Role.OFFICIAL})
TOPIC_SLUG = {"type": "string", "x-vocabulary": "topics"}
MUNICIPALITY_NAME = {"type": "string", "x-vocabulary": "municipalities"}
_BLANK = " \t\n\r\f\v"  # what the pattern of ConsentSource calls blank


@lru_cache(maxsize=4096)
def name_key(name: str) -> str:
    """``reference.names.name_key``, remembered: a roster names the same comuni many times."""
    return _name_key(name)


@dataclass(frozen=True)
class Lookups:
    """The values rows are checked against: topic slugs (display order) and municipality
    names by ``name_key`` (any case, accents, apostrophes) and by slug."""

    topics: tuple[str, ...]
    municipalities: dict[str, str] = field(default_factory=dict)

    @cached_property
    def topic_set(self) -> frozenset[str]:
        return frozenset(self.topics)


# The plain ASCII addresses that make up nearly every roster: checked by one regular
# expression (a strict subset of what email-validator accepts; a test holds them to that), so
# a 20,000-line import does not spend seconds in email-validator. Anything else goes through it.
_ATEXT = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_PLAIN_ADDRESS = re.compile(
    rf"(?=[^@]{{1,64}}@)({_ATEXT}+(?:\.{_ATEXT}+)*)@((?:{_LABEL}\.)+[a-z](?:[a-z0-9-]{{0,61}}[a-z])?)",
    re.IGNORECASE | re.ASCII,
)
_SPECIAL_USE_SUFFIXES = tuple(
    suffix
    for name in email_validator.SPECIAL_USE_DOMAIN_NAMES
    for suffix in ("." + name, "@" + name)
)


def _plain(address: str) -> str | None:
    """The normalised address when it is plainly valid, None when it needs the full check."""
    match = _PLAIN_ADDRESS.fullmatch(address)
    if match is None or len(address) > 254 or len(match.group(2)) > 253:
        return None
    lowered = address.lower()
    # IDNA rules (hyphens in 3rd and 4th place, Punycode) are email-validator's to apply.
    if "--" in match.group(2) or lowered.endswith(_SPECIAL_USE_SUFFIXES):
        return None
    return lowered


def check_address(raw: str) -> str:
    """A syntactically valid address, normalised; no DNS look-up (works offline, fast)."""
    raw = raw.strip()
    if len(raw) > MAX_EMAIL:
        raise ValueError(f"must be at most {MAX_EMAIL} characters")
    plain = _plain(raw)
    if plain is not None:
        return plain
    try:
        result = validate_email(raw, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid e-mail address: {raw!r} ({exc})") from None
    return normalize_email(result.normalized)


def _special_use_pattern() -> str:
    """email-validator refuses special-use domains (RFC 6761): the document says so."""
    names = "|".join(email_validator.SPECIAL_USE_DOMAIN_NAMES)
    return r"^(?!.*[@.](" + names + r")$)"


#: Years the document promises to take: an offset cannot push these past the calendar.
YEARS = "^(1[0-9]{3}|[2-8][0-9]{3}|9[0-8][0-9]{2})-"


def _consent_at(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        raise ValueError("must be an ISO 8601 date-time, e.g. 2024-03-01T10:00:00+01:00") from None
    if parsed.tzinfo is None or "T" not in value.upper():
        raise ValueError("must be an ISO 8601 date-time with a UTC offset")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 pushed past the calendar by the offset
        raise ValueError("is not a real date and time") from None


Email = Annotated[
    StrictStr,
    Field(max_length=MAX_EMAIL),
    AfterValidator(check_address),
    WithJsonSchema(
        {
            "type": "string",
            "format": "email",
            "maxLength": MAX_EMAIL,
            "pattern": _special_use_pattern(),
        }
    ),
]
ConsentAt = Annotated[
    StrictStr | None,
    Field(max_length=64),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": YEARS,
            "description": "when the person consented (with a UTC offset); proof of consent "
            "for a citizen, together with consent_source",
        }
    ),
]


#: Control characters but the document's blanks (tab, LF, VT, FF, CR: the "empty" rule's).
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


def _no_control(value: str | None) -> str | None:
    """Control characters replaced, as in articles and alerts: PostgreSQL cannot store NUL,
    and a bulk import passes the rows as one JSON document, where it cannot travel either."""
    if value is None:
        return None
    return _CONTROL.sub("\ufffd", value).encode("utf-8", "replace").decode("utf-8")


ConsentSource = Annotated[
    StrictStr | None,
    Field(min_length=1, max_length=MAX_SOURCE),
    AfterValidator(_no_control),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_SOURCE,
            "pattern": r"[^ \t\n\r\f\v]",
            "description": "where the consent was given (a paper form, an older list...)",
        }
    ),
]


def _add_rules(schema: dict[str, Any]) -> None:
    """The cross-field rules, for the document (``SubscriberIn.entry`` enforces them)."""
    schema["if"] = {"properties": {"role": {"const": "mayor"}}, "required": ["role"]}
    schema["then"] = {
        "required": ["municipality"],
        "properties": {"municipality": {"type": "string"}},
    }
    # Topics may be empty only with a municipality and its news or its urgent alerts.
    schema["anyOf"] = rules.json_schema_any_of()
    # Urgent alerts are a comune's: alerts true needs a municipality.
    schema["allOf"] = [
        {
            "if": {"properties": {"alerts": {"const": True}}, "required": ["alerts"]},
            "then": {
                "required": ["municipality"],
                "properties": {"municipality": {"type": "string"}},
            },
        }
    ]
    schema["dependentRequired"] = {
        "consent_at": ["consent_source"],
        "consent_source": ["consent_at"],
    }


class SubscriberIn(BaseModel):
    """A person added by an operator: one line of the roster CSV or one API request."""

    model_config = ConfigDict(title="SubscriberIn", json_schema_extra=_add_rules)

    email: Email
    role: Role
    municipality: Annotated[
        StrictStr | None,
        Field(max_length=MAX_MUNICIPALITY),
        WithJsonSchema(
            {
                "anyOf": [MUNICIPALITY_NAME, {"type": "null"}],
                "description": "a name from the municipality table (required for a mayor)",
            }
        ),
    ] = None
    topics: Annotated[
        list[StrictStr] | None,
        WithJsonSchema(
            {
                "type": "array",
                "items": TOPIC_SLUG,
                "description": "absent: every topic; empty only with a municipality and "
                "local_news or alerts true (that comune's news, or its urgent alerts, alone)",
            }
        ),
    ] = None
    frequency: Frequency = Frequency.WEEKLY
    locale: Annotated[
        StrictStr, WithJsonSchema({"type": "string", "enum": list(LOCALES), "default": "it"})
    ] = "it"
    name: Annotated[StrictStr | None, Field(max_length=MAX_NAME), AfterValidator(_no_control)] = (
        None
    )
    # Absent is allowed, null is not (the document says "string"): see _not_null.
    consent_at: ConsentAt = None
    consent_source: ConsentSource = None
    local_news: Annotated[
        StrictBool | None,
        WithJsonSchema(
            {
                "type": "boolean",
                "description": "every article about the person's comune, whatever the topic "
                "(absent: unchanged, false for a new address)",
            }
        ),
    ] = None
    alerts: Annotated[
        StrictBool | None,
        WithJsonSchema(
            {
                "type": "boolean",
                "description": "urgent alerts for the person's comune by e-mail (true needs a "
                "municipality); absent: unchanged, and for a new address true for a mayor or "
                "an official with a municipality, false for a citizen",
            }
        ),
    ] = None
    reactivate: Annotated[
        StrictBool,
        Field(
            description="bring back an address that unsubscribed, bounced or complained "
            "(audited); without it such an address is left as it is"
        ),
    ] = False

    @field_validator("consent_at", "consent_source", "local_news", "alerts", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must be a string (leave the field out when there is none)")
        return value

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        if value not in LOCALES:
            raise ValueError(f"must be one of {', '.join(LOCALES)}, not {value!r}")
        return value

    @field_validator("municipality")
    @classmethod
    def _municipality(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        vocabulary = info.context
        name = value.strip()
        if not name:
            raise ValueError("must be the name of a municipality of the area")
        if isinstance(vocabulary, Lookups):
            found = vocabulary.municipalities.get(name_key(name))
            found = found or vocabulary.municipalities.get(name.lower())
            if found is None:
                raise ValueError(f"unknown municipality: {name}")
            return found
        return name

    @field_validator("topics")
    @classmethod
    def _topics(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if value is None:
            return None
        slugs = list(dict.fromkeys(value))
        vocabulary = info.context
        if isinstance(vocabulary, Lookups):
            known = vocabulary.topic_set
            unknown = [s for s in slugs if s not in known]
            if unknown:
                raise ValueError(f"unknown topic: {', '.join(unknown)}")
        return slugs

    @field_validator("consent_source")
    @classmethod
    def _source(cls, value: str | None) -> str | None:
        # Blank as the document's pattern says it (str.strip() would also take U+00A0 and
        # friends, refusing what the schema allows).
        if value is not None and not value.strip(_BLANK):
            raise ValueError("must not be empty")
        return value.strip(_BLANK) if value is not None else None

    @field_validator("consent_at")
    @classmethod
    def _consent(cls, value: str | None) -> str | None:
        return _consent_at(value).isoformat() if value is not None else None

    def cross_field_errors(self) -> dict[str, str]:
        """The rules between fields, named by field (pydantic would name the whole body)."""
        errors: dict[str, str] = {}
        if self.role is Role.MAYOR and not self.municipality:
            errors["municipality"] = "required for a mayor"
        if self.alerts and not self.municipality:
            errors["alerts"] = "true needs a municipality"
        if self.topics == [] and not rules.has_choice(
            (),
            municipality=bool(self.municipality),
            local_news=bool(self.local_news),
            alerts=bool(self.alerts),
        ):
            errors["topics"] = (
                "give at least one topic, or a municipality with local_news or alerts true"
            )
        if self.consent_at is not None and self.consent_source is None:
            errors["consent_source"] = "required with consent_at (where the consent was given)"
        if self.consent_source is not None and self.consent_at is None:
            errors["consent_at"] = "required with consent_source (when the consent was given)"
        return errors

    @property
    def consent_time(self) -> datetime | None:
        return datetime.fromisoformat(self.consent_at) if self.consent_at else None


class SubscriberOut(BaseModel):
    """A subscriber as the API answers it."""

    model_config = ConfigDict(title="Subscriber", extra="forbid")

    id: int
    email: str
    name: str | None
    role: Role
    municipality: str | None
    topics: list[str]
    frequency: Frequency
    locale: str
    local_news: bool
    alerts: bool
    status: SubscriberStatus
