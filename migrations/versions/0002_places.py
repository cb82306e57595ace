"""Places: the 48 comuni seeded, their slugs, a citizen's comune news, editors' mention fixes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

Reference data like the topics of 0001: the list is frozen here (no application imports), so a
fresh ``newsletter db upgrade`` has the 48 comuni; later corrections arrive through another
migration or ``newsletter municipalities import``. Rows that exist already (an instance that
imported the list by hand) are kept and only get their slug.
"""

import re
import unicodedata
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MUNICIPALITIES = [
    ("Agnadello", "agnadello"),
    ("Bagnolo Cremasco", "bagnolo-cremasco"),
    ("Camisano", "camisano"),
    ("Campagnola Cremasca", "campagnola-cremasca"),
    ("Capergnanica", "capergnanica"),
    ("Capralba", "capralba"),
    ("Casale Cremasco-Vidolasco", "casale-cremasco-vidolasco"),
    ("Casaletto Ceredano", "casaletto-ceredano"),
    ("Casaletto di Sopra", "casaletto-di-sopra"),
    ("Casaletto Vaprio", "casaletto-vaprio"),
    ("Castel Gabbiano", "castel-gabbiano"),
    ("Castelleone", "castelleone"),
    ("Chieve", "chieve"),
    ("Credera Rubbiano", "credera-rubbiano"),
    ("Crema", "crema"),
    ("Cremosano", "cremosano"),
    ("Cumignano sul Naviglio", "cumignano-sul-naviglio"),
    ("Dovera", "dovera"),
    ("Fiesco", "fiesco"),
    ("Formigara", "formigara"),
    ("Genivolta", "genivolta"),
    ("Gombito", "gombito"),
    ("Izano", "izano"),
    ("Madignano", "madignano"),
    ("Monte Cremasco", "monte-cremasco"),
    ("Montodine", "montodine"),
    ("Moscazzano", "moscazzano"),
    ("Offanengo", "offanengo"),
    ("Palazzo Pignano", "palazzo-pignano"),
    ("Pandino", "pandino"),
    ("Pianengo", "pianengo"),
    ("Pieranica", "pieranica"),
    ("Quintano", "quintano"),
    ("Ricengo", "ricengo"),
    ("Ripalta Arpina", "ripalta-arpina"),
    ("Ripalta Cremasca", "ripalta-cremasca"),
    ("Ripalta Guerina", "ripalta-guerina"),
    ("Romanengo", "romanengo"),
    ("Salvirola", "salvirola"),
    ("Sergnano", "sergnano"),
    ("Soncino", "soncino"),
    ("Spino d'Adda", "spino-d-adda"),
    ("Ticengo", "ticengo"),
    ("Torlino Vimercati", "torlino-vimercati"),
    ("Trescore Cremasco", "trescore-cremasco"),
    ("Trigolo", "trigolo"),
    ("Vaiano Cremasco", "vaiano-cremasco"),
    ("Vailate", "vailate"),
]


def _slug(name):
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


def upgrade():
    with op.batch_alter_table("municipality", schema=None) as batch_op:
        batch_op.add_column(sa.Column("slug", sa.String(length=120), nullable=True))

    op.create_table(
        "municipality_alias",
        sa.Column("slug", sa.String(length=120), nullable=False),
        sa.Column("municipality_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipality.id"],
            name=op.f("fk_municipality_alias_municipality_id_municipality"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("slug", name=op.f("pk_municipality_alias")),
    )
    op.create_table(
        "article_municipality_edit",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("municipality_id", sa.Integer(), nullable=False),
        sa.Column("included", sa.Boolean(), nullable=False),
        sa.Column("edited_by", sa.String(length=320), nullable=True),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["article.id"],
            name=op.f("fk_article_municipality_edit_article_id_article"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipality.id"],
            name=op.f("fk_article_municipality_edit_municipality_id_municipality"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "article_id", "municipality_id", name=op.f("pk_article_municipality_edit")
        ),
    )
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("local_news", sa.Boolean(), nullable=False, server_default=sa.false())
        )

    municipality = sa.table(
        "municipality",
        sa.column("id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("slug", sa.String),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    conn = op.get_bind()
    existing = {
        name.lower(): (id_, name)
        for id_, name in conn.execute(sa.select(municipality.c.id, municipality.c.name))
    }
    taken = set()
    for id_, name in sorted(existing.values()):
        slug = _slug(name) or f"comune-{id_}"
        if slug in taken:
            slug = f"{slug}-{id_}"
        taken.add(slug)
        conn.execute(municipality.update().where(municipality.c.id == id_).values(slug=slug))
    now = datetime.now(UTC)
    missing = [
        {"name": name, "slug": slug, "created_at": now}
        for name, slug in MUNICIPALITIES
        if name.lower() not in existing and slug not in taken
    ]
    if missing:
        op.bulk_insert(municipality, missing)

    with op.batch_alter_table("municipality", schema=None) as batch_op:
        batch_op.alter_column("slug", existing_type=sa.String(length=120), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_municipality_slug"), ["slug"])


def downgrade():
    with op.batch_alter_table("municipality", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_municipality_slug"), type_="unique")
        batch_op.drop_column("slug")
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.drop_column("local_news")
    op.drop_table("article_municipality_edit")
    op.drop_table("municipality_alias")
