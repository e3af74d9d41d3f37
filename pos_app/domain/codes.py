"""Scanned and typed input: normalisation, the ``3*EAN`` quantity prefix and GS1 codes."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pos_app.i18n import _

MAX_QUANTITY = 999

GS = "\x1d"  # ASCII group separator: how a scanner sends FNC1, the GS1 field separator

# A quantity before '*' (any number of digits, so 999999*code says the limit instead of
# "unknown barcode"); before 'x' at most 4 digits, as a code may have an X after digits.
_QTY = re.compile(r"^\s*(?:(\d+)\s*\*|(\d{1,4})\s*[xX])\s*(.+?)\s*$")
_QTY_ONLY = re.compile(r"^(?:\d+\s*\*|\d{1,4}\s*[xX])$")
_CONTROL = re.compile(r"[\x00-\x1c\x1e\x1f\x7f]")  # every control character but GS


class ScanError(ValueError):
    pass


def clean(raw: str) -> str:
    """Drop control characters (CR, LF, Tab, scanner prefixes like STX) and outer spaces.

    GS stays where it separates two fields of a GS1 code (see :func:`parse_gs1`).
    """
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
    code: str  # for a GS1 code: its GTIN (14 digits, application identifier 01)
    gs1: tuple[tuple[str, str], ...] = ()  # a GS1 code's fields: (application identifier, value)


def parse_scan(raw: str) -> ScanInput:
    """Split ``"3*7610000000001"`` into quantity 3 and the code.

    A bare code means quantity 1. Quantity must be 1..MAX_QUANTITY. A GS1 code
    (GS1-128, GS1 DataMatrix, DataBar, QR) stands for the product of its GTIN;
    a scanner's symbology identifier (``]E0``) in front of any other code is dropped.
    """
    text = clean(raw)
    if not text:
        raise ScanError(_("nothing scanned"))
    if _QTY_ONLY.match(text):
        raise ScanError(_("quantity given but no barcode after '*'"))
    match = _QTY.match(text)
    quantity, code = (1, text) if match is None else (int(match.group(1) or match.group(2)), match.group(3))
    if quantity > MAX_QUANTITY:
        raise ScanError(_("At most {limit} of one item per line: scan {limit}*code and the rest on "
                          "another line").format(limit=MAX_QUANTITY))
    if quantity < 1:
        raise ScanError(_("The quantity before '*' must be at least 1"))
    fields = gs1_fields(code)
    if fields is None:
        return ScanInput(quantity, _without_symbology(code))
    gtin = dict(fields).get("01")
    if gtin is None:
        raise ScanError(_('GS1 barcode without a product number (01): not a product label'))
    return ScanInput(quantity, gtin, fields)


# -- GS1 ---------------------------------------------------------------------------
# AIM symbology identifiers a scanner may send first: ]C1 GS1-128, ]d2 GS1 DataMatrix,
# ]Q3 GS1 QR Code, ]J1 GS1 DotCode, ]e0 GS1 DataBar (upper-cased by the scanner
# drivers, so ]E0 - which is also EAN-13's - is told apart by what follows).
_SYMBOLOGY = re.compile(r"^\][A-Za-z][0-9A-Za-z]")
_GS1_SYMBOLOGIES = {"C1", "D2", "Q3", "J1"}
_HUMAN_READABLE = re.compile(r"\((\d{2,4})\)([^()]*)")
# Application identifiers by their first two digits: how many digits the AI has
# (2 unless listed), and the fields of predefined length, which need no GS after them.
_AI_DIGITS = {**dict.fromkeys(("23", "24", "25", "40", "41", "42", "71"), 3),
              **dict.fromkeys(("31", "32", "33", "34", "35", "36", "39", "43", "70", "72",
                               "80", "81", "82"), 4)}
_AI_TWO = {"00", "01", "02", "10", "11", "12", "13", "15", "16", "17", "20", "21", "22", "30",
           "37", *(str(n) for n in range(90, 100))}
_FIXED = {"00": 18, "01": 14, "02": 14, "03": 14, "04": 16, **{str(n): 6 for n in range(11, 20)},
          "20": 2, **{str(n): 6 for n in range(31, 37)}, "41": 13}


def _without_symbology(code: str) -> str:
    return code[3:] if _SYMBOLOGY.match(code) and len(code) > 3 else code


def gs1_fields(code: str) -> tuple[tuple[str, str], ...] | None:
    """The fields of a GS1 code, or None if ``code`` is no GS1 code.

    A code is GS1 when the scanner says so (``]C1``, ``]d2``, ...), when it holds
    GS, when it is written as printed under the bars (``(01)0761...(10)LOT``), or
    when it starts with a valid GTIN in AI 01 and reads as GS1 to its end (a
    scanner that sends neither identifier nor the first FNC1). Raises ScanError
    for a GS1 code that is broken.
    """
    symbology = code[1:3].upper() if _SYMBOLOGY.match(code) else None
    body = code[3:] if symbology else code
    if symbology in _GS1_SYMBOLOGIES or GS in body:
        return parse_gs1(body)
    if _HUMAN_READABLE.match(body):
        return _parse_human_readable(body)
    if symbology in (None, "E0") and len(body) >= 16 and body[:2] == "01" and body[2:16].isdigit() \
            and _check_digit_ok(body[2:16]):
        try:
            return parse_gs1(body)
        except ScanError:
            return None  # not GS1 after all: an ordinary code that happens to start alike
    return None


def parse_gs1(data: str) -> tuple[tuple[str, str], ...]:
    """``"0107610000000028" "10LOT" GS "21SN"`` -> ``(("01", ...), ("10", "LOT"), ("21", "SN"))``."""
    fields: list[tuple[str, str]] = []
    i = 0
    while i < len(data):
        if data[i] == GS:
            i += 1
            continue
        head = data[i:i + 2]
        digits = _AI_DIGITS.get(head, 2 if head in _AI_TWO else 0)
        ai = data[i:i + digits]
        if not digits or len(ai) < digits or not ai.isdigit():
            raise ScanError(_('GS1 barcode: unknown application identifier at {data!r}').format(data=data[i:i + 8]))
        i += digits
        size = _FIXED.get(head)
        if size is not None:
            value = data[i:i + size]
            if len(value) < size or not value.isdigit():
                raise ScanError(_('GS1 barcode: ({ai}) needs {size} digits, got {value!r}').format(
                    ai=ai, size=size, value=value.split(GS)[0]))
        else:
            end = data.find(GS, i)
            value = data[i:] if end < 0 else data[i:end]
            if not value:
                raise ScanError(_('GS1 barcode: ({ai}) is empty').format(ai=ai))
        i += len(value)
        fields.append((ai, value))
    return _checked(fields)


def _parse_human_readable(text: str) -> tuple[tuple[str, str], ...]:
    if not re.fullmatch(rf"(?:{_HUMAN_READABLE.pattern})+", text):
        raise ScanError(_('GS1 barcode: cannot read {text!r} as (AI)value(AI)value...').format(text=text[:40]))
    fields = [(m.group(1), m.group(2).strip()) for m in _HUMAN_READABLE.finditer(text)]
    for ai, value in fields:
        if len(ai) != _AI_DIGITS.get(ai[:2], 2 if ai[:2] in _AI_TWO else 0):
            raise ScanError(_('GS1 barcode: unknown application identifier ({ai})').format(ai=ai))
        size = _FIXED.get(ai[:2])
        if size is not None and (len(value) != size or not value.isdigit()):
            raise ScanError(_('GS1 barcode: ({ai}) needs {size} digits, got {value!r}').format(
                ai=ai, size=size, value=value))
    return _checked(fields)


def _checked(fields: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    gtin = dict(fields).get("01")
    if gtin is not None and not _check_digit_ok(gtin):
        raise ScanError(_('GS1 barcode: the GTIN (01) {gtin} has a wrong check digit').format(gtin=gtin))
    return tuple(fields)


def _check_digit_ok(digits: str) -> bool:
    """The GS1 check digit (GTIN, EAN, UPC): weights 3, 1, 3, ... from the right."""
    *data, check = (int(d) for d in digits)
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(data)))
    return (10 - total % 10) % 10 == check
