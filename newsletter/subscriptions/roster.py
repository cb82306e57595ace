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

import contextvars
import csv
import gc
import io
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pydantic
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from newsletter import audit, csvsafe
from newsletter.audit import Actor
from newsletter.db import UTCDateTime, rows_table, utcnow
from newsletter.delivery import outbox
from newsletter.delivery.models import DeliveryKind
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
    new_link_keys,
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
BATCH = 2_500  # rows written at once by an import (the next batch is read meanwhile)
# Core tables: set-based statements without the ORM's per-row bookkeeping (the hot path).
SUBSCRIBER: sa.Table = Subscriber.__table__
SUBSCRIPTION: sa.Table = Subscription.__table__
CONSENT_EVENT: sa.Table = ConsentEvent.__table__


@dataclass(frozen=True)
class RosterEntry:
    """One checked row. ``all_topics``: the API request named none (its default: every topic);
    otherwise ``topics`` are the topics, empty only for a comune's news or alerts alone."""

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


def _csv_data(cells: Sequence[str], at: dict[str, int]) -> dict[str, Any]:
    """A CSV row (stripped, unescaped cells; ``at``: column -> position, a missing column at
    an empty cell) in the JSON shape of ``SubscriberIn``: empty cells are absent, topics are
    split on ';', choices are case-insensitive."""
    data: dict[str, Any] = {
        "email": cells[at["email"]],
        "role": cells[at["role"]].lower(),
        "frequency": cells[at["frequency"]].lower(),
        "locale": cells[at["locale"]].lower(),
        "topics": [t.strip().lower() for t in cells[at["topics"]].split(";") if t.strip()],
    }
    for optional in ("municipality", "name", "consent_at", "consent_source"):
        if value := cells[at[optional]]:
            data[optional] = value
    for name in ("local_news", "alerts"):
        if flag := cells[at[name]].lower():
            data[name] = FLAGS.get(flag, flag)
    return data


def _rows(text: str, vocabulary: Lookups | None) -> Iterator[tuple[int, RosterEntry | str]]:
    """Each data row with its line number: the entry, or the message saying what is wrong."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in next(reader, [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ValidationError(
            f"line 1: the CSV header lacks the column(s) {', '.join(missing)} "
            f"(expected {', '.join(COLUMNS)})",
            {"line": 1, "missing": missing},
        )
    width = len(header)
    at = {name: width for name in COLUMNS}  # absent columns read the empty cell at the end
    for position, name in enumerate(header):  # a repeated name: the last one, as before
        at[name] = position
    padding = [""] * (width + 1)
    quote = csvsafe.QUOTE
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        cells = [cell.strip() for cell in row[:width]]
        if not any(cells):
            continue  # a blank line
        if any(cell.startswith(quote) for cell in cells):
            cells = [csvsafe.unescape(c) if c.startswith(quote) else c for c in cells]
        cells += padding[len(cells) :]
        try:
            entry = parse_entry(_csv_data(cells, at), vocabulary)
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


@dataclass(frozen=True)
class _Row:
    """A checked entry with what ``_Writer.prepare`` worked out for it."""

    entry: RosterEntry
    municipality_id: int | None
    topic_ids: tuple[int, ...]
    status: SubscriberStatus  # should the address be new
    new_row: tuple[Any, ...]  # its subscriber row, should it be new (``_NEW_COLUMNS``)
    details: dict[str, Any]  # its ledger details, should it be new


@dataclass
class _Plan:
    """What a batch of rows does, decided before anything is written."""

    new: list[_Row] = field(default_factory=list)
    changed: list[tuple[int, _Row, SubscriberStatus]] = field(default_factory=list)
    left_alone: list[tuple[_Row, SubscriberStatus]] = field(default_factory=list)


def _canonical(name: str, vocabulary: Lookups) -> str | None:
    found = vocabulary.municipalities.get(name_key(name))
    return found or vocabulary.municipalities.get(name.strip().lower())


def _resolve(entry: RosterEntry, vocabulary: Lookups) -> None:
    """Unknown municipality: NotFound; unknown topic: ValidationError (entries built in code)."""
    if entry.municipality and _canonical(entry.municipality, vocabulary) is None:
        raise NotFound(
            f"unknown municipality: {entry.municipality}", {"municipality": entry.municipality}
        )
    unknown = sorted(set(entry.topics) - vocabulary.topic_set)
    if unknown:
        raise ValidationError(f"unknown topic: {', '.join(unknown)}", {"topics": unknown})


def _target_status(entry: RosterEntry, current: SubscriberStatus | None) -> SubscriberStatus:
    """Active for institutions and for citizens with proof of consent (or already active);
    pending otherwise: a citizen is never made active silently."""
    if entry.role in INSTITUTIONAL or entry.has_consent:
        return SubscriberStatus.ACTIVE
    if current is SubscriberStatus.ACTIVE:
        return SubscriberStatus.ACTIVE
    return SubscriberStatus.PENDING


# The columns a roster row sets, shipped to the database as one table (``db.rows_table``).
_NEW_COLUMNS: list[tuple[str, sa.types.TypeEngine[Any]]] = [
    ("email", sa.String()),
    ("name", sa.String()),
    ("locale", sa.String()),
    ("status", sa.String()),
    ("role", sa.String()),
    ("frequency", sa.String()),
    ("municipality_id", sa.Integer()),
    ("local_news", sa.Boolean()),
    ("alerts", sa.Boolean()),
    ("link_key", sa.String()),
    ("active", sa.Boolean()),  # confirmed now
    ("pending", sa.Boolean()),  # a confirmation mail is queued now
]
# For a known address, None in name, local_news and alerts means "leave it as it is".
_CHANGED_COLUMNS: list[tuple[str, sa.types.TypeEngine[Any]]] = [
    ("id", sa.Integer()),
    *(c for c in _NEW_COLUMNS if c[0] not in ("email", "link_key")),
    ("returns", sa.Boolean()),  # unsubscribed or bounced before: unsubscribed_at cleared
]


@dataclass
class _Writer:
    """Writes checked batches in one session's transaction, set-based: one statement per
    table and kind of change (the rows travel as one JSON parameter, ``db.rows_table``), so a
    batch of thousands of rows costs about ten statements. Everything it needs from the app
    (lookups, the notice version) is read when it is made, so it can run on another thread."""

    session: Session
    vocabulary: Lookups
    actor: str
    channel: str
    reactivate: bool
    now: datetime
    dialect: str = ""
    version: str = ""
    topic_ids: dict[str, int] = field(default_factory=dict)
    municipality_ids: dict[str, int] = field(default_factory=dict)
    canonical: dict[str, tuple[str, int]] = field(default_factory=dict)
    shapes: dict[tuple[Any, ...], Any] = field(default_factory=dict)  # see ``prepare``

    @classmethod
    def open(cls, vocabulary: Lookups, *, actor: str, channel: str, reactivate: bool) -> _Writer:
        session = db.session()
        writer = cls(
            session,
            vocabulary,
            actor=actor,
            channel=service.consent_channel(channel).value,
            reactivate=reactivate,
            now=utcnow(),
            dialect=str(session.get_bind().dialect.name),
            version=service.notice_version(),
        )
        writer.topic_ids = {s: i for s, i in session.execute(sa.select(Topic.slug, Topic.id))}
        writer.municipality_ids = {
            name: mid
            for name, mid in session.execute(sa.select(Municipality.name, Municipality.id))
        }
        return writer

    def municipality(self, entry: RosterEntry) -> tuple[str, int] | tuple[None, None]:
        """(canonical name, id) of the entry's comune, looked up once per spelling."""
        if not entry.municipality:
            return None, None
        found = self.canonical.get(entry.municipality)
        if found is None:
            name = str(_canonical(entry.municipality, self.vocabulary))
            found = self.canonical[entry.municipality] = (name, self.municipality_ids[name])
        return found

    def plan(self, rows: Sequence[_Row]) -> _Plan:
        plan = _Plan()
        emails = rows_table(
            self.dialect, "emails", [("email", sa.String())], [(r.entry.email,) for r in rows]
        )
        found = self.session.execute(
            sa.select(SUBSCRIBER.c.email, SUBSCRIBER.c.id, SUBSCRIBER.c.status).where(
                SUBSCRIBER.c.email.in_(sa.select(emails.c.email))
            )
        )
        existing = {email: (sid, status) for email, sid, status in found}
        for row in rows:
            known = existing.get(row.entry.email)
            if known is None:
                plan.new.append(row)
                continue
            sid, status = known
            if status not in ACTIVE_OR_PENDING and not (self.reactivate or row.entry.reactivate):
                plan.left_alone.append((row, status))
                continue
            plan.changed.append((sid, row, status))
        return plan

    def insert_new(self, rows: list[tuple[Any, ...]]) -> dict[str, int]:
        """INSERT ... SELECT ... RETURNING: the new subscribers; email -> id."""
        if not rows:
            return {}
        new = rows_table(self.dialect, "new", _NEW_COLUMNS, rows)
        stamp = sa.literal(self.now, UTCDateTime())
        select = sa.select(
            *(new.c[name] for name, _type in _NEW_COLUMNS[:10]),
            stamp,
            sa.case((new.c.active, stamp)),
            sa.case((new.c.pending, stamp)),
            sa.literal(0, sa.Integer()),
        )
        columns = [name for name, _type in _NEW_COLUMNS[:10]]
        columns += ["created_at", "confirmed_at", "confirmation_sent_at", "soft_bounces"]
        statement = (
            SUBSCRIBER.insert()
            .from_select(columns, select)
            .returning(SUBSCRIBER.c.email, SUBSCRIBER.c.id)
        )
        return {email: sid for email, sid in self.session.execute(statement)}

    def update_changed(self, rows: list[tuple[Any, ...]]) -> None:
        """UPDATE ... FROM: the known addresses whose row changes (re-importing the same
        file rewrites only the pending ones, whose confirmation mail goes again)."""
        if not rows:
            return
        changed = rows_table(self.dialect, "changed", _CHANGED_COLUMNS, rows)
        stamp = sa.literal(self.now, UTCDateTime())
        row = SUBSCRIBER.c
        values: dict[str, sa.ColumnElement[Any]] = {
            "name": sa.func.coalesce(changed.c.name, row.name),
            "locale": changed.c.locale,
            "status": changed.c.status,
            "role": changed.c.role,
            "frequency": changed.c.frequency,
            "municipality_id": changed.c.municipality_id,
            "local_news": sa.func.coalesce(changed.c.local_news, row.local_news),
            "alerts": sa.func.coalesce(changed.c.alerts, row.alerts),
            "confirmed_at": sa.case((changed.c.active, stamp), else_=row.confirmed_at),
            "unsubscribed_at": sa.case(
                (sa.or_(changed.c.active, changed.c.returns), sa.null()),
                else_=row.unsubscribed_at,
            ),
            "confirmation_sent_at": sa.case(
                (changed.c.pending, stamp), else_=row.confirmation_sent_at
            ),
        }
        differs = sa.tuple_(*(row[name] for name in values)).is_distinct_from(
            sa.tuple_(*values.values())
        )
        self.session.execute(
            sa.update(SUBSCRIBER)
            .where(row.id == changed.c.id, differs)
            .values(values)
            .execution_options(synchronize_session=False)
        )

    def replace_links(self, known: list[int], pairs: list[tuple[int, int]]) -> None:
        """The topics of these subscribers are ``pairs``: a known subscriber's links that are
        not among them go, the missing ones are added, the others stay as they are (with
        the date they were made)."""

        def wanted() -> sa.FromClause:
            columns = [("subscriber_id", sa.Integer()), ("topic_id", sa.Integer())]
            return rows_table(self.dialect, "wanted", columns, pairs)

        link = SUBSCRIPTION.c
        if known:
            ids = rows_table(self.dialect, "known", [("id", sa.Integer())], [(i,) for i in known])
            keep = wanted()
            if self.dialect == "postgresql":  # an anti-join
                unwanted: sa.ColumnElement[bool] = ~sa.exists().where(
                    keep.c.subscriber_id == link.subscriber_id, keep.c.topic_id == link.topic_id
                )
            else:  # SQLite looks (a, b) IN (SELECT ...) up in a temporary index
                unwanted = sa.tuple_(link.subscriber_id, link.topic_id).not_in(
                    sa.select(keep.c.subscriber_id, keep.c.topic_id)
                )
            self.session.execute(
                sa.delete(SUBSCRIPTION).where(link.subscriber_id.in_(sa.select(ids.c.id)), unwanted)
            )
        if not pairs:
            return
        add = wanted()
        select = sa.select(
            add.c.subscriber_id, add.c.topic_id, sa.literal(self.now, UTCDateTime())
        ).where(sa.true())  # SQLite would read "FROM t ON CONFLICT" as a join
        insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        self.session.execute(
            insert(SUBSCRIPTION)
            .from_select(["subscriber_id", "topic_id", "created_at"], select)
            .on_conflict_do_nothing(index_elements=["subscriber_id", "topic_id"])
        )

    def insert_events(self, events: list[tuple[int, dict[str, Any]]]) -> None:
        """One IMPORT ledger entry per (subscriber, details): the details travel inside the
        rows' JSON, the shared columns as single values."""
        if not events:
            return
        rows = rows_table(
            self.dialect,
            "events",
            [("subscriber_id", sa.Integer()), ("details", sa.JSON())],
            events,
        )
        select = sa.select(
            rows.c.subscriber_id,
            sa.literal(ConsentAction.IMPORT.value, sa.String()),
            sa.literal(self.now, UTCDateTime()),
            sa.literal(self.version, sa.String()),
            sa.literal(self.channel, sa.String()),
            sa.literal(self.actor, sa.String()),
            rows.c.details,
        )
        columns = ["subscriber_id", "action", "occurred_at", "notice_version", "channel", "actor"]
        self.session.execute(CONSENT_EVENT.insert().from_select([*columns, "details"], select))

    def prepare(self, entry: RosterEntry, link_key: str) -> _Row:
        """What can be worked out for a row before the database is asked (on PostgreSQL,
        while it writes the previous batch): its comune and topics, and its row and ledger
        details should the address be new. Unknown comune: NotFound; topic: ValidationError.
        What depends only on the row's settings is worked out once per kind of row."""
        shape = (
            entry.role,
            entry.municipality,
            entry.topics,
            entry.all_topics,
            entry.frequency,
            entry.locale,
            entry.local_news,
            entry.alerts,
            entry.has_consent,
        )
        common = self.shapes.get(shape)
        if common is None:
            common = self.shapes[shape] = self._common(entry)
        municipality_id, topic_ids, status, alerts, details = common
        new_row = (
            entry.email,
            entry.name,
            entry.locale,
            status,  # str enums: JSON writes their value
            entry.role,
            entry.frequency,
            municipality_id,
            bool(entry.local_news and entry.municipality),  # a comune's news needs a comune
            alerts,
            link_key,
            status is SubscriberStatus.ACTIVE,
            status is SubscriberStatus.PENDING,
        )
        if entry.has_consent:
            assert entry.consent_at is not None
            details = {
                **details,
                "consent_at": entry.consent_at.isoformat(),
                "consent_source": entry.consent_source,
            }
        return _Row(entry, municipality_id, topic_ids, status, new_row, details)

    def _common(
        self, entry: RosterEntry
    ) -> tuple[int | None, tuple[int, ...], SubscriberStatus, bool | None, dict[str, Any]]:
        """The part of ``prepare`` that rows with the same settings share (not changed after:
        the ledger details are copied before a row adds its own)."""
        _resolve(entry, self.vocabulary)
        name, municipality_id = self.municipality(entry)
        slugs = self.vocabulary.topics if entry.all_topics else entry.topics
        status = _target_status(entry, None)
        alerts = entry.alerts_setting(new=True)
        details: dict[str, Any] = {
            "role": entry.role,
            "municipality": name,
            "topics": sorted(slugs),
            "frequency": entry.frequency,
            "locale": entry.locale,
            "status": status,
        }
        if entry.local_news is not None:
            details["local_news"] = bool(entry.local_news and entry.municipality)
        if alerts is not None:
            details["alerts"] = alerts
        topic_ids = tuple(self.topic_ids[slug] for slug in slugs)
        return municipality_id, topic_ids, status, alerts, details

    def apply(self, rows: Sequence[_Row]) -> tuple[RosterReport, list[int]]:
        """Write a batch of prepared rows. Returns the report and the ids in the order of
        ``rows`` (0 for an address left alone)."""
        plan = self.plan(rows)
        ids = self.insert_new([row.new_row for row in plan.new])

        statuses = {row.entry.email: row.status for row in plan.new}
        changed_rows = []
        for sid, row, current in plan.changed:
            entry = row.entry
            status = _target_status(entry, current)
            statuses[entry.email] = status
            ids[entry.email] = sid
            local_news = None
            if entry.local_news is not None or not entry.municipality:
                local_news = bool(entry.local_news and entry.municipality)
            changed_rows.append(
                (
                    sid,
                    entry.name,
                    entry.locale,
                    status,
                    entry.role,
                    entry.frequency,
                    row.municipality_id,
                    local_news,
                    entry.alerts_setting(new=False),
                    status is SubscriberStatus.ACTIVE and current is not SubscriberStatus.ACTIVE,
                    status is SubscriberStatus.PENDING,
                    current not in ACTIVE_OR_PENDING,
                )
            )
        self.update_changed(changed_rows)

        written = [*plan.new, *(row for _sid, row, _st in plan.changed)]
        self.replace_links(
            [sid for sid, _row, _status in plan.changed],
            [(ids[row.entry.email], topic) for row in written for topic in row.topic_ids],
        )

        events: list[tuple[int, dict[str, Any]]] = [
            (ids[row.entry.email], row.details) for row in plan.new
        ]
        for sid, row, current in plan.changed:
            details = {**row.details, "status": statuses[row.entry.email]}
            alerts = row.entry.alerts_setting(new=False)
            if alerts is None:
                details.pop("alerts", None)
            else:
                details["alerts"] = alerts
            if current not in ACTIVE_OR_PENDING:
                details["reactivated_from"] = current  # the operator's explicit override
            events.append((sid, details))
        self.insert_events(events)

        pending = [
            ids[email] for email, status in statuses.items() if status is SubscriberStatus.PENDING
        ]
        # Their confirmation_sent_at was set above, with the row.
        outbox.enqueue_service_mails(
            DeliveryKind.CONFIRM, pending, now=self.now, session=self.session
        )
        report = RosterReport(
            created=len(plan.new),
            updated=len(plan.changed),
            dry_run=False,
            pending=len(pending),
            left_alone=len(plan.left_alone),
            reactivated=sum(1 for _s, _r, st in plan.changed if st not in ACTIVE_OR_PENDING),
        )
        return report, [ids.get(row.entry.email, 0) for row in rows]


def _apply(
    entries: Sequence[RosterEntry],
    vocabulary: Lookups,
    *,
    actor: str,
    channel: str,
    reactivate: bool,
) -> tuple[RosterReport, list[int]]:
    """Write a checked batch in the current transaction (see ``_Writer``)."""
    writer = _Writer.open(vocabulary, actor=actor, channel=channel, reactivate=reactivate)
    keys = new_link_keys(len(entries))
    result = writer.apply([writer.prepare(e, k) for e, k in zip(entries, keys, strict=True)])
    db.session.expire_all()  # the ORM objects of this session no longer match the rows
    return result


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
    with _bulk():
        return _import_roster(
            text,
            actor=actor,
            dry_run=dry_run,
            channel=channel,
            reactivate=reactivate,
            progress=progress,
        )


@contextmanager
def _bulk() -> Iterator[None]:
    """Python's cycle collector paused while a file is read and written: the rows are tens of
    thousands of long-lived objects that form no cycles, and the collector walking them again
    and again was a quarter of an import's time (measured, issue 16). It runs as usual after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _import_roster(
    text: str,
    *,
    actor: Actor,
    dry_run: bool,
    channel: str,
    reactivate: bool,
    progress: Callable[[int], None] | None,
) -> RosterReport:
    """Read and write in batches of ``BATCH`` rows, in one transaction. On PostgreSQL (its own
    process) the next batch is read and checked while the server writes the previous one, on
    a second thread that has the session to itself until it is done; SQLite (inside this
    process, its connections bound to their thread) writes each batch in turn."""
    vocabulary = load_lookups()
    writer = _Writer.open(vocabulary, actor=actor.name, channel=channel, reactivate=reactivate)
    pool = ThreadPoolExecutor(1, "roster-import") if writer.dialect == "postgresql" else None
    in_flight: Future[tuple[RosterReport, list[int]]] | None = None
    reports: list[RosterReport] = []
    errors: list[str] = []
    batch: list[_Row] = []
    keys: list[str] = []

    def settle() -> None:
        """Wait for the batch being written (the session is free again after)."""
        nonlocal in_flight
        done, in_flight = in_flight, None
        if done is not None:
            reports.append(done.result()[0])

    def write(entries: list[_Row]) -> None:
        nonlocal in_flight
        settle()
        if pool is None:
            reports.append(writer.apply(entries)[0])
        else:
            # With this thread's context (the app's, hence the same session), which this
            # thread leaves alone until ``settle``.
            in_flight = pool.submit(contextvars.copy_context().run, writer.apply, entries)

    try:
        for line, item in _rows(text, vocabulary):
            if progress is not None and line % 500 == 0:
                progress(500)
            if isinstance(item, str):
                if not dry_run:
                    raise ValidationError(item, {"line": line})
                errors.append(item)
                continue
            if not keys:
                keys = new_link_keys(BATCH)
            batch.append(writer.prepare(item, keys.pop()))
            if len(batch) == BATCH:
                write(batch)
                batch = []
        if batch:
            write(batch)
        settle()
    except BaseException:
        if in_flight is not None:
            wait([in_flight])  # its error, if any, is not the one to report
        db.session.rollback()
        raise
    finally:
        if pool is not None:
            pool.shutdown()
    db.session.expire_all()  # the ORM objects of this session no longer match the rows
    report = RosterReport(
        created=sum(r.created for r in reports),
        updated=sum(r.updated for r in reports),
        dry_run=dry_run,
        errors=tuple(errors),
        pending=sum(r.pending for r in reports),
        left_alone=sum(r.left_alone for r in reports),
        reactivated=sum(r.reactivated for r in reports),
    )
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
    return report


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
