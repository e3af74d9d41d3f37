"""Code pages: make "Zürich", "€" and "Fr." print right on an ESC/POS printer.

What python-escpos 3.1 does by itself (its "magic encoder"):

- ``Dummy()`` with the default profile picks, character by character, the
  lowest-numbered code page of the profile that has it: "ü" goes out in
  CP437 (``ESC t 0``, 0x81), but "€" in ISO-8859-7, *Greek*
  (``ESC t 15``, 0xA4) — many printers have no such page at 15 and print
  something else.
- ``Dummy(magic_encode_args={"encoding": "CP858"})`` encodes in CP858 but
  sends **no** ``ESC t``: it assumes the printer already is in CP858, while
  a printer starts (and ``ESC @`` resets it) in page 0, CP437, where 0xD5
  prints "╒" instead of "€".
- ``charcode("CP858")`` after ``hw("INIT")`` sends ``ESC t 19`` and keeps
  CP858 for the rest of the job: ü -> 0x81, € -> 0xD5. That is what
  :func:`select_codepage` does. The name must be upper-case
  (``charcode("cp858")`` fails with a KeyError).
"""

from __future__ import annotations

import codecs
import functools
import importlib.util
import json
import os
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from drivers.printer.escpos_tools import dummy, quiet

if TYPE_CHECKING:
    from escpos.escpos import Escpos

DEFAULT_CODEPAGE = "CP858"  # CP850 with the euro sign at 0xD5
ESC_T = b"\x1bt"

# Typography a receipt template may contain that no DOS code page has.
_PLAIN = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"',
    "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2026": "...", "\u00a0": " ", "\u202f": " ",
    "\u2009": " ", "\u2022": "*", "\u2032": "'", "\u2033": '"',
    # Letters that do not decompose into a base letter and an accent.
    "\u0141": "L", "\u0142": "l", "\u0110": "D", "\u0111": "d", "\u0126": "H", "\u0127": "h",
    "\u0152": "OE", "\u0153": "oe",
}


@functools.cache
def _printer_profiles(database: str) -> dict[str, Any]:
    with open(database, encoding="utf-8") as file:
        profiles: dict[str, Any] = json.load(file)["profiles"]
    return profiles


def _capabilities_file() -> str:
    """python-escpos's printer database, found as python-escpos finds it, without
    importing python-escpos (which parses it with YAML, unpacks it into a
    temporary folder and installs a log handler: not before the first receipt)."""
    spec = importlib.util.find_spec("escpos")
    if spec is None or spec.origin is None:
        raise ValueError("python-escpos is not installed: the till cannot print")
    default = os.path.join(os.path.dirname(spec.origin), "capabilities.json")
    return os.environ.get("ESCPOS_CAPABILITIES_FILE", default)


def codepages(profile: str = "default") -> dict[str, int]:
    """The code pages a printer profile knows: name -> ``ESC t`` number (the same as
    python-escpos's ``profile.get_code_pages()``; read at start-up to check the
    configuration, so without importing python-escpos)."""
    profiles = _printer_profiles(_capabilities_file())
    if profile not in profiles:
        raise ValueError(f"unknown printer profile {profile!r} (see python-escpos's printer "
                         "profiles; \"default\" fits most)")
    return {name: int(number) for number, name in profiles[profile]["codePages"].items()}


def codepage_number(codepage: str = DEFAULT_CODEPAGE, profile: str = "default") -> int:
    """``19`` for CP858 in the default profile; ValueError if the profile lacks it."""
    return codepages(profile)[_canonical(codepage, profile)]


def _canonical(codepage: str, profile: str) -> str:
    known = codepages(profile)
    for name in known:
        if name.upper() == codepage.upper():
            return name
    raise ValueError(f"printer profile {profile!r} has no code page {codepage!r}; "
                     f"it has {', '.join(sorted(known))}")


def select_codepage(printer: Escpos, codepage: str = DEFAULT_CODEPAGE) -> None:
    """Send ``ESC t n`` for ``codepage`` and keep it for the rest of the job.

    Call it right after ``hw("INIT")`` (``ESC @`` resets the printer to page 0).
    Characters the page lacks print as "?" — pass text through :func:`printable`,
    or encode it with :func:`page_encoder` (both at once, one call per text).
    """
    known = printer.profile.get_code_pages()
    name = next((n for n in known if n.upper() == codepage.upper()), None)
    if name is None:
        raise ValueError(f"printer profile {printer.profile.profile_data.get('name', '?')!r} has no "
                         f"code page {codepage!r}; it has {', '.join(sorted(known))}")
    printer.charcode(name)


def _plain(char: str, prints: Callable[[str], bool]) -> str:
    """What to print for ``char``, which the code page lacks: ’ -> ', ł -> l, else "?"."""
    if char in _PLAIN:
        return _PLAIN[char]
    bare = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    return bare if bare and all(prints(c) for c in bare) else "?"


class _PlainText(dict[int, str]):
    """``str.translate`` table: each character the code page lacks -> its plain form.

    Filled the first time a character is met (``__missing__``), so a text
    is translated in one call, with Python code only for characters not
    seen before."""

    def __init__(self, codec: str) -> None:
        super().__init__()
        self.codec = codec

    def prints(self, char: str) -> bool:
        try:
            char.encode(self.codec)
        except UnicodeEncodeError:
            return False
        return True

    def __missing__(self, code: int) -> str:
        char = chr(code)
        self[code] = value = char if self.prints(char) else _plain(char, self.prints)
        return value


@functools.cache
def _plain_text(codepage: str) -> _PlainText | None:
    try:
        codec = codecs.lookup(codepage.lower().replace("_", "-"))
    except LookupError:
        return None
    return _PlainText(codec.name)


def printable(text: str, codepage: str = DEFAULT_CODEPAGE) -> str:
    """``text`` with what the code page cannot show made plain: ’ -> ', — -> -, ł -> l."""
    table = _plain_text(codepage)
    return text if table is None else text.translate(table)


class _PagePlain(dict[int, str]):
    """``str.translate`` table: character -> what prints for it in one code page, as
    text (itself when the page has it; else its plain form, :func:`printable`, else
    "?" — python-escpos's own default). Each character of the result is one byte on
    paper, so the length of the translated text is the printed width. Filled the first
    time a character is met."""

    def __init__(self, page: frozenset[int]) -> None:
        super().__init__()
        self.page = page  # what the page has

    def prints(self, char: str) -> bool:
        return ord(char) in self.page

    def __missing__(self, code: int) -> str:
        char = chr(code)
        self[code] = value = char if code in self.page else _plain(char, self.prints)
        return value


class _PageBytes(dict[int, str]):
    """``str.translate`` table: character -> the byte that prints it in one code page
    (as the latin-1 character of that byte), from python-escpos's own table of the
    page, so the bytes are the ones python-escpos would send. What the page lacks
    is made plain first (``plain``, the page's :class:`_PagePlain`).
    Filled the first time a character is met."""

    def __init__(self, upper: dict[str, int]) -> None:
        super().__init__({code: chr(code) for code in range(128)})  # ASCII as it is
        self.update({ord(char): chr(byte) for char, byte in upper.items() if ord(char) >= 128})
        self.page = frozenset(self)  # what the page has (the table also learns what it lacks)
        self.plain = _PagePlain(self.page)

    def prints(self, char: str) -> bool:
        return ord(char) in self.page

    def __missing__(self, code: int) -> str:
        self[code] = value = self.plain[code].translate(self)
        return value


@functools.cache
def _page_bytes(name: str) -> _PageBytes:
    from escpos.magicencode import Encoder  # the printer's table of the page

    encoder = Encoder({name: 0})
    return _PageBytes(encoder._get_codepage_char_map(name))


def _page_name(printer: Escpos) -> str:
    name = printer.magic.encoding
    if name is None:
        raise ValueError("no code page selected: call select_codepage first")
    return str(name)


def page_encoder(printer: Escpos) -> Callable[[str], bytes]:
    """The code page the printer's job is in (after :func:`select_codepage`), as one call:
    ``str`` -> the bytes python-escpos's ``text()`` would send for ``printable(str)``,
    without its work per character."""
    table = _page_bytes(_page_name(printer))  # LookupError for a page python-escpos has no table of
    return lambda text: text.translate(table).encode("latin-1")


def page_text(printer: Escpos) -> Callable[[str], str]:
    """``str`` -> the text as it will print in the printer's code page: what the page
    lacks made plain ("…" -> "...", "✓" -> "?"), one character per printed column.
    Measure and pad *this* (then encode it with :func:`page_encoder`), so a line
    is exactly as wide on paper as it was measured."""
    table = _page_bytes(_page_name(printer)).plain
    return lambda text: text.translate(table)


def encode_text(text: str, *, codepage: str = DEFAULT_CODEPAGE, profile: str = "default") -> bytes:
    """``ESC t n`` and ``text`` encoded in ``codepage``, as python-escpos sends them.

    ``encode_text("Zürich €")`` == ``b"\\x1bt\\x13Z\\x81rich \\xd5"``.
    """
    with quiet():
        printer = dummy(profile)
        select_codepage(printer, codepage)
    return printer.output + page_encoder(printer)(text)
