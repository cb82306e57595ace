"""What a subscription must hold, said once for every door (the subscribe form, the preference
centre, the roster CSV, ``POST /api/v1/subscribers``, the service itself).

Something to receive: at least one topic, or a comune together with one of the comune's
choices that need no topic (``COMUNE_CHOICES``: every article about it, or its urgent alerts).
A person with only the urgent alerts gets the alerts and no digest at all (the digest builder
skips a reader with no topic and no ``local_news``). Pure: no Flask, no database, so the
forms, the pydantic schema and its JSON Schema document can all use it.
"""

from __future__ import annotations

from collections.abc import Collection

# A comune's choices that make a subscription without topics: the field names of the form,
# the CSV columns and the API body alike. The JSON Schema's ``anyOf`` is built from this.
COMUNE_CHOICES = ("local_news", "alerts")


def has_choice(
    topics: Collection[str], *, municipality: bool, local_news: bool, alerts: bool
) -> bool:
    """True when the person asked for something we can send: a topic, or their comune's
    news or urgent alerts (``municipality``: they have a comune)."""
    return bool(topics) or (municipality and (local_news or alerts))


def gets_a_digest(
    topics: Collection[str], *, institutional: bool, municipality: bool, local_news: bool
) -> bool:
    """Whether a digest can reach the person at all: mayors and officials always get the
    weekly institutional one, a citizen needs a topic or their comune's news. False for
    someone who asked only for urgent alerts (mirrors ``digests.service.audience_of``)."""
    return institutional or has_choice(
        topics, municipality=municipality, local_news=local_news, alerts=False
    )


def json_schema_any_of() -> list[dict[str, object]]:
    """The rule for the API document: topics absent or not empty, or empty with a
    municipality and one of ``COMUNE_CHOICES`` true."""
    branches: list[dict[str, object]] = [{"properties": {"topics": {"minItems": 1}}}]
    for choice in COMUNE_CHOICES:
        branches.append(
            {
                "required": ["topics", "municipality", choice],
                "properties": {
                    "topics": {"maxItems": 0},
                    "municipality": {"type": "string"},
                    choice: {"const": True},
                },
            }
        )
    return branches
