"""The roster: people added by an operator (mayors, officials, citizens moved from an older
list), in bulk from a CSV or one at a time through the API. Both read ``SubscriberIn``.

The rules, the same on every path:
- institutional rows (mayor, official) are active at once (no double opt-in);
- a citizen row is active only with proof of consent (``consent_at`` and ``consent_source``);
  without it the citizen is pending and gets a confirmation mail, as if they had used the form;
- an address that unsubscribed, bounced or complained is left as it is unless the operator
  asks for ``reactivate`` (recorded in the consent ledger);
- one consent-ledger entry per person says who added them, through which channel, and the
  evidence.

Imports are set-based (a few statements per thousand rows, not a few per row), so a 20,000-line
file takes about a second, and all or nothing.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pydantic
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import selectinload

from newsletter import audit, csvsafe
from newsletter.audit import Actor
from newsletter.db import UTCDateTime, utcnow
from newsletter.exceptions import Conflict, NotFound, ValidationError
from newsletter.extensions import db
from newsletter.reference.models import Municipality, Topic
from newsletter.schemas import describe, field_errors
from newsletter.subscriptions import service
from newsletter.subscriptions.models import (
    ConsentAction,
    ConsentEvent,
    Frequency,
    Role,
    Subscriber,
    SubscriberStatus,
    Subscription,
)
from newsletter.subscriptions.schemas import (
    INSTITUTIONAL,
    Lookups,
    SubscriberIn,
    name_key,
)
from newsletter.subscriptions.schemas import check_address as _check_address

__all__ = [
    "COLUMNS",
    "RosterEntry",
    "RosterReport",
    "add_by_operator",
    "check_address",
    "export_subscribers",
    "import_roster",
    "parse_roster_csv",
    "upsert_by_operator",
]

COLUMNS = (
    "email",
    "role",
    "municipality",
    "topics",
    "frequency",
    "locale",
    "name",
    "local_news",
    "alerts",
    "consent_at",
    "consent_source",
)
REQUIRED_COLUMNS = ("email", "role", "municipality", "topics", "frequency", "locale")
FLAGS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
ACTIVE_OR_PENDING = frozenset({SubscriberStatus.ACTIVE, SubscriberStatus.PENDING})
CHUNK = 500  # rows per IN (...) look-up and per statement: well under every parameter limit
# Core tables: executemany without the ORM's per-row bookkeeping (the import's hot path).
SUBSCRIBER: sa.Table = Subscriber.__table__
SUBSCRIPTION: sa.Table = Subscription.__table__
CONSENT_EVENT: sa.Table = ConsentEvent.__table__


@dataclass(frozen=True)
class RosterEntry:
    """One checked row. ``all_topics``: the API request named none (its default: every topic);
    otherwise ``topics`` are the topics, empty only for a comune's news alone."""

    email: str
    role: Role
    municipality: str | None
    topics: tuple[str, ...]
    frequency: Frequency
    locale: str
    name: str | None = None
    consent_at: datetime | None = None
    consent_source: str | None = None
    reactivate: bool = False
    local_news: bool | None = None  # None: unchanged (False for a new address)
    all_topics: bool = False
    alerts: bool | None = None  # None: unchanged (a new address: see alerts_setting)

    @classmethod
    def from_schema(cls, row: SubscriberIn) -> RosterEntry:
        return cls(
            email=row.email,
            role=row.role,
            municipality=row.municipality,
            topics=tuple(row.topics or ()),
            frequency=row.frequency,
            locale=row.locale,
            name=row.name,
            consent_at=row.consent_time,
            consent_source=row.consent_source,
            reactivate=row.reactivate,
            local_news=row.local_news,
            all_topics=row.topics is None,
            alerts=row.alerts,
        )

    def alerts_setting(self, *, new: bool) -> bool | None:
        """The ``alerts`` value to store (None: leave it). A comune's alerts need a comune;
        when the row does not say, a new mayor or official gets them and a citizen does not,
        and a known address keeps what it had (they may have turned them off)."""
        if not self.municipality:
            return False
        if self.alerts is not None:
            return self.alerts
        return self.role in INSTITUTIONAL if new else None

    @property
    def has_consent(self) -> bool:
        return self.consent_at is not None and bool(self.consent_source)


@dataclass(frozen=True)
class RosterReport:
    created: int
    updated: int
    dry_run: bool
    errors: tuple[str, ...] = field(default=())
    pending: int = 0  # citizens without proof of consent: confirmation mail queued
    left_alone: int = 0  # unsubscribed/bounced/complained addresses not reactivated
    reactivated: int = 0


# --- reading ------------------------------------------------------------------------------


def check_address(raw: str) -> str:
    """A valid address, normalised (no DNS); ValidationError naming the problem otherwise."""
    try:
        return _check_address(raw)
    except ValueError as exc:
        raise ValidationError(str(exc), {"email": str(exc)}) from None


def load_lookups() -> Lookups:
    """Topic slugs and municipality names, read once per request or file."""
    topics = tuple(db.session.scalars(sa.select(Topic.slug).order_by(Topic.position, Topic.slug)))
    names: dict[str, str] = {}
    for name, slug in db.session.execute(sa.select(Municipality.name, Municipality.slug)):
        names[slug] = name
        names[name.lower()] = name
        names[name_key(name)] = name
    return Lookups(topics=topics, municipalities=names)


def parse_entry(data: Any, vocabulary: Lookups | None) -> RosterEntry:
    """One API body or CSV row (already shaped as JSON) as an entry; ValidationError naming
    each bad field otherwise."""
    if not isinstance(data, dict):
        raise ValidationError("the body must be a JSON object", {"body": "must be an object"})
    try:
        row = SubscriberIn.model_validate(data, context=vocabulary)
    except pydantic.ValidationError as exc:
        errors = field_errors(exc)
    else:
        errors = row.cross_field_errors()
        if not errors:
            return RosterEntry.from_schema(row)
    first, message = next(iter(errors.items()))
    raise ValidationError(describe(first, message), errors)


def _csv_data(row: dict[str, str | None]) -> dict[str, Any]:
    """A CSV row in the JSON shape of ``SubscriberIn``: empty cells are absent, topics are
    split on ';', choices are case-insensitive."""

    def cell(name: str) -> str:
        value = row.get(name)
        if not value:
            return ""
        value = value.strip()
        return csvsafe.unescape(value) if value.startswith(csvsafe.QUOTE) else value

    data: dict[str, Any] = {
        "email": cell("email"),
        "role": cell("role").lower(),
        "frequency": cell("frequency").lower(),
        "locale": cell("locale").lower(),
        "topics": [t.strip().lower() for t in cell("topics").split(";") if t.strip()],
    }
    for optional in ("municipality", "name", "consent_at", "consent_source"):
        if value := cell(optional):
            data[optional] = value
    for name in ("local_news", "alerts"):
        if flag := cell(name).lower():
            data[name] = FLAGS.get(flag, flag)
    return data


def _rows(text: str, vocabulary: Lookups | None) -> Iterator[tuple[int, RosterEntry | str]]:
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
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue  # a blank line
        try:
            entry = parse_entry(_csv_data(row), vocabulary)
        except ValidationError as exc:
            yield line, f"line {line}: {exc.message}"
            continue
        if entry.email in seen:
            yield line, f"line {line}: {entry.email} already on line {seen[entry.email]}"
            continue
        seen[entry.email] = line
        yield line, entry


def parse_roster_csv(text: str, vocabulary: Lookups | None = None) -> list[RosterEntry]:
    """The entries of a roster file; the first bad row raises ValidationError with its line.
    Without a vocabulary, topic and municipality names are not looked up."""
    entries: list[RosterEntry] = []
    for line, item in _rows(text, vocabulary):
        if isinstance(item, str):
            raise ValidationError(item, {"line": line})
        entries.append(item)
    return entries


# --- writing ------------------------------------------------------------------------------


@dataclass
class _Plan:
    """What a batch of entries does, decided before anything is written."""

    new: list[RosterEntry] = field(default_factory=list)
    changed: list[tuple[int, RosterEntry, SubscriberStatus]] = field(default_factory=list)
    left_alone: list[tuple[RosterEntry, SubscriberStatus]] = field(default_factory=list)


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _canonical(name: str, vocabulary: Lookups) -> str | None:
    found = vocabulary.municipalities.get(name_key(name))
    return found or vocabulary.municipalities.get(name.strip().lower())


def _resolve(entry: RosterEntry, vocabulary: Lookups) -> None:
    """Unknown municipality: NotFound; unknown topic: ValidationError (entries built in code)."""
    if entry.municipality and _canonical(entry.municipality, vocabulary) is None:
        raise NotFound(
            f"unknown municipality: {entry.municipality}", {"municipality": entry.municipality}
        )
    unknown = sorted(set(entry.topics) - set(vocabulary.topics))
    if unknown:
        raise ValidationError(f"unknown topic: {', '.join(unknown)}", {"topics": unknown})


def _plan(entries: Sequence[RosterEntry], *, reactivate: bool) -> _Plan:
    plan = _Plan()
    existing: dict[str, tuple[int, SubscriberStatus]] = {}
    for chunk in _chunks([e.email for e in entries]):
        rows = db.session.execute(
            sa.select(Subscriber.email, Subscriber.id, Subscriber.status).where(
                Subscriber.email.in_(chunk)
            )
        )
        existing.update({email: (sid, status) for email, sid, status in rows})
    for entry in entries:
        found = existing.get(entry.email)
        if found is None:
            plan.new.append(entry)
            continue
        sid, status = found
        if status not in ACTIVE_OR_PENDING and not (reactivate or entry.reactivate):
            plan.left_alone.append((entry, status))
            continue
        plan.changed.append((sid, entry, status))
    return plan


def _insert_links(pairs: Sequence[tuple[int, int]], now: datetime) -> None:
    """(subscriber, topic) rows, set-based: the pairs travel as one parameter per chunk (two
    PostgreSQL arrays, a JSON array on SQLite) and the database unnests them, so tens of
    thousands of rows cost a few statements and no per-row parameter processing."""
    dialect = db.session.get_bind().dialect.name
    columns = ["subscriber_id", "topic_id", "created_at"]
    stamp = sa.literal(now, UTCDateTime())
    for offset in range(0, len(pairs), 10_000):
        chunk = pairs[offset : offset + 10_000]
        if dialect == "postgresql":
            select = sa.select(
                sa.func.unnest(sa.literal([p[0] for p in chunk], postgresql.ARRAY(sa.Integer()))),
                sa.func.unnest(sa.literal([p[1] for p in chunk], postgresql.ARRAY(sa.Integer()))),
                stamp,
            )
        else:
            rows = sa.func.json_each(json.dumps(chunk)).table_valued("value").alias("pairs")
            select = sa.select(
                sa.cast(sa.func.json_extract(rows.c.value, "$[0]"), sa.Integer()),
                sa.cast(sa.func.json_extract(rows.c.value, "$[1]"), sa.Integer()),
                stamp,
            ).select_from(rows)
        db.session.execute(SUBSCRIPTION.insert().from_select(columns, select))


def _insert_events(
    events: Sequence[tuple[int, dict[str, Any]]],
    *,
    actor: str,
    channel: str,
    version: str,
    now: datetime,
) -> None:
    """One IMPORT ledger entry per (subscriber, details), set-based like ``_insert_links``:
    the pairs travel as one JSON document per chunk, the shared columns as single values, so
    neither the details nor the rows are encoded one statement parameter at a time."""
    dialect = db.session.get_bind().dialect.name
    columns = [
        "subscriber_id",
        "action",
        "occurred_at",
        "notice_version",
        "channel",
        "actor",
        "details",
    ]
    shared: list[sa.ColumnElement[Any]] = [
        sa.literal(ConsentAction.IMPORT.value, sa.String()),
        sa.literal(now, UTCDateTime()),
        sa.literal(version, sa.String()),
        sa.literal(channel, sa.String()),
        sa.literal(actor, sa.String()),
    ]
    for offset in range(0, len(events), 5_000):
        chunk = [list(event) for event in events[offset : offset + 5_000]]
        if dialect == "postgresql":
            document = sa.literal(chunk, postgresql.JSON())  # encoded once, by the driver
            rows = sa.func.json_array_elements(document).table_valued("value")
            select = sa.select(
                sa.cast(rows.c.value.op("->>")(0), sa.Integer()),
                *shared,
                rows.c.value.op("->")(1),
            ).select_from(rows)
        else:
            text = json.dumps(chunk, ensure_ascii=False)
            rows = sa.func.json_each(text).table_valued("value").alias("events")
            select = sa.select(
                sa.cast(sa.func.json_extract(rows.c.value, "$[0]"), sa.Integer()),
                *shared,
                sa.func.json_extract(rows.c.value, "$[1]"),
            ).select_from(rows)
        db.session.execute(CONSENT_EVENT.insert().from_select(columns, select))


def _target_status(entry: RosterEntry, current: SubscriberStatus | None) -> SubscriberStatus:
    """Active for institutions and for citizens with proof of consent (or already active);
    pending otherwise: a citizen is never made active silently."""
    if entry.role in INSTITUTIONAL or entry.has_consent:
        return SubscriberStatus.ACTIVE
    if current is SubscriberStatus.ACTIVE:
        return SubscriberStatus.ACTIVE
    return SubscriberStatus.PENDING


def _apply(
    entries: Sequence[RosterEntry],
    vocabulary: Lookups,
    *,
    actor: str,
    channel: str,
    reactivate: bool,
    now: datetime,
) -> tuple[RosterReport, list[int]]:
    """Write a checked batch in the current transaction, set-based. Returns the report and the
    ids in the order of ``entries`` (0 for an address left alone)."""
    for entry in entries:
        _resolve(entry, vocabulary)
    plan = _plan(entries, reactivate=reactivate)
    topic_ids = {slug: tid for slug, tid in db.session.execute(sa.select(Topic.slug, Topic.id))}
    municipality_ids = {
        name: mid for name, mid in db.session.execute(sa.select(Municipality.name, Municipality.id))
    }

    def columns(entry: RosterEntry, status: SubscriberStatus) -> dict[str, Any]:
        values: dict[str, Any] = {
            "role": entry.role,
            "municipality_id": (
                municipality_ids[str(_canonical(entry.municipality, vocabulary))]
                if entry.municipality
                else None
            ),
            "frequency": entry.frequency,
            "locale": entry.locale,
            "status": status,
        }
        if entry.name is not None:
            values["name"] = entry.name
        if entry.local_news is not None or not entry.municipality:
            # A comune's news needs a comune.
            values["local_news"] = bool(entry.local_news and entry.municipality)
        if (alerts := entry.alerts_setting(new=False)) is not None:
            values["alerts"] = alerts
        return values

    ids: dict[str, int] = {}
    statuses: dict[str, SubscriberStatus] = {}
    new_rows = []
    for entry in plan.new:
        status = _target_status(entry, None)
        statuses[entry.email] = status
        new_rows.append(
            {
                "email": entry.email,
                "created_at": now,
                "confirmed_at": now if status is SubscriberStatus.ACTIVE else None,
                "name": entry.name,
                "local_news": False,
                **columns(entry, status),
                "alerts": entry.alerts_setting(new=True),
            }
        )
    for chunk in _chunks(new_rows):
        db.session.execute(SUBSCRIBER.insert(), list(chunk))
        found = db.session.execute(
            sa.select(Subscriber.email, Subscriber.id).where(
                Subscriber.email.in_([r["email"] for r in chunk])
            )
        )
        ids.update({email: sid for email, sid in found})

    updates = []
    for sid, entry, current in plan.changed:
        status = _target_status(entry, current)
        statuses[entry.email] = status
        ids[entry.email] = sid
        values = {"id": sid, **columns(entry, status)}
        if status is SubscriberStatus.ACTIVE and current is not SubscriberStatus.ACTIVE:
            values["confirmed_at"] = now
            values["unsubscribed_at"] = None
        elif current not in ACTIVE_OR_PENDING:
            values["unsubscribed_at"] = None
        updates.append(values)
    # One UPDATE per distinct set of columns (executemany by primary key).
    by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for values in updates:
        by_keys.setdefault(tuple(sorted(values)), []).append(values)
    for group in by_keys.values():
        for chunk in _chunks(group):
            db.session.execute(sa.update(Subscriber), list(chunk))

    changed_ids = [sid for sid, _entry, _status in plan.changed]
    for chunk in _chunks(changed_ids):
        db.session.execute(sa.delete(Subscription).where(Subscription.subscriber_id.in_(chunk)))
    every_topic = tuple(vocabulary.topics)
    links = [
        (ids[entry.email], topic_ids[slug])
        for entry in [*plan.new, *(e for _sid, e, _st in plan.changed)]
        for slug in (every_topic if entry.all_topics else entry.topics)
    ]
    _insert_links(links, now)

    previous = {entry.email: current for _sid, entry, current in plan.changed}
    version = service.notice_version()
    channel = service.consent_channel(channel).value
    events: list[tuple[int, dict[str, Any]]] = []
    for entry in [*plan.new, *(e for _sid, e, _st in plan.changed)]:
        details: dict[str, Any] = {
            "role": entry.role.value,
            "municipality": (
                _canonical(entry.municipality, vocabulary) if entry.municipality else None
            ),
            "topics": sorted(every_topic if entry.all_topics else entry.topics),
            "frequency": entry.frequency.value,
            "locale": entry.locale,
            "status": statuses[entry.email].value,
        }
        if entry.local_news is not None:
            details["local_news"] = bool(entry.local_news and entry.municipality)
        if (alerts := entry.alerts_setting(new=entry.email not in previous)) is not None:
            details["alerts"] = alerts
        if entry.has_consent:
            assert entry.consent_at is not None
            details["consent_at"] = entry.consent_at.isoformat()
            details["consent_source"] = entry.consent_source
        was = previous.get(entry.email)
        if was is not None and was not in ACTIVE_OR_PENDING:
            details["reactivated_from"] = was.value  # the operator's explicit override
        events.append((ids[entry.email], details))
    _insert_events(events, actor=actor, channel=channel, version=version, now=now)

    pending = [
        ids[email] for email, status in statuses.items() if status is SubscriberStatus.PENDING
    ]
    service.enqueue_confirmations(pending, now)
    db.session.expire_all()  # the ORM objects of this session no longer match the rows
    report = RosterReport(
        created=len(plan.new),
        updated=len(plan.changed),
        dry_run=False,
        pending=len(pending),
        left_alone=len(plan.left_alone),
        reactivated=sum(1 for st in previous.values() if st not in ACTIVE_OR_PENDING),
    )
    return report, [ids.get(entry.email, 0) for entry in entries]


def add_by_operator(entry: RosterEntry, *, actor: Actor, channel: str) -> Subscriber:
    """Upsert one address by the roster's rules, with an IMPORT ledger entry naming the
    operator. Unknown municipality: NotFound; unknown topic: ValidationError; an address that
    left without ``reactivate``: Conflict."""
    return upsert_by_operator(entry, actor=actor, channel=channel)[0]


def upsert_by_operator(
    entry: RosterEntry, *, actor: Actor, channel: str
) -> tuple[Subscriber, bool]:
    """``add_by_operator``, also telling whether the address was new (the API answers 201)."""
    email = check_address(entry.email)
    if email != entry.email:
        entry = RosterEntry(**{**entry.__dict__, "email": email})
    try:
        report, [sid] = _apply(
            [entry],
            load_lookups(),
            actor=actor.name,
            channel=channel,
            reactivate=entry.reactivate,
            now=utcnow(),
        )
        if report.left_alone:
            status = db.session.scalar(
                sa.select(Subscriber.status).where(Subscriber.email == email)
            )
            raise Conflict(
                f'{email} is {status}: left as it is; send "reactivate": true to bring it '
                "back (recorded in the consent ledger)",
                {"email": str(status), "reactivate": "required to change this address"},
            )
        action = "roster.add" if report.created == 1 else "roster.update"
        audit.record(actor, action, f"subscriber:{sid}", {"channel": channel})
    except Exception:
        db.session.rollback()
        raise
    db.session.commit()
    subscriber = db.session.get(Subscriber, sid)
    assert subscriber is not None
    return subscriber, report.created == 1


def import_roster(
    text: str,
    *,
    actor: Actor,
    dry_run: bool = False,
    channel: str = "cli",
    reactivate: bool = False,
    progress: Callable[[int], None] | None = None,
) -> RosterReport:
    """All or nothing. A dry run lists every bad row and commits nothing; a real run stops at
    the first bad row (ValidationError with its line) and leaves the database untouched.
    ``progress(n)`` (optional) is told of every 500 rows checked."""
    vocabulary = load_lookups()
    entries: list[RosterEntry] = []
    errors: list[str] = []
    for line, item in _rows(text, vocabulary):
        if progress is not None and line % 500 == 0:
            progress(500)
        if isinstance(item, str):
            if not dry_run:
                raise ValidationError(item, {"line": line})
            errors.append(item)
            continue
        entries.append(item)
    try:
        report, _ids = _apply(
            entries,
            vocabulary,
            actor=actor.name,
            channel=channel,
            reactivate=reactivate,
            now=utcnow(),
        )
    except Exception:
        db.session.rollback()
        raise
    if dry_run:
        db.session.rollback()
    else:
        details = {
            "bytes": len(text),
            "created": report.created,
            "updated": report.updated,
            "reactivate": reactivate,
        }
        audit.record(actor, "roster.import", None, details)
        db.session.commit()
    return RosterReport(
        created=report.created,
        updated=report.updated,
        dry_run=dry_run,
        errors=tuple(errors),
        pending=report.pending,
        left_alone=report.left_alone,
        reactivated=report.reactivated,
    )


# --- export -------------------------------------------------------------------------------

EXPORT_COLUMNS = (*COLUMNS[:9], "status", "created_at", "confirmed_at")


def _export_rows() -> Iterable[dict[str, str | None]]:
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
            "local_news": "true" if s.local_news else "false",
            "alerts": "true" if s.alerts else "false",
            "status": s.status.value,
            "created_at": s.created_at.isoformat(),
            "confirmed_at": s.confirmed_at.isoformat() if s.confirmed_at else "",
        }
        for s in subscribers
    ]


def export_subscribers(fmt: str = "csv", *, actor: Actor) -> str:
    """Every subscriber; the CSV has the import columns first, so it can be imported back.
    Personal data leaving the service: audited."""
    if fmt not in ("csv", "json"):
        raise ValidationError(f"unknown export format {fmt!r} (csv or json)")
    rows = list(_export_rows())
    audit.record(actor, "subscribers.export", None, {"format": fmt, "rows": len(rows)})
    db.session.commit()
    if fmt == "json":
        as_json = [
            {
                **row,
                "topics": row["topics"].split(";") if row["topics"] else [],
                "local_news": row["local_news"] == "true",
                "alerts": row["alerts"] == "true",
            }
            for row in rows
        ]
        return json.dumps(as_json, ensure_ascii=False, indent=2) + "\n"
    if fmt != "csv":
        raise ValidationError(f"unknown export format {fmt!r} (csv or json)")
    return csvsafe.write(EXPORT_COLUMNS, rows)
