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
import unicodedata
from typing import TYPE_CHECKING

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


def codepages(profile: str = "default") -> dict[str, int]:
    """The code pages a printer profile knows: name -> ``ESC t`` number."""
    with quiet():
        printer = dummy(profile)
    return {name: int(number) for name, number in printer.profile.get_code_pages().items()}


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
    Characters the page lacks print as "?" — pass text through :func:`printable`.
    """
    known = printer.profile.get_code_pages()
    name = next((n for n in known if n.upper() == codepage.upper()), None)
    if name is None:
        raise ValueError(f"printer profile {printer.profile.profile_data.get('name', '?')!r} has no "
                         f"code page {codepage!r}; it has {', '.join(sorted(known))}")
    printer.charcode(name)


def printable(text: str, codepage: str = DEFAULT_CODEPAGE) -> str:
    """``text`` with what the code page cannot show made plain: ’ -> ', — -> -, ł -> l."""
    try:
        codec = codecs.lookup(codepage.lower().replace("_", "-"))
    except LookupError:
        return text
    out = []
    for char in text:
        if _encodable(char, codec.name):
            out.append(char)
        elif char in _PLAIN:
            out.append(_PLAIN[char])
        else:
            bare = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
            out.append(bare if bare and all(_encodable(c, codec.name) for c in bare) else "?")
    return "".join(out)


def _encodable(char: str, codec: str) -> bool:
    try:
        char.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


def encode_text(text: str, *, codepage: str = DEFAULT_CODEPAGE, profile: str = "default") -> bytes:
    """``ESC t n`` and ``text`` encoded in ``codepage``, as python-escpos sends them.

    ``encode_text("Zürich €")`` == ``b"\\x1bt\\x13Z\\x81rich \\xd5"``.
    """
    with quiet():
        printer = dummy(profile)
        select_codepage(printer, codepage)
        printer.text(printable(text, codepage))
    return printer.output
