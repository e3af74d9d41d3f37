"""Receipts: one model, rendered to plain text (screen) and ESC/POS bytes (paper).

The texts a shop owner may change (header, footer) come from TOML files in
``receipts/``; they are loaded and checked once at start-up
(``load_templates``), so a broken template stops the till with a clear
message instead of failing at the first sale.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from drivers.printer.barcodes import add_barcode
from drivers.printer.codepage import page_encoder, select_codepage
from drivers.printer.escpos_tools import dummy, quiet
from pos_app.config import Config, ConfigError, read_toml
from pos_app.domain.codes import mask_code
from pos_app.domain.money import Money
from pos_app.domain.order import LineKind, Order, TenderKind
from pos_app.domain.vat import format_rate

Align = Literal["left", "center", "right"]
PLACEHOLDERS = {"outlet_name", "outlet_id", "till", "number", "date", "time", "currency"}


@dataclass(frozen=True, slots=True)
class Row:
    text: str = ""
    align: Align = "left"
    bold: bool = False
    rule: bool = False  # a full-width line of dashes
    barcode: str | None = None  # a CODE128 barcode of this code


@dataclass(slots=True)
class Receipt:
    width: int
    rows: list[Row] = field(default_factory=list)

    def add(self, text: str = "", align: Align = "left", bold: bool = False) -> None:
        self.rows.append(Row(text[: self.width], align, bold))

    def pair(self, left: str, right: str, bold: bool = False) -> None:
        room = self.width - len(right) - 1
        self.rows.append(Row(f"{left[:room]:<{room}} {right}", "left", bold))

    def rule(self) -> None:
        self.rows.append(Row(rule=True))

    def barcode(self, code: str) -> None:
        self.rows.append(Row(barcode=code, align="center"))

    def lines(self) -> list[str]:
        out = []
        for row in self.rows:
            if row.barcode:
                out.append(f"|||| {row.barcode} ||||".center(self.width).rstrip())
            elif row.rule:
                out.append("-" * self.width)
            elif row.align == "center":
                out.append(row.text.center(self.width).rstrip())
            elif row.align == "right":
                out.append(row.text.rjust(self.width))
            else:
                out.append(row.text)
        return out

    def text(self) -> str:
        return "\n".join(self.lines()) + "\n"

    def escpos(self, profile: str = "default", codepage: str = "CP858") -> bytes:
        """ESC/POS bytes for the whole receipt, built in memory for one write.

        The code page is selected right after INIT (which resets it), so
        "Zürich", "€" and "Fr." print right; what the page lacks ("…") is
        made plain. Each line is encoded in one call (``page_encoder``), to the
        bytes python-escpos's ``textln`` would send. python-escpos's own stdout
        chatter is swallowed.
        """
        printer = dummy(profile)
        with quiet():
            printer.hw("INIT")
            select_codepage(printer, codepage)
            encode = page_encoder(printer)  # each line in one call, never character by character
            for row, line in zip(self.rows, self.lines(), strict=True):
                if row.barcode:  # native CODE128 (code set B), the code printed below it
                    add_barcode(printer, row.barcode)
                    printer.textln()
                    continue
                printer.set(align=row.align if not row.rule else "left", bold=row.bold)
                printer._raw(encode((line.strip() if row.align == "center" else line) + "\n"))
            printer.set(align="left", bold=False)
            printer.cut()
        return printer.output


# What each template file may hold: key -> (one line or several, extra placeholders).
# Every text may also use the shop placeholders (PLACEHOLDERS).
SCHEMA: dict[str, dict[str, tuple[bool, frozenset[str]]]] = {
    "sale.toml": {
        "header": (True, frozenset()),
        "footer": (True, frozenset()),
    },
    "voucher.toml": {
        "payment": (False, frozenset({"code", "amount"})),
        "new_balance": (False, frozenset({"new_balance"})),
        "gift_title": (False, frozenset({"amount", "code"})),
        "gift_lines": (True, frozenset({"amount", "code"})),
    },
    "balance_slip.toml": {
        "title": (False, frozenset()),
        "lines": (True, frozenset({"provider", "code", "redeemable", "balance", "total", "message"})),
        "footer": (True, frozenset()),
    },
    "void.toml": {
        "title": (False, frozenset()),
        "footer": (True, frozenset()),
    },
}

# Used where a file (other than sale.toml) or a key is missing.
DEFAULTS: dict[str, dict[str, str | tuple[str, ...]]] = {
    "voucher.toml": {
        "payment": "Voucher {code}",
        "new_balance": "  new balance {new_balance}",
        "gift_title": "GIFT VOUCHER",
        "gift_lines": ("{currency} {amount}", "{code}"),
    },
    "balance_slip.toml": {
        "title": "VOUCHER BALANCE",
        "lines": ("{provider} voucher {code}", "Redeemable: {redeemable}",
                  "Balance {currency} {balance}", "Total amount {currency} {total}", "{message}"),
        "footer": (),
    },
    "void.toml": {"title": "VOID OF SALE {number}", "footer": ()},
}


@dataclass(frozen=True, slots=True)
class Templates:
    texts: dict[str, dict[str, str | tuple[str, ...]]]

    @property
    def header(self) -> tuple[str, ...]:
        return self.lines("sale.toml", "header")

    @property
    def footer(self) -> tuple[str, ...]:
        return self.lines("sale.toml", "footer")

    def line(self, file: str, key: str, **values: str) -> str:
        text = self.texts[file][key]
        assert isinstance(text, str)
        return text.format(**values)

    def lines(self, file: str, key: str) -> tuple[str, ...]:
        text = self.texts[file][key]
        assert isinstance(text, tuple)
        return text


def _check_text(path: Path, key: str, text: str, allowed: frozenset[str]) -> None:
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise ConfigError(f"{path}: {key}: {text!r}: {exc} (write {{{{ for a literal brace)") from None
    unknown = fields - PLACEHOLDERS - allowed
    if unknown:
        known = sorted(PLACEHOLDERS | allowed)
        raise ConfigError(
            f"{path}: {key}: unknown placeholder {{{sorted(unknown)[0]}}} in {text!r}; "
            f"known: {', '.join('{' + p + '}' for p in known)}"
        )


def _load_file(folder: Path, name: str) -> dict[str, str | tuple[str, ...]]:
    path = folder / name
    defaults = DEFAULTS.get(name)
    if defaults is not None and not path.exists():
        return dict(defaults)
    raw = read_toml(path)
    schema = SCHEMA[name]
    unknown = set(raw) - set(schema)
    if unknown:
        raise ConfigError(f"{path}: unknown key {sorted(unknown)[0]!r} (known: {', '.join(schema)})")
    texts: dict[str, str | tuple[str, ...]] = dict(defaults or {})
    for key, (many, allowed) in schema.items():
        if key not in raw:
            texts.setdefault(key, () if many else "")
            continue
        value = raw[key]
        if many:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{path}: {key}: must be a list of text lines")
            for text in value:
                _check_text(path, key, text, allowed)
            texts[key] = tuple(value)
        else:
            if not isinstance(value, str):
                raise ConfigError(f"{path}: {key}: must be one line of text")
            _check_text(path, key, value, allowed)
            texts[key] = value
    return texts


def load_templates(folder: Path) -> Templates:
    """Read and check every template at start-up (a broken one stops the till here)."""
    return Templates({name: _load_file(folder, name) for name in SCHEMA})


def _fill(lines: tuple[str, ...], values: dict[str, str]) -> list[str]:
    return [line.format(**values) for line in lines]


TENDER_LABELS = {TenderKind.CASH: "Cash", TenderKind.CARD: "Card", TenderKind.VOUCHER: "Voucher"}


def _values(config: Config, number: str, when: datetime, currency: str) -> dict[str, str]:
    return {
        "outlet_name": config.outlet.name,
        "outlet_id": config.outlet.id,
        "till": config.outlet.till,
        "number": number,
        "date": when.strftime("%d.%m.%Y"),
        "time": when.strftime("%H:%M"),
        "currency": currency,
    }


def _header(r: Receipt, templates: Templates, values: dict[str, str]) -> None:
    for i, line in enumerate(_fill(templates.header, values)):
        r.add(line, "center", bold=i == 0)
    r.rule()


def _footer(r: Receipt, templates: Templates, values: dict[str, str]) -> None:
    footer = _fill(templates.footer, values)
    if footer:
        r.rule()
        for line in footer:
            r.add(line, "center")


def sale_receipt(order: Order, number: str, config: Config, templates: Templates,
                 when: datetime) -> Receipt:
    currency = order.currency
    values = _values(config, number, when, currency)
    r = Receipt(config.printer.width)
    _header(r, templates, values)
    r.pair(f"Receipt {number}", f"{values['date']} {values['time']}")
    r.rule()
    rates = {rate: chr(ord("A") + i)
             for i, rate in enumerate(sorted({l.vat_rate for l in order.active_lines if l.in_vat}))}
    for line in order.active_lines:
        code = rates[line.vat_rate] if line.in_vat else " "
        if line.kind is LineKind.GIFT_VOUCHER:
            r.pair("Gift voucher", f"{line.total.amount_str()}  ")
            continue
        if line.quantity == 1:
            r.pair(line.name, f"{line.total.amount_str()} {code}")
        else:
            r.add(line.name)
            r.pair(f"  {line.quantity} x {line.unit_price.amount_str()}", f"{line.total.amount_str()} {code}")
    r.rule()
    r.pair(f"TOTAL {currency}", order.total.amount_str() + "  ", bold=True)
    for tender in order.active_tenders:
        label = TENDER_LABELS[tender.kind]
        if tender.kind is TenderKind.CASH and tender.given is not None:
            r.pair(f"{label} given", tender.given.amount_str() + "  ")
        elif tender.kind is TenderKind.VOUCHER and tender.code:
            amount = tender.amount.amount_str()
            r.pair(templates.line("voucher.toml", "payment", **values, code=mask_code(tender.code),
                                  amount=amount), amount + "  ")
            if tender.balance_after is not None:
                r.add(templates.line("voucher.toml", "new_balance", **values,
                                     new_balance=tender.balance_after.amount_str()))
        else:
            r.pair(label, tender.amount.amount_str() + "  ")
    if order.rounding:
        r.pair("Cash rounding", order.rounding.amount_str() + "  ")
    if order.change:
        r.pair("Change", order.change.amount_str() + "  ", bold=True)
    vat = order.vat_breakdown()
    if vat:
        r.rule()
        r.pair("VAT", f"{'net':>9}{'VAT':>8}{'gross':>9}")
        for v in vat:
            amounts = f"{v.net.amount_str():>9}{v.vat.amount_str():>8}{v.gross.amount_str():>9}"
            r.pair(f"{rates[v.rate]} {format_rate(v.rate)}", amounts)
    for line in order.gift_vouchers:  # the sold voucher: code in full, to redeem it
        assert line.code is not None
        gift = {**values, "amount": line.total.amount_str(), "code": format_code(line.code)}
        r.rule()
        r.add(templates.line("voucher.toml", "gift_title", **gift), "center", bold=True)
        for text in _fill(templates.lines("voucher.toml", "gift_lines"), gift):
            r.add(text, "center", bold=True)
        r.barcode(line.code)
    _footer(r, templates, values)
    return r


def format_code(code: str) -> str:
    """``EADSHD24AKS5`` -> ``EADS-HD24-AKS5``, as printed on vouchers."""
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4)) if len(code) == 12 else code


def void_receipt(*, order: Order, number: str, cash_back: Money | None, card_back: Money | None,
                 config: Config, templates: Templates, when: datetime) -> Receipt:
    """The receipt of a voided sale: what was reversed and what was given back."""
    values = _values(config, number, when, order.currency)
    r = Receipt(config.printer.width)
    _header(r, templates, values)
    r.add(templates.line("void.toml", "title", **values), "center", bold=True)
    r.pair(f"{values['date']} {values['time']}", f"Till {config.outlet.till}")
    r.rule()
    for line in order.active_lines:
        label = f"Gift voucher {mask_code(line.code or '')} deactivated" if line.code else line.name
        r.pair(label if line.quantity == 1 else f"{line.quantity} x {line.name}",
               f"-{line.total.amount_str()}")
    r.rule()
    r.pair(f"TOTAL {order.currency}", f"-{order.total.amount_str()}", bold=True)
    for tender in order.active_tenders:
        if tender.kind is TenderKind.VOUCHER:
            r.pair(f"Voucher {mask_code(tender.code or '')} credited", tender.amount.amount_str())
    if card_back:
        r.pair("Card refund", card_back.amount_str())
    if cash_back:
        r.pair("Cash returned", cash_back.amount_str(), bold=True)
    for text in _fill(templates.lines("void.toml", "footer"), values):
        r.add(text, "center")
    _footer(r, templates, values)
    return r


def balance_slip(*, provider: str, code: str, redeemable: bool, balance: Money,
                 total: Money | None, message: str, config: Config, templates: Templates,
                 when: datetime) -> Receipt:
    """The balance-check slip: the customer's voucher, masked, and what is left on it."""
    values = _values(config, "", when, balance.currency)
    r = Receipt(config.printer.width)
    _header(r, templates, values)
    r.add(templates.line("balance_slip.toml", "title", **values), "center", bold=True)
    r.pair(f"{values['date']} {values['time']}", f"Till {config.outlet.till}")
    r.rule()
    slip = {**values, "provider": provider, "code": mask_code(code),
            "redeemable": "yes" if redeemable else "no", "balance": balance.amount_str(),
            "total": total.amount_str() if total is not None else "", "message": message}
    for template in templates.lines("balance_slip.toml", "lines"):
        if ("{total}" in template and total is None) or ("{message}" in template and not message):
            continue  # a line about something the provider did not say
        r.add(template.format(**slip))
    for text in _fill(templates.lines("balance_slip.toml", "footer"), values):
        r.add(text, "center")
    _footer(r, templates, values)
    return r
