"""Building a period's digests: variants, recipients, idempotence, concurrent builders."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from newsletter import mailparts
from newsletter.delivery.models import Delivery, DeliveryKind
from newsletter.digests.models import Digest, DigestArticle
from newsletter.digests.service import build_digests, preview_digest
from newsletter.extensions import db
from newsletter.subscriptions.models import Subscriber
from tests.conftest import make_app
from tests.fixtures.digests import WEEKLY_FIRE


def _deliveries() -> dict[str, str]:
    """recipient e-mail -> audience key of the digest they get."""
    rows = db.session.execute(
        sa.select(Subscriber.email, Digest.audience_key)
        .join(Delivery, Delivery.subscriber_id == Subscriber.id)
        .join(Digest, Digest.id == Delivery.digest_id)
    ).all()
    return dict(rows)


def test_weekly_build_makes_one_variant_per_audience(
    app: Flask, digest_data: Callable[..., Any]
) -> None:
    data = digest_data()
    result = build_digests("weekly", WEEKLY_FIRE + timedelta(minutes=3))

    assert result.period_key == "weekly:2026-W48"
    crema = db.session.scalar(
        sa.select(Subscriber.municipality_id).where(Subscriber.email == "sindaco@example.org")
    )
    assert _deliveries() == {
        "anna@example.org": "citizen:weekly:governance+welfare:it",
        "carla@example.org": "citizen:weekly:governance+welfare:it",
        "bob@example.org": "citizen:weekly:energy+mobility:en",
        "sindaco@example.org": f"mayor:{crema}:it",
        "official@example.org": "official:en",
    }
    keys = set(db.session.scalars(sa.select(Digest.audience_key)))
    assert keys == set(_deliveries().values()) | {"edition:weekly:it", "edition:weekly:en"}
    assert result.digests == len(keys)
    assert result.deliveries == 5
    assert all(
        d.kind == DeliveryKind.DIGEST and d.status == "queued"
        for d in db.session.scalars(sa.select(Delivery))
    )

    citizen = db.session.scalar(
        sa.select(Digest).where(Digest.audience_key == "citizen:weekly:governance+welfare:it")
    )
    assert citizen is not None
    assert citizen.window_start == WEEKLY_FIRE - timedelta(days=7)
    assert citizen.window_end == WEEKLY_FIRE
    assert citizen.article_count == 1
    assert [link.article_id for link in citizen.article_links] == [data["welfare"].id]
    assert mailparts.UNSUBSCRIBE_URL in citizen.html
    assert mailparts.UNSUBSCRIBE_URL in citizen.text
    assert mailparts.PREFERENCES_URL in citizen.html
    assert "Welfare locale" in citizen.html
    assert "@example.org" not in citizen.html

    mayor = db.session.scalar(sa.select(Digest).where(Digest.audience_key == f"mayor:{crema}:it"))
    assert mayor is not None
    sections = [(link.section, link.article_id) for link in mayor.article_links]
    assert sections == [
        ("municipality", data["energy"].id),
        ("municipality", data["welfare"].id),
        ("mobility", data["bikes"].id),
    ]
    edition = db.session.scalar(sa.select(Digest).where(Digest.audience_key == "edition:weekly:it"))
    assert edition is not None
    assert edition.article_count == 3
    assert mailparts.UNSUBSCRIBE_URL not in edition.html


def test_a_second_build_of_the_same_period_changes_nothing(
    app: Flask, digest_data: Callable[..., Any]
) -> None:
    digest_data()
    first = build_digests("weekly", WEEKLY_FIRE)
    before = db.session.execute(sa.select(Delivery.digest_id, Delivery.subscriber_id)).all()
    again = build_digests("weekly", WEEKLY_FIRE + timedelta(days=2))
    assert first.digests > 0
    assert (again.digests, again.deliveries) == (0, 0)
    assert db.session.execute(sa.select(Delivery.digest_id, Delivery.subscriber_id)).all() == before


def test_empty_periods_send_nothing_unless_configured(
    app: Flask, digest_data: Callable[..., Any]
) -> None:
    digest_data()
    quiet_week = WEEKLY_FIRE + timedelta(days=7)
    result = build_digests("weekly", quiet_week)
    assert (result.digests, result.deliveries) == (0, 0)
    app.config["SEND_EMPTY_DIGESTS"] = True
    result = build_digests("weekly", quiet_week)
    assert result.deliveries == 5
    subjects = set(db.session.scalars(sa.select(Digest.subject)))
    assert "Questa settimana: 0 articoli su Welfare e Governance" in subjects


def test_daily_and_immediate_readers_get_their_own_digests(
    app: Flask, digest_data: Callable[..., Any]
) -> None:
    from tests.fixtures.digests import add_article, add_subscriber

    digest_data()
    daily = build_digests("daily", WEEKLY_FIRE.replace(day=21))  # covers 20 Nov 07:00 - 21 Nov
    assert daily.period_key == "daily:2026-11-21"
    assert _deliveries() == {"daily@example.org": "citizen:daily:energy:it"}

    add_subscriber("now@example.org", ["mobility"], frequency="immediate", locale="en")
    at = WEEKLY_FIRE.replace(day=24, hour=10, minute=4)
    add_article("Nuovo ponte", ["mobility"], at - timedelta(minutes=1))
    too_early = build_digests("immediate", at)
    assert too_early.deliveries == 0  # the batch containing it has not ended yet
    batch = build_digests("immediate", at + timedelta(minutes=10))
    assert batch.period_key == "immediate:2026-11-24T10:10Z"
    assert _deliveries()["now@example.org"] == "immediate:mobility:en"
    digest = db.session.scalar(sa.select(Digest).where(Digest.kind == "immediate"))
    assert digest is not None
    assert digest.subject == "1 new article on Mobility"


def test_preview_writes_any_variant_without_storing_it(
    app: Flask, digest_data: Callable[..., Any], runner: FlaskCliRunner, tmp_path: Path
) -> None:
    digest_data()
    rendered = preview_digest("weekly", ["energy", "mobility"], "en", at=WEEKLY_FIRE)
    assert rendered.subject == "This week: 2 articles on Mobility and Energy"
    result = runner.invoke(
        args=[
            "digests",
            "preview",
            "--frequency",
            "weekly",
            "--lang",
            "it",
            "--mayor",
            "crema",
            "--at",
            WEEKLY_FIRE.isoformat(),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert result.exit_code == 0, result.output
    html = (tmp_path / "out" / "digest.html").read_text()
    text = (tmp_path / "out" / "digest.txt").read_text()
    assert "Nel tuo comune: Crema" in html
    assert "Nel tuo comune: Crema" in text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Digest)) == 0

    bad = runner.invoke(args=["digests", "preview", "--topics", "sport", "--out", str(tmp_path)])
    assert bad.exit_code == 1
    assert "unknown topic: sport" in bad.output


def test_build_command_prints_counts(
    app: Flask, digest_data: Callable[..., Any], runner: FlaskCliRunner
) -> None:
    digest_data()
    result = runner.invoke(
        args=["digests", "build", "--frequency", "weekly", "--at", "2026-11-23T07:05+01:00"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "weekly:2026-W48: 6 digests, 5 deliveries"
    bad = runner.invoke(args=["digests", "build", "--frequency", "weekly", "--at", "tomorrow"])
    assert bad.exit_code == 1
    assert "not an ISO-8601 time" in bad.output


@pytest.mark.postgres
def test_two_concurrent_builders_make_exactly_one_set_of_rows(
    app: Flask, database_url: str, digest_data: Callable[..., Any], tmp_path: Path
) -> None:
    digest_data()
    results: list[Any] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def builder(n: int) -> None:
        other = make_app(database_url, tmp_path / f"builder{n}")
        try:
            with other.app_context():
                barrier.wait()
                results.append(build_digests("weekly", WEEKLY_FIRE))
                db.engine.dispose()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=builder, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(r.deliveries for r in results) == [0, 5]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 5
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Digest)) == 6
    links = db.session.scalar(sa.select(sa.func.count()).select_from(DigestArticle))
    assert links == 1 + 2 + 3 + 3 + 3 + 3  # citizens it/en, mayor, official, two editions


def test_build_command_reports_its_stages_in_logs(
    app: Flask,
    digest_data: Callable[..., Any],
    runner: FlaskCliRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    digest_data()
    monkeypatch.setattr("newsletter.progress.EVERY", 0.0)  # a line at every stage
    result = runner.invoke(
        args=["digests", "build", "--frequency", "weekly", "--at", "2026-11-23T07:05+01:00"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "weekly:2026-W48: 6 digests, 5 deliveries"
    lines = result.stderr.splitlines()
    assert [line.split(",")[0] for line in lines[:3]] == [
        "building weekly digests: 1/3 (33%)",
        "building weekly digests: 2/3 (67%)",
        "building weekly digests: 3/3 (100%)",
    ]
    assert lines[-1].startswith("building weekly digests: 3 in ")
