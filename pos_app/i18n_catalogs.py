"""Building the catalogs: extract the marked texts, update each language, compile.

``python3 tasks.py i18n`` runs :func:`update` (then fill in the new ``msgstr``
of each ``pos_app/locale/<lang>/LC_MESSAGES/pos.po``); installing or building
the till runs :func:`compile_all` (``setup.py``). Babel does the work; this
module only knows where things are.

Texts come from the Python code (``_``, ``N_``, ``ngettext``, ``pgettext``) and
from the shipped receipt templates (``receipts/*.toml``: every string of the
English template is a text to translate).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from pos_app.i18n import DOMAIN, LANGUAGES, LOCALE_DIR, SOURCE_LANGUAGE, catalog_path

ROOT = LOCALE_DIR.parent.parent
TEMPLATE = LOCALE_DIR / f"{DOMAIN}.pot"
SOURCES = ("pos_app", "drivers")
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2)}
# Babel's method map: Python code, and the receipt templates as TOML.
METHOD_MAP = [
    ("pos_app/**.py", "python"),
    ("drivers/**.py", "python"),
    ("receipts/*.toml", "pos_app.i18n_catalogs:extract_toml"),
]


def extract_toml(fileobj: IO[bytes], keywords: Any, comment_tags: Any,
                 options: Any) -> Iterator[tuple[int, str, str, list[str]]]:
    """Babel extractor for a receipt template: each string in it, with its line."""
    data = fileobj.read().decode("utf-8")
    lines = data.splitlines()

    def strings(value: Any) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)
        elif isinstance(value, dict):
            for item in value.values():
                yield from strings(item)

    for text in strings(tomllib.loads(data)):
        if not text.strip() or text.strip("{}_ ").isidentifier() and text.startswith("{"):
            continue  # "{outlet_name}": nothing to translate
        number = next((i + 1 for i, line in enumerate(lines) if text in line), 0)
        yield number, "", text, ["receipt template"]


def extract() -> None:
    """All marked texts into ``pos_app/locale/pos.pot``."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import write_po

    catalog = Catalog(project="pos-app", charset="utf-8")
    for path, lineno, message, comments, context in extract_from_dir(
            str(ROOT), method_map=METHOD_MAP, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",),
            strip_comment_tags=True):
        if not any(path.startswith(source) for source in (*SOURCES, "receipts")):
            continue
        catalog.add(message, None, [(path, lineno)], auto_comments=comments, context=context)
    with TEMPLATE.open("wb") as file:
        write_po(file, catalog, width=100, sort_output=True)


def update() -> dict[str, int]:
    """Extract, then merge the template into each language's catalog (a new language
    gets a new catalog); how many messages each still lacks."""
    from babel.messages.pofile import read_po, write_po

    extract()
    with TEMPLATE.open("rb") as file:
        template = read_po(file)
    missing: dict[str, int] = {}
    for language in LANGUAGES:
        if language == SOURCE_LANGUAGE:
            continue
        po = catalog_path(language)
        po.parent.mkdir(parents=True, exist_ok=True)
        if po.exists():
            with po.open("rb") as file:
                catalog = read_po(file, locale=language)
        else:
            from babel.messages.catalog import Catalog

            catalog = Catalog(locale=language, project="pos-app", charset="utf-8", fuzzy=False)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        with po.open("wb") as file:
            write_po(file, catalog, width=100, sort_output=True, ignore_obsolete=True)
        missing[language] = sum(1 for m in catalog if m.id and not m.string)
    return missing


def compile_all() -> list[Path]:
    """Each ``pos.po`` compiled to ``pos.mo`` beside it."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    done = []
    for language in LANGUAGES:
        po = catalog_path(language)
        if not po.exists():
            continue
        with po.open("rb") as file:
            catalog = read_po(file, locale=language)
        mo = catalog_path(language, ".mo")
        with mo.open("wb") as file:
            write_mo(file, catalog, use_fuzzy=False)
        done.append(mo)
    return done
