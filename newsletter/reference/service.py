"""Topics and municipalities: listing them and loading the municipality table from CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from newsletter.exceptions import NotFound, ValidationError
from newsletter.extensions import db
from newsletter.reference.models import Municipality, Topic

BUNDLED_MUNICIPALITIES = Path(__file__).parent / "data" / "municipalities.csv"


@dataclass(frozen=True)
class ImportCounts:
    created: int
    updated: int
    unchanged: int


def list_topics() -> list[Topic]:
    return list(db.session.scalars(sa.select(Topic).order_by(Topic.position, Topic.slug)))


def topics_by_slug(slugs: list[str] | tuple[str, ...]) -> list[Topic]:
    """The topics named, in display order; an unknown slug is an error naming it."""
    wanted = {s.strip().lower() for s in slugs if s.strip()}
    found = {t.slug: t for t in db.session.scalars(sa.select(Topic).where(Topic.slug.in_(wanted)))}
    unknown = sorted(wanted - found.keys())
    if unknown:
        raise ValidationError(f"unknown topic: {', '.join(unknown)}", {"topics": unknown})
    return sorted(found.values(), key=lambda t: (t.position, t.slug))


def municipality_by_name(name: str) -> Municipality:
    found = db.session.scalar(
        sa.select(Municipality).where(sa.func.lower(Municipality.name) == name.strip().lower())
    )
    if found is None:
        raise NotFound(f"unknown municipality: {name}", {"municipality": name})
    return found


def import_municipalities(text: str) -> ImportCounts:
    """Upsert by name, all or nothing: a bad row rejects the file with its line number."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if not reader.fieldnames or "name" not in reader.fieldnames:
        raise ValidationError("the CSV needs a header row with a 'name' column")
    rows: list[tuple[str, str | None]] = []
    seen: set[str] = set()
    for row in reader:
        line = reader.line_num
        name = (row.get("name") or "").strip()
        code = (row.get("istat_code") or "").strip() or None
        if not name:
            raise ValidationError(f"line {line}: empty name", {"line": line})
        if name.lower() in seen:
            raise ValidationError(f"line {line}: {name} appears twice", {"line": line})
        if code is not None and not code.isdigit():
            raise ValidationError(
                f"line {line}: istat_code must be digits, not {code!r}", {"line": line}
            )
        seen.add(name.lower())
        rows.append((name, code))

    existing = {m.name.lower(): m for m in db.session.scalars(sa.select(Municipality))}
    created = updated = unchanged = 0
    for name, code in rows:
        current = existing.get(name.lower())
        if current is None:
            db.session.add(Municipality(name=name, istat_code=code))
            created += 1
        elif current.name != name or (code is not None and current.istat_code != code):
            current.name = name
            current.istat_code = code or current.istat_code
            updated += 1
        else:
            unchanged += 1
    db.session.commit()
    return ImportCounts(created, updated, unchanged)


def import_bundled_municipalities() -> ImportCounts:
    return import_municipalities(BUNDLED_MUNICIPALITIES.read_text(encoding="utf-8"))
