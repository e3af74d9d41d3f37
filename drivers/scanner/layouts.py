"""Undo a keyboard-layout mix-up between a keyboard-wedge scanner and the till.

A wedge scanner sends key *positions*. When its keyboard country and the
till's differ, digits arrive as other characters. The mix-ups seen with
French/Belgian AZERTY, by what arrives for ``0123456789``:

``azerty``            ``à&é"'(-è_ç``  the AZERTY digit row without Shift
``azerty-on-qwertz``  ``=+"*ç%&/()``  a scanner set to AZERTY on a Swiss QWERTZ till
``azerty-on-qwerty``  ``)!@#$%^&*(``  a scanner set to AZERTY on a US QWERTY till

Letters move too (A/Q and Z/W swap places, M sits elsewhere); dashes
arrive as another key. A code counts as mixed up only when it holds no
ordinary digits (beyond the ``6`` that a dash becomes) and at least one
character that no barcode we read contains, so a genuine code made of
letters, digits and dashes is never "corrected".
"""

from __future__ import annotations

from dataclasses import dataclass

from pos_app.i18n import N_

# Marked here, translated where it is shown.
HINT = N_("scanner is set to AZERTY — set it to QWERTZ/QWERTY (see the scanner's manual, keyboard country)")


@dataclass(frozen=True, slots=True)
class Layout:
    name: str
    table: dict[str, str]  # what arrives -> what was meant
    digits: str  # what arrives for 0..9, in order
    allowed_digits: str  # ordinary digits that may still arrive (a mapped dash)

    def explains(self, text: str) -> bool:
        """True if ``text`` reads as this mix-up (see the module docstring)."""
        telltale = False
        for char in text:
            if char.isascii() and char.isdigit():
                if char not in self.allowed_digits:
                    return False
            elif char in self.digits and not (char.isascii() and (char.isalnum() or char == "-")):
                telltale = True
            elif char not in self.table and not (char.isascii() and char.isalpha()) and char != " ":
                return False
        return telltale

    def undo(self, text: str) -> str:
        return "".join(self.table.get(char, char) for char in text)


def _layout(name: str, digits: str, extra: dict[str, str], allowed_digits: str = "") -> Layout:
    table = {arrived: str(value) for value, arrived in enumerate(digits)}
    for arrived, meant in extra.items():
        table[arrived] = meant
        if arrived.isascii() and arrived.isalpha():
            table[arrived.swapcase()] = meant.swapcase()
    return Layout(name, table, digits, allowed_digits)


LAYOUTS: tuple[Layout, ...] = (
    # AZERTY digit row without Shift; a QWERTY scanner on an AZERTY till.
    _layout("azerty", "à&é\"'(-è_ç",
            {"Q": "A", "A": "Q", "W": "Z", "Z": "W", "?": "M", ",": "m", ")": "-"}),
    # Scanner set to AZERTY, Swiss German QWERTZ till: Shift+digit row.
    _layout("azerty-on-qwertz", "=+\"*ç%&/()",
            {"Q": "A", "A": "Q", "W": "Z", "Y": "W", "Z": "Y", "é": "M", "ö": "m", "6": "-"},
            allowed_digits="6"),
    # Scanner set to AZERTY, US QWERTY till: Shift+digit row.
    _layout("azerty-on-qwerty", ")!@#$%^&*(",
            {"Q": "A", "A": "Q", "W": "Z", "Z": "W", ":": "M", ";": "m", "6": "-"},
            allowed_digits="6"),
)


def undo_layout(text: str, prefer: str | None = None) -> tuple[str | None, str]:
    """``('azerty', '0123')`` for ``'à&é"'``; ``(None, text)`` when nothing is mixed up.

    ``prefer`` names the layout seen before; it wins when several explain
    the text (``&&&&`` reads as 1111, 6666 or 7777).
    """
    candidates = [layout for layout in LAYOUTS if layout.explains(text)]
    if not candidates:
        return None, text
    chosen = next((c for c in candidates if c.name == prefer), candidates[0])
    return chosen.name, chosen.undo(text)
