"""The 48 comuni's ISTAT codes (CAP documents name areas by them).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30

Source: ISTAT's list of Italian municipalities ("Elenco dei codici e delle denominazioni delle
unità territoriali", CC BY 3.0 IT), province of Cremona (019). Only empty codes are filled: an
instance that imported its own codes with ``newsletter municipalities import`` keeps them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

CODES = {
    "Agnadello": "019002",
    "Bagnolo Cremasco": "019005",
    "Camisano": "019010",
    "Campagnola Cremasca": "019011",
    "Capergnanica": "019012",
    "Capralba": "019015",
    "Casale Cremasco-Vidolasco": "019017",
    "Casaletto Ceredano": "019018",
    "Casaletto di Sopra": "019019",
    "Casaletto Vaprio": "019020",
    "Castel Gabbiano": "019024",
    "Castelleone": "019025",
    "Chieve": "019029",
    "Credera Rubbiano": "019034",
    "Crema": "019035",
    "Cremosano": "019037",
    "Cumignano sul Naviglio": "019039",
    "Dovera": "019041",
    "Fiesco": "019043",
    "Formigara": "019044",
    "Genivolta": "019047",
    "Gombito": "019049",
    "Izano": "019054",
    "Madignano": "019055",
    "Monte Cremasco": "019058",
    "Montodine": "019059",
    "Moscazzano": "019060",
    "Offanengo": "019062",
    "Palazzo Pignano": "019066",
    "Pandino": "019067",
    "Pianengo": "019072",
    "Pieranica": "019073",
    "Quintano": "019078",
    "Ricengo": "019079",
    "Ripalta Arpina": "019080",
    "Ripalta Cremasca": "019081",
    "Ripalta Guerina": "019082",
    "Romanengo": "019086",
    "Salvirola": "019087",
    "Sergnano": "019094",
    "Soncino": "019097",
    "Spino d'Adda": "019102",
    "Ticengo": "019104",
    "Torlino Vimercati": "019105",
    "Trescore Cremasco": "019109",
    "Trigolo": "019110",
    "Vaiano Cremasco": "019111",
    "Vailate": "019112",
}


def upgrade() -> None:
    municipality = sa.table(
        "municipality", sa.column("name", sa.String), sa.column("istat_code", sa.String)
    )
    taken = set(op.get_bind().execute(sa.select(municipality.c.istat_code)).scalars())
    for name, code in CODES.items():
        if code in taken:
            continue
        op.execute(
            municipality.update()
            .where(municipality.c.name == name, municipality.c.istat_code.is_(None))
            .values(istat_code=code)
        )


def downgrade() -> None:
    municipality = sa.table(
        "municipality", sa.column("name", sa.String), sa.column("istat_code", sa.String)
    )
    for name, code in CODES.items():
        op.execute(
            municipality.update()
            .where(municipality.c.name == name, municipality.c.istat_code == code)
            .values(istat_code=None)
        )
