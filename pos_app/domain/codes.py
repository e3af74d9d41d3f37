"""Scanned and typed input: normalisation and the ``3*EAN`` quantity prefix."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_QUANTITY = 999

_QTY = re.compile(r"^\s*(\d{1,4})\s*[*xX]\s*(.+?)\s*$")
_QTY_ONLY = re.compile(r"^\d{1,4}\s*[*xX]$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ScanError(ValueError):
    pass


def clean(raw: str) -> str:
    """Drop control characters (CR, LF, Tab, scanner prefixes like STX) and outer spaces."""
    return _CONTROL.sub("", raw).strip()


def normalize_voucher_code(raw: str) -> str:
    """``" l4fu-5lqt kjr3\\r"`` -> ``"L4FU5LQTKJR3"``: dashes, spaces, case, CR/LF/Tab."""
    return re.sub(r"[\s\-]", "", clean(raw)).upper()


def mask_code(code: str, keep: int = 4) -> str:
    """Show only the last characters of a voucher code: ``…KJR3``."""
    code = normalize_voucher_code(code)
    return "…" + code[-keep:] if len(code) > keep else code


@dataclass(frozen=True, slots=True)
class ScanInput:
    quantity: int
    code: str


def parse_scan(raw: str) -> ScanInput:
    """Split ``"3*7610000000001"`` into quantity 3 and the code.

    A bare code means quantity 1. Quantity must be 1..MAX_QUANTITY.
    """
    text = clean(raw)
    if not text:
        raise ScanError("nothing scanned")
    if _QTY_ONLY.match(text):
        raise ScanError("quantity given but no barcode after '*'")
    match = _QTY.match(text)
    if match is None:
        return ScanInput(1, text)
    quantity = int(match.group(1))
    if not 1 <= quantity <= MAX_QUANTITY:
        raise ScanError(f"quantity must be between 1 and {MAX_QUANTITY}")
    return ScanInput(quantity, match.group(2))
