"""What a scanner driver hands to the till: a scan, a rejected scan, or typed keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pos_app.domain.codes import clean

Source = Literal["keyboard", "serial"]


@dataclass(frozen=True, slots=True)
class Scan:
    """One barcode read.

    ``raw`` is what arrived, prefix and suffix included (show it with ``repr``);
    ``normalised`` has the prefix, suffix, control characters (but GS, the
    GS1 field separator) and outer whitespace removed, a keyboard-layout
    mix-up undone, and is upper-case.
    Provider rules (E-GUMA drops dashes, ...) are applied later, by the caller.
    """

    raw: str
    normalised: str
    source: Source = "keyboard"
    layout: str | None = None  # the layout mix-up that was undone, e.g. "azerty"


@dataclass(frozen=True, slots=True)
class RejectedScan:
    """Bytes that ended like a scan but are not a usable code; ``reason`` says why."""

    raw: str
    reason: str
    source: Source = "serial"
    data: bytes = b""  # the bytes as received (serial), for diagnosing baud-rate or parity errors


@dataclass(frozen=True, slots=True)
class Typed:
    """Keys a person typed (not a scan); pass them on to the focused field as they are."""

    text: str


ScanResult = Scan | RejectedScan


def normalise(text: str, prefix: str = "") -> str:
    """``"\\x02 l4fu-5lqt\\r"`` with prefix ``"\\x02"`` -> ``"L4FU-5LQT"``."""
    if prefix and text.startswith(prefix):
        text = text[len(prefix):]
    return clean(text).upper()
