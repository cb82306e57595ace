"""The institutional roster: addresses added by an operator (mayors, officials), in bulk or one
at a time. Used by the CLI now and by the admin area and the API.

Operator-added addresses are active at once (no double opt-in); the consent ledger records who
added them and through which channel.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import selectinload

from newsletter.db import utcnow
from newsletter.exceptions import NewsletterError, ValidationError
from newsletter.extensions import db
from newsletter.reference.service import municipality_by_name, topics_by_slug
from newsletter.subscriptions import service
from newsletter.subscriptions.models import (
    ConsentAction,
    Frequency,
    Role,
    Subscriber,
    SubscriberStatus,
    normalize_email,
)
from newsletter.vocabulary import Locale

COLUMNS = ("email", "role", "municipality", "topics", "frequency", "locale", "name")
REQUIRED_COLUMNS = ("email", "role", "municipality", "topics", "frequency", "locale")


@dataclass(frozen=True)
class RosterEntry:
    email: str
    role: Role
    municipality: str | None
    topics: tuple[str, ...]
    frequency: Frequency
    locale: str
    name: str | None = None


@dataclass(frozen=True)
class RosterReport:
    created: int
    updated: int
    dry_run: bool
    errors: tuple[str, ...] = field(default=())


def check_address(raw: str) -> str:
    """A syntactically valid address, normalised; no DNS look-up (works offline, fast)."""
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationError(f"not a valid e-mail address: {raw.strip()!r} ({exc})") from None
    return normalize_email(result.normalized)


def _choice(value: str, allowed: type[Role] | type[Frequency], column: str) -> str:
    cleaned = value.strip().lower()
    names = [m.value for m in allowed]
    if cleaned not in names:
        raise ValidationError(f"{column} must be one of {', '.join(names)}, not {value!r}")
    return cleaned


def _entry_from_row(row: dict[str | None, str | None]) -> RosterEntry:
    def cell(name: str) -> str:
        value = row.get(name)
        return value.strip() if isinstance(value, str) else ""

    email = check_address(cell("email"))
    role = Role(_choice(cell("role"), Role, "role"))
    frequency = Frequency(_choice(cell("frequency"), Frequency, "frequency"))
    locale = cell("locale").lower()
    if not Locale.knows(locale):
        raise ValidationError(f"locale must be one of {', '.join(Locale.values())}, not {locale!r}")
    topics = tuple(dict.fromkeys(t.strip().lower() for t in cell("topics").split(";") if t.strip()))
    if not topics:
        raise ValidationError("topics: give at least one topic slug (separated by ';')")
    return RosterEntry(
        email=email,
        role=role,
        municipality=cell("municipality") or None,
        topics=topics,
        frequency=frequency,
        locale=locale,
        name=cell("name") or None,
    )


def _rows(text: str) -> list[tuple[int, RosterEntry | str]]:
    """Each data row with its line number: the entry, or the message saying what is wrong."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ValidationError(
            f"line 1: the CSV header lacks the column(s) {', '.join(missing)} "
            f"(expected {', '.join(COLUMNS)})",
            {"line": 1, "missing": missing},
        )
    reader.fieldnames = header
    out: list[tuple[int, RosterEntry | str]] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue  # a blank line
        try:
            entry = _entry_from_row(row)
        except ValidationError as exc:
            out.append((line, f"line {line}: {exc.message}"))
            continue
        if entry.email in seen:
            out.append((line, f"line {line}: {entry.email} already on line {seen[entry.email]}"))
            continue
        seen[entry.email] = line
        out.append((line, entry))
    return out


def parse_roster_csv(text: str) -> list[RosterEntry]:
    """The entries of a roster file; the first bad row raises ValidationError with its line."""
    entries: list[RosterEntry] = []
    for line, item in _rows(text):
        if isinstance(item, str):
            raise ValidationError(item, {"line": line})
        entries.append(item)
    return entries


def _upsert(entry: RosterEntry, *, actor: str, channel: str) -> tuple[Subscriber, bool]:
    """Apply one entry in the current transaction; True when the address was new."""
    municipality = municipality_by_name(entry.municipality) if entry.municipality else None
    topics_by_slug(list(entry.topics))  # names the unknown slugs
    email = check_address(entry.email)
    subscriber = db.session.scalar(sa.select(Subscriber).where(Subscriber.email == email))
    created = subscriber is None
    if subscriber is None:
        subscriber = Subscriber(email=email)
        db.session.add(subscriber)
    subscriber.role = entry.role
    subscriber.municipality = municipality
    subscriber.frequency = entry.frequency
    subscriber.locale = entry.locale
    if entry.name is not None:
        subscriber.name = entry.name
    if subscriber.status is not SubscriberStatus.ACTIVE:
        subscriber.status = SubscriberStatus.ACTIVE
        subscriber.confirmed_at = utcnow()
        subscriber.unsubscribed_at = None
    service.set_topics(subscriber, entry.topics)
    db.session.flush()
    service.record_consent(
        subscriber,
        ConsentAction.IMPORT,
        channel,
        actor=actor,
        details={
            "role": entry.role.value,
            "municipality": municipality.name if municipality else None,
            "topics": subscriber.topic_slugs,
            "frequency": entry.frequency.value,
            "locale": entry.locale,
        },
    )
    return subscriber, created


def add_by_operator(entry: RosterEntry, *, actor: str, channel: str) -> Subscriber:
    """Upsert one institutional address, active at once, with an IMPORT ledger entry naming
    the operator. Unknown municipality: NotFound; unknown topic: ValidationError."""
    return upsert_by_operator(entry, actor=actor, channel=channel)[0]


def upsert_by_operator(entry: RosterEntry, *, actor: str, channel: str) -> tuple[Subscriber, bool]:
    """``add_by_operator``, also telling whether the address was new (the API answers 201)."""
    try:
        subscriber, created = _upsert(entry, actor=actor, channel=channel)
    except Exception:
        db.session.rollback()
        raise
    db.session.commit()
    return subscriber, created


def import_roster(
    text: str, *, actor: str, dry_run: bool = False, channel: str = "cli"
) -> RosterReport:
    """All or nothing. A dry run lists every bad row and commits nothing; a real run stops at
    the first bad row (ValidationError with its line) and leaves the database untouched."""
    rows = _rows(text)
    errors: list[str] = []
    created = updated = 0
    try:
        for line, item in rows:
            if isinstance(item, str):
                if not dry_run:
                    raise ValidationError(item, {"line": line})
                errors.append(item)
                continue
            try:
                # _upsert looks everything up before it writes, so a bad row writes nothing.
                _subscriber, was_new = _upsert(item, actor=actor, channel=channel)
            except NewsletterError as exc:
                message = f"line {line}: {exc.message}"
                if not dry_run:
                    raise ValidationError(message, {"line": line}) from None
                errors.append(message)
                continue
            created += was_new
            updated += not was_new
    except Exception:
        db.session.rollback()
        raise
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    return RosterReport(created=created, updated=updated, dry_run=dry_run, errors=tuple(errors))


def _export_rows() -> list[dict[str, str | None]]:
    subscribers = db.session.scalars(
        sa.select(Subscriber)
        .options(selectinload(Subscriber.subscriptions), selectinload(Subscriber.municipality))
        .order_by(Subscriber.email)
    )
    return [
        {
            "email": s.email,
            "role": s.role.value,
            "municipality": s.municipality.name if s.municipality else "",
            "topics": ";".join(s.topic_slugs),
            "frequency": s.frequency.value,
            "locale": s.locale,
            "name": s.name or "",
            "status": s.status.value,
            "created_at": s.created_at.isoformat(),
            "confirmed_at": s.confirmed_at.isoformat() if s.confirmed_at else "",
        }
        for s in subscribers
    ]


def export_subscribers(fmt: str = "csv") -> str:
    """Every subscriber; the CSV has the import columns first, so it can be imported back."""
    rows = _export_rows()
    if fmt == "json":
        as_json = [
            {**row, "topics": row["topics"].split(";") if row["topics"] else []} for row in rows
        ]
        return json.dumps(as_json, ensure_ascii=False, indent=2) + "\n"
    if fmt != "csv":
        raise ValidationError(f"unknown export format {fmt!r} (csv or json)")
    out = io.StringIO()
    writer = csv.DictWriter(
        out,
        fieldnames=[*COLUMNS, "status", "created_at", "confirmed_at"],
        lineterminator="\n",
    )
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
