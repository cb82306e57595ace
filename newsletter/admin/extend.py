"""How other domains' admin pages plug into the admin area without editing its templates.

``register_nav`` adds an entry to the admin navigation (for a domain that brings admin pages
of its own; none does yet); ``register_action`` adds a button or link to an object's page (a
subscriber, an article, a source). Each is shown only to users with the required role. The
admin package itself adds "Erase" to subscribers this way (``admin._subscriber_actions``)::

    register_action(app, "subscriber", ObjectAction(
        label=_l("Erase"), endpoint="admin.erase_subscriber", role=UserRole.ADMIN,
        method="post", confirm=_l("Erase this person's data for good"), danger=True))

A POST action is rendered as a form with the CSRF token; its view receives the object's id
as the ``id`` URL argument and should call a domain operation with ``auth.current_actor()``
(the operation writes the audit row).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from flask import Flask, current_app

from newsletter.admin.models import UserRole

ObjectKind = Literal["subscriber", "article", "source"]
KINDS: tuple[ObjectKind, ...] = ("subscriber", "article", "source")


@dataclass(frozen=True)
class NavItem:
    label: Any  # a (lazy) translated string
    endpoint: str
    role: UserRole = UserRole.EDITOR


@dataclass(frozen=True)
class ObjectAction:
    label: Any
    endpoint: str
    role: UserRole = UserRole.EDITOR
    method: Literal["get", "post"] = "get"
    confirm: Any = None  # text of a confirmation checkbox the POST form requires
    danger: bool = False


@dataclass
class AdminRegistry:
    nav: list[NavItem] = field(default_factory=list)
    actions: dict[str, list[ObjectAction]] = field(default_factory=lambda: {k: [] for k in KINDS})


def registry(app: Flask | None = None) -> AdminRegistry:
    target = app or current_app
    return target.extensions.setdefault("newsletter_admin", AdminRegistry())  # type: ignore[no-any-return]


def register_nav(app: Flask, item: NavItem) -> None:
    registry(app).nav.append(item)


def register_action(app: Flask, kind: ObjectKind, action: ObjectAction) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown admin object kind {kind!r} (one of {', '.join(KINDS)})")
    registry(app).actions[kind].append(action)
