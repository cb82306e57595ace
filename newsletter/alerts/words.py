"""An alert's severity in words, the one definition every channel uses (mail, push, Telegram,
pages, feeds): "lieve", "moderata", "grave", "estrema" / "minor", "moderate", "severe",
"extreme". Severity is never shown by colour alone."""

from __future__ import annotations

from pathlib import Path

from newsletter.i18n import catalogue
from newsletter.vocabulary import AlertSeverity

CATALOGUES = Path(__file__).resolve().parent / "translations"


def severity_word(severity: AlertSeverity | str, locale: str) -> str:
    """The severity in words, lower case, in ``locale`` (the alerts catalogue's)."""
    t = catalogue(CATALOGUES, locale)
    words = {
        AlertSeverity.MINOR: t.pgettext("severity", "minor"),
        AlertSeverity.MODERATE: t.pgettext("severity", "moderate"),
        AlertSeverity.SEVERE: t.pgettext("severity", "severe"),
        AlertSeverity.EXTREME: t.pgettext("severity", "extreme"),
    }
    return str(words[AlertSeverity(severity)])
