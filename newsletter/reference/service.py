"""Topics and municipalities: listing them, finding a comune by any spelling or slug, renaming
one (its old slug redirects) and loading corrections from CSV.

The 48 comuni are seeded by migration 0002, like the topics by 0001; the bundled CSV is the same
list for ``municipalities import`` and the tests."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from newsletter import audit
from newsletter.audit import Actor
from newsletter.exceptions import NotFound, ValidationError
from newsletter.extensions import db
from newsletter.reference.models import Municipality, MunicipalityAlias, Topic
from newsletter.reference.names import name_key, slugify

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


def list_municipalities() -> list[Municipality]:
    return list(db.session.scalars(sa.select(Municipality).order_by(Municipality.name)))


def municipality_names() -> list[str]:
    """Every municipality's name, alphabetical (pickers, the API document)."""
    return list(db.session.scalars(sa.select(Municipality.name).order_by(Municipality.name)))


def find_municipality(name: str) -> Municipality | None:
    """The comune called ``name``, ignoring case, accents, apostrophe and hyphen styles; or by
    its slug. None when there is no such comune."""
    wanted = name_key(name)
    if not wanted:
        return None
    for municipality in db.session.scalars(sa.select(Municipality)):
        if name_key(municipality.name) == wanted or municipality.slug == name.strip().lower():
            return municipality
    return None


def municipality_by_name(name: str) -> Municipality:
    """Like ``find_municipality``; an unknown name is an error naming it."""
    found = find_municipality(name)
    if found is None:
        raise NotFound(f"unknown municipality: {name}", {"municipality": name})
    return found


def municipality_by_slug(slug: str) -> tuple[Municipality, bool]:
    """The comune of ``slug`` and whether ``slug`` is a former one (the caller redirects)."""
    found = db.session.scalar(sa.select(Municipality).where(Municipality.slug == slug))
    if found is not None:
        return found, False
    alias = db.session.get(MunicipalityAlias, slug)
    if alias is not None:
        municipality = db.session.get(Municipality, alias.municipality_id)
        if municipality is not None:
            return municipality, True
    raise NotFound(f"unknown municipality: {slug}", {"municipality": slug})


def _free_slug(name: str, own_id: int | None = None) -> str:
    base = slugify(name) or "comune"
    slug, n = base, 1
    while True:
        holder = db.session.scalar(sa.select(Municipality.id).where(Municipality.slug == slug))
        alias = db.session.get(MunicipalityAlias, slug)
        if (holder is None or holder == own_id) and (
            alias is None or alias.municipality_id == own_id
        ):
            return slug
        n += 1
        slug = f"{base}-{n}"


def rename_municipality(current: str, new_name: str, *, actor: Actor) -> Municipality:
    """A new official name: new slug, and the old slug stays as a redirect to it."""
    municipality = municipality_by_name(current)
    new_name = new_name.strip()
    if not new_name:
        raise ValidationError("the new name is empty", {"name": new_name})
    other = find_municipality(new_name)
    if other is not None and other.id != municipality.id:
        raise ValidationError(f"{other.name} exists already", {"name": new_name})
    old_slug, old_name = municipality.slug, municipality.name
    municipality.name = new_name
    new_slug = _free_slug(new_name, municipality.id)
    if new_slug != old_slug:
        stale = db.session.get(MunicipalityAlias, new_slug)
        if stale is not None:  # renamed back: the slug is its own again
            db.session.delete(stale)
        db.session.add(MunicipalityAlias(slug=old_slug, municipality_id=municipality.id))
        municipality.slug = new_slug
    audit.record(
        actor,
        "municipality.rename",
        f"municipality:{municipality.id}",
        {"from": old_name, "to": new_name},
    )
    db.session.commit()
    return municipality


def import_municipalities(text: str, *, actor: Actor) -> ImportCounts:
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
        if name_key(name) in seen:
            raise ValidationError(f"line {line}: {name} appears twice", {"line": line})
        if code is not None and not code.isdigit():
            raise ValidationError(
                f"line {line}: istat_code must be digits, not {code!r}", {"line": line}
            )
        seen.add(name_key(name))
        rows.append((name, code))

    existing = {name_key(m.name): m for m in db.session.scalars(sa.select(Municipality))}
    created = updated = unchanged = 0
    for name, code in rows:
        current = existing.get(name_key(name))
        if current is None:
            municipality = Municipality(name=name, slug=_free_slug(name), istat_code=code)
            db.session.add(municipality)
            db.session.flush()
            created += 1
        elif current.name != name or (code is not None and current.istat_code != code):
            current.name = name
            current.istat_code = code or current.istat_code
            updated += 1
        else:
            unchanged += 1
    counts = ImportCounts(created, updated, unchanged)
    audit.record(
        actor,
        "municipalities.import",
        None,
        {"bytes": len(text), "created": created, "updated": updated},
    )
    db.session.commit()
    return counts


def import_bundled_municipalities(actor: Actor | None = None) -> ImportCounts:
    """The 48 comuni shipped with the service (the demo, tests); ``system`` unless told."""
    return import_municipalities(
        BUNDLED_MUNICIPALITIES.read_text(encoding="utf-8"), actor=actor or Actor("system")
    )
