"""Reading the body of ``POST /api/v1/subscribers`` into a roster entry, naming bad fields."""

from __future__ import annotations

from typing import Any

from newsletter.exceptions import ValidationError
from newsletter.subscriptions.models import Role, Subscriber
from newsletter.subscriptions.roster import RosterEntry, check_address
from newsletter.vocabulary import Frequency, Locale

MAX_NAME = 200
MAX_MUNICIPALITY = 120


def parse_subscriber(data: Any, topic_slugs: list[str]) -> RosterEntry:
    """A RosterEntry, or ValidationError (422) with one message per bad field."""
    if not isinstance(data, dict):
        raise ValidationError("the body must be a JSON object", {"body": "not an object"})
    errors: dict[str, str] = {}

    email = data.get("email")
    if not isinstance(email, str) or not email.strip():
        errors["email"] = "required: an e-mail address"
    else:
        try:
            email = check_address(email)
        except ValidationError as exc:
            errors["email"] = exc.message

    def choice(field: str, allowed: list[str], default: str | None) -> str:
        value = data.get(field, default)
        if not isinstance(value, str) or value not in allowed:
            errors[field] = f"must be one of {', '.join(allowed)}"
            return allowed[0]
        return value

    role = choice("role", [r.value for r in Role], None)
    frequency = choice("frequency", list(Frequency.values()), Frequency.WEEKLY.value)
    locale = choice("locale", list(Locale.values()), Locale.IT.value)

    municipality = data.get("municipality")
    if municipality is not None and (
        not isinstance(municipality, str) or not 0 < len(municipality.strip()) <= MAX_MUNICIPALITY
    ):
        errors["municipality"] = "must be the name of a municipality of the area"
    if role == Role.MAYOR.value and not municipality and "municipality" not in errors:
        errors["municipality"] = "required for a mayor"

    topics = data.get("topics", topic_slugs)
    if (
        not isinstance(topics, list)
        or not topics
        or not all(isinstance(t, str) and t in topic_slugs for t in topics)
    ):
        errors["topics"] = f"a non-empty list of: {', '.join(topic_slugs)}"

    name = data.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > MAX_NAME):
        errors["name"] = f"text of at most {MAX_NAME} characters"

    if errors:
        first, message = next(iter(errors.items()))
        raise ValidationError(f"{first}: {message}", errors)
    return RosterEntry(
        email=str(email),
        role=Role(role),
        municipality=municipality.strip() if isinstance(municipality, str) else None,
        topics=tuple(dict.fromkeys(topics)),
        frequency=Frequency(frequency),
        locale=locale,
        name=name,
    )


def subscriber_dict(subscriber: Subscriber) -> dict[str, Any]:
    return {
        "id": subscriber.id,
        "email": subscriber.email,
        "name": subscriber.name,
        "role": subscriber.role.value,
        "municipality": subscriber.municipality.name if subscriber.municipality else None,
        "topics": subscriber.topic_slugs,
        "frequency": subscriber.frequency.value,
        "locale": subscriber.locale,
        "status": subscriber.status.value,
    }
