"""The institutional roster: operator adds, CSV import (all or nothing, dry run), export, CLI."""

from __future__ import annotations

import collections
import csv
import io
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from newsletter.audit import Actor
from newsletter.exceptions import NotFound, ValidationError
from newsletter.extensions import db
from newsletter.reference.models import Topic
from newsletter.reference.service import import_bundled_municipalities
from newsletter.subscriptions import roster
from newsletter.subscriptions.models import (
    ConsentAction,
    ConsentEvent,
    Frequency,
    Role,
    Subscriber,
    SubscriberStatus,
    Subscription,
)
from newsletter.subscriptions.roster import RosterEntry
from tests.fixtures.subscriptions import outbox, subscriber_by_email

GOOD = """email,role,municipality,topics,frequency,locale,name
sindaco@crema.example.org,mayor,Crema,welfare;mobility;energy;governance,weekly,it,Sindaco
ufficio@offanengo.example.org,official,offanengo,energy,daily,en,
"""


@pytest.fixture
def municipalities(app: Flask) -> None:
    import_bundled_municipalities()


def _count() -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(Subscriber)) or 0)


def test_operator_add_is_active_at_once_with_an_import_event(
    app: Flask, municipalities: None
) -> None:
    entry = RosterEntry(
        "Sindaco@Crema.example.org",
        Role.MAYOR,
        "crema",
        ("governance", "welfare"),
        Frequency.WEEKLY,
        "it",
        "Sindaco",
    )
    added = roster.add_by_operator(entry, actor=Actor("admin:rossi"), channel="admin")
    assert added.status is SubscriberStatus.ACTIVE
    assert added.email == "sindaco@crema.example.org"
    assert added.municipality is not None
    assert added.municipality.name == "Crema"
    assert added.topic_slugs == ["governance", "welfare"]
    [event] = db.session.scalars(
        sa.select(ConsentEvent).where(ConsentEvent.subscriber_id == added.id)
    )
    assert (event.action, event.actor, event.channel) == (
        ConsentAction.IMPORT,
        "admin:rossi",
        "admin",
    )
    assert outbox() == []  # no double opt-in mail for operator-added addresses

    again = roster.add_by_operator(
        RosterEntry(
            "sindaco@crema.example.org", Role.MAYOR, "Crema", ("energy",), Frequency.DAILY, "en"
        ),
        actor=Actor("admin:rossi"),
        channel="api",
    )
    assert again.id == added.id
    assert again.topic_slugs == ["energy"]
    assert again.name == "Sindaco"


def test_operator_add_names_unknown_municipality_and_topic(
    app: Flask, municipalities: None
) -> None:
    with pytest.raises(NotFound, match="Atlantide"):
        roster.add_by_operator(
            RosterEntry(
                "a@example.org", Role.MAYOR, "Atlantide", ("welfare",), Frequency.WEEKLY, "it"
            ),
            actor=Actor("x"),
            channel="api",
        )
    with pytest.raises(ValidationError, match="sport"):
        roster.add_by_operator(
            RosterEntry("a@example.org", Role.MAYOR, "Crema", ("sport",), Frequency.WEEKLY, "it"),
            actor=Actor("x"),
            channel="api",
        )
    assert _count() == 0


def test_import_counts_created_and_updated(app: Flask, municipalities: None) -> None:
    report = roster.import_roster(GOOD, actor=Actor("cli:ops"))
    assert (report.created, report.updated, report.errors) == (2, 0, ())
    report = roster.import_roster(GOOD, actor=Actor("cli:ops"))
    assert (report.created, report.updated) == (0, 2)
    official = subscriber_by_email("ufficio@offanengo.example.org")
    assert official is not None
    assert official.role is Role.OFFICIAL
    assert official.locale == "en"


def test_importing_again_changes_only_what_changed(app: Flask, municipalities: None) -> None:
    """A re-import keeps the links that stay (with the date they were made), drops the topics
    left out and adds the new ones."""
    roster.import_roster(GOOD, actor=Actor("cli:ops"))

    def links(email: str) -> dict[str, object]:
        db.session.expire_all()
        rows = db.session.execute(
            sa.select(Topic.slug, Subscription.created_at)
            .join(Subscription, Subscription.topic_id == Topic.id)
            .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
            .where(Subscriber.email == email)
        )
        return {slug: created for slug, created in rows}

    mayor, official = links("sindaco@crema.example.org"), links("ufficio@offanengo.example.org")
    assert sorted(mayor) == ["energy", "governance", "mobility", "welfare"]
    changed = GOOD.replace("welfare;mobility;energy;governance", "welfare;energy").replace(
        "offanengo,energy,", "offanengo,energy;mobility,"
    )
    report = roster.import_roster(changed, actor=Actor("cli:ops"))
    assert (report.created, report.updated) == (0, 2)
    assert links("sindaco@crema.example.org") == {
        "welfare": mayor["welfare"],
        "energy": mayor["energy"],
    }
    again = links("ufficio@offanengo.example.org")
    assert again["energy"] == official["energy"]
    assert sorted(again) == ["energy", "mobility"]
    assert again["mobility"] > official["energy"]  # type: ignore[operator]


def test_a_bad_row_rejects_the_whole_file(app: Flask, municipalities: None) -> None:
    bad = GOOD + "x@example.org,mayor,Atlantide,welfare,weekly,it,\n"
    with pytest.raises(ValidationError, match=r"^line 4: unknown municipality: Atlantide"):
        roster.import_roster(bad, actor=Actor("cli:ops"))
    assert _count() == 0


def test_dry_run_reports_every_bad_row_and_commits_nothing(
    app: Flask, municipalities: None
) -> None:
    bad = GOOD + (
        "x@example.org,mayor,Atlantide,welfare,weekly,it,\n"
        "y@example.org,mayor,Crema,sport,weekly,it,\n"
        "broken,mayor,Crema,welfare,weekly,it,\n"
    )
    report = roster.import_roster(bad, actor=Actor("cli:ops"), dry_run=True)
    assert report.dry_run
    assert (report.created, report.updated) == (2, 0)
    assert [e.split(":")[0] for e in report.errors] == ["line 4", "line 5", "line 6"]
    assert _count() == 0
    clean = roster.import_roster(GOOD, actor=Actor("cli:ops"), dry_run=True)
    assert clean.errors == ()
    assert _count() == 0


def _people(count: int, start: int = 0) -> str:
    return "".join(
        f"p{i}@example.org,official,Crema,welfare;energy,weekly,it,\n"
        for i in range(start, start + count)
    )


def test_a_bad_row_after_batches_were_written_leaves_nothing(
    app: Flask, municipalities: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows are written in batches (on PostgreSQL while the next batch is read): a bad row in
    a later batch still rejects the whole file, with its line, and nothing stays."""
    monkeypatch.setattr(roster, "BATCH", 3)
    bad = GOOD + _people(7) + "x@example.org,mayor,Atlantide,welfare,weekly,it,\n" + _people(2, 7)
    with pytest.raises(ValidationError, match=r"^line 11: unknown municipality: Atlantide"):
        roster.import_roster(bad, actor=Actor("cli:ops"))
    assert _count() == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ConsentEvent)) == 0

    report = roster.import_roster(bad, actor=Actor("cli:ops"), dry_run=True)
    assert (report.created, report.updated, len(report.errors)) == (11, 0, 1)
    assert _count() == 0

    report = roster.import_roster(GOOD + _people(9), actor=Actor("cli:ops"))
    assert (report.created, report.updated, report.errors) == (11, 0, ())
    assert _count() == 11
    report = roster.import_roster(GOOD + _people(12), actor=Actor("cli:ops"))
    assert (report.created, report.updated) == (3, 11)
    events = db.session.scalars(sa.select(ConsentEvent.subscriber_id))
    assert sorted(collections.Counter(events).values()) == [1] * 3 + [2] * 11


def test_a_batch_the_database_refuses_rolls_back_the_batches_before_it(
    app: Flask, municipalities: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A constraint only this test adds (names unique) makes the third batch fail in the
    database, after two were written: the error comes through, and nothing stays."""
    monkeypatch.setattr(roster, "BATCH", 2)
    roster.import_roster(GOOD, actor=Actor("cli:ops"))
    rows = [f"p{i}@example.org,official,Crema,welfare,weekly,it,Ufficio {i}\n" for i in range(6)]
    rows[5] = "p5@example.org,official,Crema,welfare,weekly,it,Ufficio 0\n"
    text = GOOD.splitlines(keepends=True)[0] + "".join(rows)
    with db.engine.begin() as conn:
        conn.execute(sa.text("CREATE UNIQUE INDEX test_unique_name ON subscriber (name)"))
    try:
        with pytest.raises(sa.exc.IntegrityError):
            roster.import_roster(text, actor=Actor("cli:ops"))
    finally:
        db.session.rollback()
        with db.engine.begin() as conn:
            conn.execute(sa.text("DROP INDEX test_unique_name"))
    assert _count() == 2
    assert subscriber_by_email("p0@example.org") is None


def test_export_round_trips_through_import(app: Flask, municipalities: None) -> None:
    roster.import_roster(GOOD, actor=Actor("cli:ops"))
    exported = roster.export_subscribers("csv", actor=Actor("tests"))
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [r["email"] for r in rows] == [
        "sindaco@crema.example.org",
        "ufficio@offanengo.example.org",
    ]
    assert rows[0]["topics"] == "energy;governance;mobility;welfare"
    assert rows[0]["status"] == "active"
    as_json = json.loads(roster.export_subscribers("json", actor=Actor("tests")))
    assert as_json[1]["topics"] == ["energy"]
    assert as_json[1]["municipality"] == "Offanengo"
    report = roster.import_roster(exported, actor=Actor("cli:ops"))
    assert (report.created, report.updated) == (0, 2)


def test_cli_import_and_export(
    runner: FlaskCliRunner, tmp_path: Path, municipalities: None
) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(GOOD, encoding="utf-8")
    dry = runner.invoke(args=["subscribers", "import", str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would create 2" in dry.output
    assert _count() == 0
    result = runner.invoke(args=["subscribers", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "created 2, updated 0"
    event = db.session.scalars(sa.select(ConsentEvent)).first()
    assert event is not None
    assert event.actor
    assert event.actor.startswith("cli:")
    assert event.channel == "cli"

    exported = runner.invoke(args=["subscribers", "export", "--format", "json"])
    assert exported.exit_code == 0
    assert len(json.loads(exported.output)) == 2


def test_cli_bad_file_is_one_line(
    runner: FlaskCliRunner, tmp_path: Path, municipalities: None
) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(GOOD + "broken,mayor,Crema,welfare,weekly,it,\n", encoding="utf-8")
    result = runner.invoke(args=["subscribers", "import", str(path)])
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: line 4: not a valid e-mail address")
    assert "Traceback" not in result.output
    missing = runner.invoke(args=["subscribers", "import", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 1
    assert "no such file" in missing.output
    assert _count() == 0
