"""The outbox has one owner: no module outside ``newsletter.delivery`` writes ``Delivery`` rows.

Reads are fine anywhere (dashboards, metrics); writes go through ``delivery.outbox``. The
check walks the syntax tree of every module, so a comment or a docstring cannot trip it and
an aliased import cannot hide from it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "newsletter"
OWNER = PACKAGE / "delivery"
WRITES = {"insert", "update", "delete"}
RAW_SQL = re.compile(r"\b(insert\s+into|update|delete\s+from)\s+\"?delivery\"?\b", re.IGNORECASE)


def _names_delivery(node: ast.AST, aliases: set[str]) -> bool:
    """``Delivery``, ``Delivery.__table__`` or a module alias of the table (``delivery_t``)."""
    return any(
        (isinstance(sub, ast.Name) and sub.id in aliases)
        or (isinstance(sub, ast.Attribute) and sub.attr == "__table__" and _is_model(sub.value))
        for sub in ast.walk(node)
    )


def _is_model(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "Delivery"


def _call_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def delivery_writes(source: str) -> list[str]:
    """Lines of ``source`` that create, insert, update or delete Delivery rows."""
    tree = ast.parse(source)
    aliases = {"Delivery"}
    for node in ast.walk(tree):  # e.g. delivery_t = Delivery.__table__
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            value = node.value
            if (
                isinstance(value, ast.Attribute)
                and value.attr == "__table__"
                and _is_model(value.value)
            ):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                aliases |= {t.id for t in targets if isinstance(t, ast.Name)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _call_name(node)
            if name == "Delivery":
                found.append(f"{node.lineno}: Delivery(...)")
            elif (
                name is not None
                and any(word in name.lower() for word in WRITES)  # insert, _insert, bulk_update
                and node.args
                and _names_delivery(node.args[0], aliases)
            ):
                found.append(f"{node.lineno}: {name}(Delivery)")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and RAW_SQL.search(node.value)
        ):
            found.append(f"{node.lineno}: raw SQL writing delivery")
    return found


def test_the_check_recognises_each_way_of_writing() -> None:
    samples = {
        "db.session.add(Delivery(kind=k))": 1,
        "db.session.execute(sa.update(Delivery).values(status=s))": 1,
        "t = Delivery.__table__\nconn.execute(sa.insert(t).values(x=1))": 1,
        "conn.execute(postgresql.insert(Delivery.__table__))": 1,
        "db.session.execute(_insert(Delivery.__table__).from_select(cols, rows))": 1,
        "conn.exec_driver_sql('UPDATE delivery SET status = 1')": 1,
        "db.session.scalars(sa.select(Delivery).where(Delivery.id == 1))": 0,
        "conn.execute(sa.update(Subscriber).values(status=s))": 0,
        '"""Delivery(kind=websub) rows are added by the outbox."""': 0,
    }
    for source, expected in samples.items():
        assert len(delivery_writes(source)) == expected, source


def test_no_module_outside_delivery_writes_delivery_rows() -> None:
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if OWNER in path.parents:
            continue
        found = delivery_writes(path.read_text(encoding="utf-8"))
        if found:
            offenders[str(path.relative_to(PACKAGE.parent))] = found
    assert offenders == {}, "write through newsletter.delivery.outbox instead"
