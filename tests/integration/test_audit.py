"""Audit on every path: the operations write the audit row themselves, so what is done from the
console (``cli:<os user>``) or through the API (``api:<token name>``) leaves the same trace as
the admin area (the account's e-mail)."""

from __future__ import annotations

import getpass
from pathlib import Path

import sqlalchemy as sa
from flask.testing import FlaskClient, FlaskCliRunner

from newsletter.audit import Actor, AuditEntry
from newsletter.extensions import db

CONSOLE = f"cli:{getpass.getuser()}"
ROSTER = """email,role,municipality,topics,frequency,locale,name
sindaco@crema.example.org,mayor,Crema,welfare;mobility,weekly,it,Sindaco
"""


def trail() -> list[tuple[str, str, str | None]]:
    db.session.expire_all()
    rows = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id))
    return [(row.action, row.actor, row.target) for row in rows]


def invoke(runner: FlaskCliRunner, *args: str) -> str:
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return str(result.output)


def test_the_console_leaves_an_audit_trail(runner: FlaskCliRunner, tmp_path: Path) -> None:
    invoke(runner, "token", "create", "cms")
    invoke(runner, "token", "revoke", "cms")
    invoke(runner, "token", "revoke", "cms")  # nothing left to revoke: no second row
    invoke(runner, "articles", "sources", "add", "https://www.comune.crema.cr.it/rss.xml")
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    invoke(runner, "subscribers", "import", str(roster), "--dry-run")  # changes nothing
    invoke(runner, "subscribers", "import", str(roster))
    invoke(runner, "subscribers", "export", "--format", "json")
    towns = tmp_path / "towns.csv"
    towns.write_text("name,istat_code\nOffanengo,019063\n", encoding="utf-8")
    invoke(runner, "municipalities", "import", str(towns))
    invoke(runner, "municipalities", "rename", "Offanengo", "Offanengo Cremasco")

    rows = trail()
    assert rows[:-1] == [
        ("api_token.create", CONSOLE, "cms"),
        ("api_token.revoke", CONSOLE, "cms"),
        ("source.add", CONSOLE, "https://www.comune.crema.cr.it/rss.xml"),
        ("roster.import", CONSOLE, None),
        ("subscribers.export", CONSOLE, None),
        ("municipalities.import", CONSOLE, None),
    ]
    assert rows[-1][:2] == ("municipality.rename", CONSOLE)
    rename = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert rename is not None
    assert rename.target is not None
    assert rename.target.startswith("municipality:")
    assert rename.details == {"from": "Offanengo", "to": "Offanengo Cremasco"}
    imported = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "roster.import"))
    assert imported is not None
    assert imported.details == {
        "bytes": len(ROSTER),
        "created": 1,
        "updated": 0,
        "reactivate": False,
    }
    assert all(row.user_id is None for row in db.session.scalars(sa.select(AuditEntry)))


def test_a_failed_operation_leaves_no_audit_row(runner: FlaskCliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "roster.csv"
    bad.write_text(ROSTER.replace("mayor,Crema", "mayor,Atlantide"), encoding="utf-8")
    assert runner.invoke(args=["subscribers", "import", str(bad)]).exit_code == 1
    assert runner.invoke(args=["articles", "sources", "add", "ftp://example.org/x"]).exit_code == 1
    assert trail() == []


def test_the_api_names_its_token(client: FlaskClient, auth: dict[str, str]) -> None:
    mayor = {
        "email": "sindaco@comune.pandino.cr.it",
        "role": "mayor",
        "municipality": "Pandino",
        "topics": ["welfare"],
        "frequency": "weekly",
        "locale": "it",
    }
    assert client.post("/api/v1/subscribers", json=mayor, headers=auth).status_code == 201
    assert client.post("/api/v1/subscribers", json=mayor, headers=auth).status_code == 200
    rows = trail()
    # The fixture made the token as "tests"; then the token itself acts.
    assert rows[0] == ("api_token.create", "tests", "cms")
    assert [(action, actor) for action, actor, _ in rows[1:]] == [
        ("roster.add", "api:cms"),
        ("roster.update", "api:cms"),
    ]
    assert rows[1][2] == rows[2][2]
    assert rows[1][2] is not None
    assert rows[1][2].startswith("subscriber:")


def test_actors_say_who() -> None:
    assert Actor.console().name == CONSOLE
    assert Actor.of_token("cms") == Actor("api:cms")
