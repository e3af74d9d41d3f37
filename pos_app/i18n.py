"""The till in the shop's language: gettext catalogs (Babel) and locale number formats.

Every text a person reads is marked where it is written:

- ``_("Cash")`` translates now, in the language in use;
- ``N_("Cash")`` only marks a text for the catalogs, for texts defined at import
  time (key labels, tables of messages); translate it with ``_(text)`` where it
  is shown;
- ``ngettext("{n} receipt", "{n} receipts", n)`` picks the plural form the
  language needs.

Placeholders are ``str.format`` names, never positional, so a translation may
put them in its own order: ``_("Paid {amount} with {method}").format(...)``.

The catalogs are ``pos_app/locale/<lang>/LC_MESSAGES/pos.po`` in the repository
(``python3 tasks.py i18n`` extracts the texts and updates them). They are
compiled to ``.mo`` when the till is installed or built (``setup.py``); a
source tree without ``.mo`` files reads the ``.po`` files directly (Babel), so
the till never starts in a half-translated state because a build step was
skipped.

Numbers and amounts follow the outlet's locale (``[outlet] locale``, by default
the language in the country of the outlet's currency): de-CH ``1'234.50``,
de-DE ``1.234,50``, fr-CH ``1 234,50``.
"""

from __future__ import annotations

import datetime as datetime_
import gettext as _gettext
import threading
from decimal import Decimal
from functools import cache
from pathlib import Path

DOMAIN = "pos"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

# Languages a shop can choose ([outlet] language), with their names in themselves.
LANGUAGES = {"en": "English", "de": "Deutsch", "fr": "Français", "it": "Italiano"}
SOURCE_LANGUAGE = "en"  # the texts in the code
# Test-only: every translated text comes back wrapped in these marks, so a test can
# find text on the screen that did not go through the catalogs.
PSEUDO = "qps"
PSEUDO_OPEN, PSEUDO_CLOSE = "⟦", "⟧"

# The country an outlet is in, by its currency, for the default locale.
_COUNTRY_OF_CURRENCY = {"CHF": "CH", "EUR": {"de": "DE", "fr": "FR", "it": "IT", "en": "IE"}}
_FALLBACK_LOCALE = {"en": "en_GB", "de": "de_DE", "fr": "fr_FR", "it": "it_IT"}


class _Pseudo(_gettext.NullTranslations):
    def gettext(self, message: str) -> str:
        return f"{PSEUDO_OPEN}{message}{PSEUDO_CLOSE}"

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return self.gettext(msgid1 if n == 1 else msgid2)

    def pgettext(self, context: str, message: str) -> str:
        return self.gettext(message)


class _State(threading.local):
    """The language in use. Thread-local defaults come from :data:`_default`, so a
    worker thread of the UI speaks the outlet's language too."""

    def __init__(self) -> None:
        self.language = _default["language"]
        self.locale = _default["locale"]
        self.translations: _gettext.NullTranslations = _default["translations"]


_default: dict[str, object] = {
    "language": SOURCE_LANGUAGE,
    "locale": "en_GB",
    "translations": _gettext.NullTranslations(),
}
_state = _State()


def catalog_path(language: str, suffix: str = ".po") -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}{suffix}"


@cache
def translations(language: str) -> _gettext.NullTranslations:
    """The compiled catalog of ``language`` (``.mo`` when it is current, else the ``.po``
    read with Babel); English is the source and needs none."""
    if language == PSEUDO:
        return _Pseudo()
    if language == SOURCE_LANGUAGE:
        return _gettext.NullTranslations()
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}")
    po, mo = catalog_path(language), catalog_path(language, ".mo")
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as file:
            return _gettext.GNUTranslations(file)
    if not po.exists():
        raise FileNotFoundError(f"the {LANGUAGES[language]} catalog is missing ({po})")
    return _gettext.GNUTranslations(_compiled(po))


def _compiled(po: Path):  # type: ignore[no-untyped-def]
    """``po`` compiled in memory (a source tree whose catalogs were not built)."""
    from io import BytesIO

    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as file:
        catalog = read_po(file)
    out = BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    out.seek(0)
    return out


def default_locale(language: str, currency: str | None = None) -> str:
    """The locale for numbers when the outlet names none: the language in the country
    of the currency (de + CHF -> de_CH), else the language's main country."""
    if language == PSEUDO:
        language = SOURCE_LANGUAGE
    country = _COUNTRY_OF_CURRENCY.get((currency or "").upper())
    if isinstance(country, dict):
        country = country.get(language)
    return f"{language}_{country}" if country else _FALLBACK_LOCALE.get(language, "en_GB")


class _Regional(_gettext.NullTranslations):
    """A catalog read in a region's own spelling: Swiss Standard German writes "ss"
    for "ß" and "MWST" for "MwSt." (one German catalog serves Germany and Switzerland)."""

    def __init__(self, catalog: _gettext.NullTranslations, changes: tuple[tuple[str, str], ...]) -> None:
        super().__init__()
        self.catalog, self.changes = catalog, changes

    def _adapt(self, text: str) -> str:
        for old, new in self.changes:
            text = text.replace(old, new)
        return text

    def gettext(self, message: str) -> str:
        return self._adapt(self.catalog.gettext(message))

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return self._adapt(self.catalog.ngettext(msgid1, msgid2, n))

    def pgettext(self, context: str, message: str) -> str:
        return self._adapt(self.catalog.pgettext(context, message))


_REGIONAL = {("de", "CH"): (("ß", "ss"), ("MwSt.", "MWST"))}


@cache
def _regional(language: str, locale: str) -> _gettext.NullTranslations:
    found = translations(language)
    changes = _REGIONAL.get((language, locale.partition("_")[2]))
    return _Regional(found, changes) if changes else found


def use(language: str, locale: str | None = None, *, currency: str | None = None) -> None:
    """Speak ``language`` from now on, in every thread (the outlet's, at start)."""
    translations(language)  # an unknown language or a missing catalog fails here
    chosen = (locale or default_locale(language, currency)).replace("-", "_")
    _check_locale(chosen)
    found = _regional(language, chosen)
    _default.update(language=language, locale=chosen, translations=found)
    _state.language, _state.locale, _state.translations = language, chosen, found


def _check_locale(locale: str) -> None:
    from babel import Locale, UnknownLocaleError

    try:
        Locale.parse(locale)
    except (UnknownLocaleError, ValueError) as exc:
        raise ValueError(f"unknown locale {locale!r} (e.g. de_CH, fr_CH, de_DE)") from exc


def language() -> str:
    return _state.language


def locale() -> str:
    return _state.locale


def _(message: str) -> str:
    """``message`` in the language in use."""
    return _state.translations.gettext(message) if message else message


def N_(message: str) -> str:
    """Marks ``message`` for the catalogs; translate it with ``_()`` where it is shown."""
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    return _state.translations.ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """``message`` as meant in ``context`` (one English word, two meanings)."""
    return _state.translations.pgettext(context, message)


@cache
def _number_format(locale: str, places: int) -> tuple[str, str, str]:
    from babel import Locale

    symbols = Locale.parse(locale).number_symbols["latn"]
    return symbols["group"], symbols["decimal"], symbols["minusSign"]


def number(value: Decimal | int, places: int = 2, *, grouping: bool = True) -> str:
    """``value`` with ``places`` decimals in the locale in use: 1'234.50 (de_CH).

    Done by hand from the locale's symbols (Babel's CLDR data), as
    ``babel.numbers.format_decimal`` would with ``#,##0.00``, but about 20
    times faster: the checkout formats every amount it shows."""
    group, decimal, minus = _number_format(_state.locale, places)
    quantum = Decimal(1).scaleb(-places)
    text = f"{abs(Decimal(value)).quantize(quantum):,.{places}f}" if grouping else \
        f"{abs(Decimal(value)).quantize(quantum):.{places}f}"
    text = text.replace(",", "\0").replace(".", decimal).replace("\0", group)
    return f"{minus}{text}" if Decimal(value) < 0 else text


@cache
def _date_pattern(locale: str) -> str:
    """The locale's short numeric date pattern with a four-digit year (CLDR: de_CH
    ``dd.MM.yy`` -> ``dd.MM.yyyy``, en_GB ``dd/MM/y`` -> ``dd/MM/yyyy``)."""
    import re

    from babel import Locale

    pattern = Locale.parse(locale).date_formats["short"].pattern
    return re.sub(r"(?<!y)y{1,2}(?!y)", "yyyy", pattern)


def date(value: datetime_.date) -> str:
    """``value`` as the outlet's locale writes a date on a receipt: 02.12.2026 (de_CH),
    02/12/2026 (en_GB), 02.12.2026 (fr_CH)."""
    from babel.dates import format_date

    return format_date(value, _date_pattern(_state.locale), locale=_state.locale)
