from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from flask.testing import FlaskCliRunner

from newsletter.extensions import db
from newsletter.reference import service
from newsletter.reference.models import Municipality


def test_db_upgrade_seeds_the_48_municipalities_with_slugs(app: object) -> None:
    """Migration 0002 leaves the bundled list in the database; importing it changes nothing."""
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Municipality)) == 48
    slugs = {m.name: m.slug for m in service.list_municipalities()}
    assert slugs["Spino d'Adda"] == "spino-d-adda"
    assert slugs["Casale Cremasco-Vidolasco"] == "casale-cremasco-vidolasco"
    assert all(slug.isascii() and slug == slug.lower() for slug in slugs.values())
    again = service.import_bundled_municipalities()
    assert (again.created, again.updated, again.unchanged) == (0, 0, 48)


def test_names_are_found_ignoring_case_accents_and_apostrophes(app: object) -> None:
    assert service.municipality_by_name("SPINO D’ADDA").name == "Spino d'Adda"
    assert service.municipality_by_name("  castelléone ").name == "Castelleone"
    assert service.municipality_by_name("casale cremasco vidolasco").slug == (
        "casale-cremasco-vidolasco"
    )
    assert service.find_municipality("Cremona") is None


def test_a_renamed_municipality_keeps_its_old_slug_as_an_alias(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["municipalities", "rename", "Torlino Vimercati", "Torlino"])
    assert result.exit_code == 0, result.output
    assert "/comuni/torlino" in result.output
    municipality, old = service.municipality_by_slug("torlino-vimercati")
    assert (municipality.name, municipality.slug, old) == ("Torlino", "torlino", True)
    assert service.municipality_by_slug("torlino") == (municipality, False)
    again = runner.invoke(args=["municipalities", "rename", "Torlino", "Torlino Vimercati"])
    assert again.exit_code == 0, again.output
    assert service.municipality_by_slug("torlino-vimercati")[1] is False
    assert service.municipality_by_slug("torlino")[1] is True
    clash = runner.invoke(args=["municipalities", "rename", "Crema", "Offanengo"])
    assert clash.exit_code != 0
    assert "Offanengo exists already" in clash.output


def test_import_cli_upserts_by_name(runner: FlaskCliRunner, tmp_path: Path) -> None:
    csv_file = tmp_path / "m.csv"
    # A corrected code for Crema; an empty one keeps Pandino's (019067, seeded by 0012).
    csv_file.write_text("name,istat_code\nCrema,019935\nPandino,\n", encoding="utf-8")
    result = runner.invoke(args=["municipalities", "import", str(csv_file)])
    assert result.exit_code == 0, result.output
    assert "created 0, updated 1, unchanged 1" in result.output
    csv_file.write_text("name,istat_code\nNuovo Comune,019999\n", encoding="utf-8")
    result = runner.invoke(args=["municipalities", "import", str(csv_file)])
    assert "created 1, updated 0" in result.output
    assert service.municipality_by_name("nuovo comune").slug == "nuovo-comune"
    assert service.municipality_by_name("CREMA").istat_code == "019935"
    assert service.municipality_by_name("Pandino").istat_code == "019067"


def test_a_bad_row_rejects_the_whole_file(runner: FlaskCliRunner, tmp_path: Path) -> None:
    csv_file = tmp_path / "m.csv"
    csv_file.write_text("name,istat_code\nCrema,\n,019\nPandino,\n", encoding="utf-8")
    result = runner.invoke(args=["municipalities", "import", str(csv_file)])
    assert result.exit_code != 0
    assert "line 3: empty name" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Municipality)) == 48
