"""The catalogs are complete and true to their sources.

Extracting the marked texts (``pos_app.i18n_catalogs.extract``, into a temporary
file, not the repository's ``pos.pot``) finds no message that a language's
``pos.po`` lacks or leaves untranslated; every translation keeps exactly the
placeholders of its source (``{amount}``, ``{code!r}``); the repository's
``pos.pot`` holds the messages the code has now.
"""

from __future__ import annotations

import string

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

from pos_app import i18n, i18n_catalogs

TRANSLATED = [language for language in i18n.LANGUAGES if language != i18n.SOURCE_LANGUAGE]

Placeholder = tuple[str, str | None, str]


def placeholders(text: str) -> set[Placeholder]:
    """``{name!conversion:spec}`` fields of a format string (``{{`` is no field)."""
    try:
        return {(name, conversion, spec or "") for _literal, name, spec, conversion
                in string.Formatter().parse(text) if name is not None}
    except ValueError:  # not a valid format string: a field of its own kind, never equal
        return {("<malformed>", None, text)}


def _ids(message: Message) -> list[str]:
    return list(message.id) if isinstance(message.id, (list, tuple)) else [message.id]


def _strings(message: Message) -> list[str]:
    return list(message.string) if isinstance(message.string, (list, tuple)) else [message.string]


def problems(template: Catalog, catalog: Catalog) -> list[str]:
    """What ``catalog`` lacks or gets wrong against ``template`` (one line each)."""
    found = []
    for source in template:
        if not source.id:
            continue
        message = catalog.get(source.id, context=source.context)
        name = _ids(source)[0][:60]
        if message is None:
            found.append(f"missing: {name!r}")
            continue
        strings = _strings(message)
        if not all(strings) or message.fuzzy:
            found.append(f"untranslated{' (fuzzy)' if message.fuzzy else ''}: {name!r}")
            continue
        wanted = set().union(*(placeholders(text) for text in _ids(source)))
        if len(strings) == 1:
            if placeholders(strings[0]) != wanted:
                found.append(f"placeholders of {name!r}: {sorted(map(str, placeholders(strings[0])))} "
                             f"instead of {sorted(map(str, wanted))}")
        else:  # plural forms: each uses only the source's, together all of them
            got = [placeholders(text) for text in strings]
            if any(not form <= wanted for form in got) or set().union(*got) != wanted:
                found.append(f"placeholders of {name!r} (plural forms) differ from {sorted(map(str, wanted))}")
    return found


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    target = tmp_path_factory.mktemp("pot") / "pos.pot"
    saved = i18n_catalogs.TEMPLATE
    i18n_catalogs.TEMPLATE = target
    try:
        i18n_catalogs.extract()
    finally:
        i18n_catalogs.TEMPLATE = saved
    with target.open("rb") as file:
        return read_po(file)


def _catalog(language: str) -> Catalog:
    with i18n.catalog_path(language).open("rb") as file:
        return read_po(file, locale=language)


def test_extraction_finds_the_texts_of_the_code(extracted: Catalog) -> None:
    """The extraction itself works (whatever the catalogs hold): texts of this issue are in it."""
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in extracted}
    assert "{provider} says: «{text}»" in ids
    assert "{count} receipt not printed yet — F7 prints it" in ids
    assert "unknown language; use one of {names}" in ids


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_text_is_translated_with_its_placeholders(extracted: Catalog, language: str) -> None:
    found = problems(extracted, _catalog(language))
    assert found == [], f"{language}: {len(found)} problems:\n" + "\n".join(found[:50])


def test_the_repositorys_template_is_current(extracted: Catalog) -> None:
    with i18n_catalogs.TEMPLATE.open("rb") as file:
        repo = read_po(file)

    def keys(catalog: Catalog) -> set[tuple[str, str | None]]:
        return {(str(m.id), m.context) for m in catalog if m.id}

    stale, new = keys(repo) - keys(extracted), keys(extracted) - keys(repo)
    assert not stale and not new, (f"pos.pot is not current (python3 tasks.py i18n): {len(new)} new, "
                                   f"{len(stale)} gone, e.g. {sorted(new)[:3]} {sorted(stale)[:3]}")


def test_the_check_finds_what_is_wrong() -> None:
    """The comparison above can fail: a missing, an untranslated, a fuzzy and two wrong translations."""
    template = Catalog()
    for text in ("Cash {amount} taken", "Scan a product", "Receipt printed", "Unknown barcode {code!r}", "Drawer"):
        template.add(text)
    template.add(("{count} receipt", "{count} receipts"))
    catalog = Catalog(locale="de")
    catalog.add("Cash {amount} taken", "Bar {betrag} erhalten")  # renamed placeholder
    catalog.add("Scan a product", "")  # untranslated
    catalog.add("Receipt printed", "Beleg gedruckt", flags=["fuzzy"])
    catalog.add("Unknown barcode {code!r}", "Unbekannter Strichcode {code}")  # lost !r
    catalog.add(("{count} receipt", "{count} receipts"), ("{count} Beleg", "{count} Belege"))
    found = problems(template, catalog)
    assert len(found) == 5, found
    assert any("missing: 'Drawer'" in line for line in found)
    assert any("untranslated (fuzzy): 'Receipt printed'" in line for line in found)
    assert any("placeholders of 'Cash {amount} taken'" in line for line in found)
    assert any("placeholders of 'Unknown barcode {code!r}'" in line for line in found)


def test_placeholders_are_read_as_format_fields() -> None:
    assert placeholders("{amount} of {code!r} at {time:%H:%M} {{not}}") == {
        ("amount", None, ""), ("code", "r", ""), ("time", None, "%H:%M")}


# Texts that read the same in every language: names, an address, codes and key names.
SAME_EVERYWHERE = {"E-GUMA", "Bahnhofstrasse 1, 8001 Zürich", "Demo", "Scanner", "Journal", "Total"}
# English words of the till's own vocabulary that a translation must not have kept
# (outside `backticks`, which quote commands and settings; "receipts", "till" and
# "keyring" are also names of settings and of a library, so they are not listed).
ENGLISH_LEFT = r"\b(voucher|vouchers|receipt|cashier|balance|refund|refunds|order|orders)\b"


def _without_quoted(text: str) -> str:
    import re

    return re.sub(r"`[^`]*`|\[[a-z_.]+\]|\{[^}]*\}", "", text)


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_are_not_the_english_left_in(language: str) -> None:
    """A sentence of three words or more is never the English source again, and the
    till's English words (voucher, receipt, till, …) are nowhere in a translation."""
    import re

    kept, english = [], []
    for message in _catalog(language):
        if not message.id:
            continue
        for source, text in zip(_ids(message), _strings(message), strict=False):
            words = re.findall(r"[A-Za-z]{2,}", _without_quoted(source))
            if text == source and len(words) >= 3 and source not in SAME_EVERYWHERE:
                kept.append(source)
            if re.search(ENGLISH_LEFT, _without_quoted(text), re.IGNORECASE):
                english.append(f"{source!r} -> {text!r}")
    assert kept == [], f"{language}: left in English: {kept[:10]}"
    assert english == [], f"{language}: English words in translations: {english[:10]}"
