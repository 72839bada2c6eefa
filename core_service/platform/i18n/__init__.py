"""Translations and locale-aware formatting for visitor pages and visitor e-mail.

The catalogs are the ``.po`` files beside this module (``<locale>/LC_MESSAGES/messages.po``).
They are compiled in memory when first needed (``read_po`` + ``write_mo``), so there is no
build step and no compiled ``.mo`` file in the repository. Source strings (msgids) are
English; Japanese is the default language of the site.
"""

from __future__ import annotations

import datetime as dt
import io
from functools import cache
from pathlib import Path

from babel.dates import format_skeleton
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

I18N_DIR = Path(__file__).parent
LOCALES = ("ja", "en")
DEFAULT_LOCALE = "ja"
DOMAIN = "messages"


def po_path(locale: str) -> Path:
    return I18N_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(locale: str) -> NullTranslations:
    """The compiled catalog of ``locale`` (an identity catalog when there is none)."""
    path = po_path(locale)
    if locale not in LOCALES or not path.exists():
        return NullTranslations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def gettext(locale: str, message: str) -> str:
    """Translate one message outside templates (mail subjects, flash texts)."""
    return translations(locale).gettext(message)


def normalise_locale(value: str | None) -> str:
    return value if value in LOCALES else DEFAULT_LOCALE


def format_money(amount: int, locale: str) -> str:
    """Integer yen as visitors read it: "1,000円" in Japanese, "¥1,000" in English."""
    if locale == "ja":
        return f"{format_decimal(amount, locale='ja')}円"
    return f"¥{format_decimal(amount, locale='en')}"


def format_day(day: dt.date, locale: str) -> str:
    """A visit date with weekday: "11月25日(水)" / "Wed, Nov 25"."""
    return format_skeleton("MMMEd", day, locale=locale)


def format_long_day(day: dt.date, locale: str) -> str:
    """A visit date with year, for tickets and mail: "2026年11月25日(水)" / "Wed, Nov 25, 2026"."""
    return format_skeleton("yMMMEd", day, locale=locale)
