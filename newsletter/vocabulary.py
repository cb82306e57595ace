"""The service's shared words, each defined once: languages, how often, who a digest is for.

Every domain, view, form, command and schema uses these enums (StrEnums: they compare and
store as their plain values). Adding a language or a frequency starts here.
"""

from __future__ import annotations

import enum


class Vocabulary(enum.StrEnum):
    """A StrEnum with the two questions callers ask of a raw string."""

    @classmethod
    def values(cls) -> tuple[str, ...]:
        return tuple(member.value for member in cls)

    @classmethod
    def knows(cls, raw: object) -> bool:
        """Membership for a raw value (``"it" in Locale`` only works from Python 3.12)."""
        return isinstance(raw, str) and raw in cls.values()


class Locale(Vocabulary):
    """The languages people read the service in; Italian is the default."""

    IT = "it"
    EN = "en"


class Frequency(Vocabulary):
    """How often a subscriber gets mail, and which digests a build makes."""

    IMMEDIATE = "immediate"
    DAILY = "daily"
    WEEKLY = "weekly"


class AudienceKind(Vocabulary):
    """Who a digest variant is written for (its audience key starts with this)."""

    CITIZEN = "citizen"  # daily or weekly, one topic set, one language
    IMMEDIATE = "immediate"  # a citizen's batch of new articles
    MAYOR = "mayor"  # weekly, all topics, a section on the mayor's municipality
    OFFICIAL = "official"  # weekly, all topics
    EDITION = "edition"  # the public archive's issue of a period


class AlertSeverity(Vocabulary):
    """How serious an urgent alert is: CAP 1.2's ``severity`` values (without "Unknown").

    ``severe`` and ``extreme`` need a second person's approval before they go out."""

    MINOR = "minor"
    MODERATE = "moderate"
    SEVERE = "severe"
    EXTREME = "extreme"

    @property
    def needs_approval(self) -> bool:
        return self in (AlertSeverity.SEVERE, AlertSeverity.EXTREME)
