from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from flask.testing import FlaskCliRunner

from newsletter.extensions import db
from newsletter.reference import service
from newsletter.reference.models import Municipality


def test_bundled_list_has_the_48_municipalities(app: object) -> None:
    counts = service.import_bundled_municipalities()
    assert counts.created == 48
    again = service.import_bundled_municipalities()
    assert (again.created, again.updated, again.unchanged) == (0, 0, 48)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Municipality)) == 48


def test_import_cli_upserts_by_name(runner: FlaskCliRunner, tmp_path: Path) -> None:
    csv_file = tmp_path / "m.csv"
    csv_file.write_text("name,istat_code\nCrema,019035\nPandino,\n", encoding="utf-8")
    result = runner.invoke(args=["municipalities", "import", str(csv_file)])
    assert result.exit_code == 0, result.output
    assert "created 2, updated 0, unchanged 0" in result.output
    csv_file.write_text("name,istat_code\ncrema,019035\n", encoding="utf-8")
    result = runner.invoke(args=["municipalities", "import", str(csv_file)])
    assert "created 0, updated 1" in result.output
    assert service.municipality_by_name("CREMA").istat_code == "019035"


def test_a_bad_row_rejects_the_whole_file(runner: FlaskCliRunner, tmp_path: Path) -> None:
    csv_file = tmp_path / "m.csv"
    csv_file.write_text("name,istat_code\nCrema,\n,019\nPandino,\n", encoding="utf-8")
    result = runner.invoke(args=["municipalities", "import", str(csv_file)])
    assert result.exit_code != 0
    assert "line 3: empty name" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Municipality)) == 0
