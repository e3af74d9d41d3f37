"""Receipts: one model, rendered to plain text (screen) and ESC/POS bytes (paper).

The texts a shop owner may change (header, footer) come from TOML files in
``receipts/``; they are loaded and checked once at start-up
(``load_templates``), so a broken template stops the till with a clear
message instead of failing at the first sale.

Every line is measured as it prints (what the code page lacks made plain
first) and wrapped, never cut: no line on paper is wider than ``width``.
Labels are translated (``_``), template texts when they are filled, amounts
are in the outlet's locale (``Money.shown``).
"""

from __future__ import annotations

import string
import textwrap
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from drivers.printer.barcodes import add_barcode
from drivers.printer.codepage import DEFAULT_CODEPAGE, page_encoder, page_text, printable, select_codepage
from drivers.printer.escpos_tools import dummy, quiet
from pos_app.config import Config, ConfigError, read_toml
from pos_app.domain.codes import mask_code
from pos_app.domain.money import Money, sum_money
from pos_app.domain.order import Line, LineKind, Order, Tender, TenderKind
from pos_app.domain.vat import format_rate, vat_letters
from pos_app import i18n
from pos_app.i18n import N_, _, ngettext

if TYPE_CHECKING:
    from escpos.escpos import Escpos

Align = Literal["left", "center", "right"]
PLACEHOLDERS = {"outlet_name", "outlet_id", "till", "number", "date", "time", "currency"}
DOTS_PER_COLUMN = 12  # font A: a 42-column line is at least 504 dots wide, 32 columns 384
# Control characters would be printer commands on paper: a text shows them as "?"
# (line breaks and tabs become spaces: a row is wrapped by the receipt, never by them).
_CONTROLS = {**{c: "?" for c in range(32)}, 0x7F: "?", 0x09: " ", 0x0A: " ", 0x0D: " "}


@dataclass(frozen=True, slots=True)
class Row:
    text: str = ""
    align: Align = "left"
    bold: bool = False
    rule: bool = False  # a full-width line of dashes
    barcode: str | None = None  # a CODE128 barcode of this code
    right: str | None = None  # a pair: ``text`` at the left, this at the right edge


def wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` characters, broken between words (a word
    longer than the line is broken inside). An indented text keeps its indent on the
    lines that follow. Nothing is ever cut off."""
    if len(text) <= width:
        return [text]
    body = text.lstrip(" ")
    indent = text[: len(text) - len(body)]
    if len(indent) > width // 2:
        indent = ""
    return textwrap.wrap(text, width, subsequent_indent=indent, break_long_words=True,
                         break_on_hyphens=False) or [""]


def layout(row: Row, width: int, plain: Callable[[str], str] = str) -> list[str]:
    """The lines one row takes, each at most ``width`` characters of ``plain(text)``
    (``plain``: the text as it prints, :func:`drivers.printer.codepage.page_text`;
    the screen shows the text as it is)."""
    if row.rule:
        return ["-" * width]
    if row.barcode is not None:  # the screen's stand-in for the barcode
        code = plain(row.barcode.translate(_CONTROLS))
        shown = f"|||| {code} ||||"
        return [line.center(width).rstrip() for line in ([shown] if len(shown) <= width else wrap(code, width))]
    text = plain(row.text.translate(_CONTROLS))
    if row.right is None:
        lines = wrap(text, width)
        if row.align == "center":
            return [line.strip(" ").center(width).rstrip() for line in lines]
        if row.align == "right":
            return [line.rjust(width) for line in lines]
        return lines
    right = plain(row.right.translate(_CONTROLS))
    if len(right) >= width:  # nothing fits beside it
        return [*(wrap(text, width) if text.strip() else []), *(r.rjust(width) for r in wrap(right, width))]
    room = width - len(right) - 1
    lines = wrap(text, width)
    if len(lines[-1]) <= room:
        lines[-1] = f"{lines[-1]:<{room}} {right}"
    else:
        lines.append(right.rjust(width))
    return lines


def barcode_module(code: str, width: int) -> int | None:
    """The module width (dots) a CODE128 of ``code`` fits the paper with: 2 (the
    narrowest python-escpos sends), or None (the code is printed as text instead)."""
    modules = 11 * (len(code) + 2) + 13 + 20  # start, data, check, stop, quiet zones
    return 2 if 2 * modules <= width * DOTS_PER_COLUMN else None


@dataclass(slots=True)
class Receipt:
    width: int
    rows: list[Row] = field(default_factory=list)

    def add(self, text: str = "", align: Align = "left", bold: bool = False) -> None:
        """A line of text; one longer than the paper is wrapped, never cut."""
        self.rows.append(Row(text, align, bold))

    def pair(self, left: str, right: str, bold: bool = False) -> None:
        """``left`` at the left, ``right`` at the right edge (a long ``left`` wraps)."""
        self.rows.append(Row(left, "left", bold, right=right))

    def rule(self) -> None:
        self.rows.append(Row(rule=True))

    def barcode(self, code: str) -> None:
        self.rows.append(Row(barcode=code, align="center"))

    def lines(self) -> list[str]:
        """The receipt as the screen shows it."""
        return [line for row in self.rows for line in layout(row, self.width)]

    def text(self) -> str:
        return "\n".join(self.lines()) + "\n"

    def escpos(self, profile: str = "default", codepage: str = DEFAULT_CODEPAGE) -> bytes:
        """ESC/POS bytes for the whole receipt, built in memory for one write.

        The code page is selected right after INIT (which resets it), so
        "Zürich", "€" and "Fr." print right; what the page lacks ("…") is
        made plain *before* a line is measured, so no line is wider on paper
        than ``width``. Each row is encoded in one call (``page_encoder``), to
        the bytes python-escpos's ``textln`` would send. python-escpos's own
        stdout chatter is swallowed.
        """
        printer = dummy(profile)
        with quiet():
            printer.hw("INIT")
            select_codepage(printer, codepage)
            self.emit(printer)
            printer.cut()
        return printer.output

    def emit(self, printer: Escpos) -> None:
        """The rows onto ``printer``'s job (its code page selected); ends left, not bold."""
        encode, plain = page_encoder(printer), page_text(printer)  # each row in one call
        with quiet():
            for row in self.rows:
                if row.barcode:
                    module = barcode_module(row.barcode, self.width)
                    if module is not None:  # native CODE128 (code set B), the code printed below it
                        below = len(row.barcode) <= self.width
                        add_barcode(printer, row.barcode, width=module, text_below=below)
                        printer.textln()
                        if below:
                            continue
                    row = Row(row.barcode, "center")  # too long to draw or to print below: as text
                printer.set(align=row.align if not row.rule else "left", bold=row.bold)
                lines = layout(row, self.width, plain)
                if row.align == "center":
                    lines = [line.strip(" ") for line in lines]
                printer._raw(encode("".join(line + "\n" for line in lines)))
            printer.set(align="left", bold=False)


def copy_mark(width: int) -> Receipt:
    """The mark a reprint carries at its top and bottom."""
    word = _("COPY")
    mark = Receipt(width)
    mark.add(f"*** {word} ***" if len(word) + 8 <= width else word, "center", bold=True)
    return mark


def mark_copy(data: bytes, *, width: int, profile: str = "default",
              codepage: str = DEFAULT_CODEPAGE) -> bytes:
    """A stored receipt's bytes with a COPY mark at the top and at the bottom, for a
    receipt printed again (F7): the first print has none, every later one has it."""
    with quiet():
        head = dummy(profile)
        head.hw("INIT")
        select_codepage(head, codepage)
        prefix = head.output
        copy_mark(width).emit(head)
        block = head.output[len(prefix):]
        end = dummy(profile)
        end.cut()
        tail = end.output
    body = data[len(prefix):] if data.startswith(prefix) else data
    if body.endswith(tail):
        return prefix + block + body[: len(body) - len(tail)] + block + tail
    return prefix + block + body + prefix + block + tail


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
        "valid_until": (False, frozenset({"valid_until"})),
        "top_up": (False, frozenset({"code", "amount"})),
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
    "report.toml": {
        "x_title": (False, frozenset()),
        "z_title": (False, frozenset()),
        "liability_title": (False, frozenset()),
        "store_title": (False, frozenset()),
        "store_z_title": (False, frozenset()),
        "liability_note": (True, frozenset()),
        "footer": (True, frozenset()),
    },
}

# Used where a file (other than sale.toml) or a key is missing (the same texts as
# the shipped files, so the catalogs have them).
DEFAULTS: dict[str, dict[str, str | tuple[str, ...]]] = {
    "voucher.toml": {
        "payment": N_("Voucher {code}"),
        "new_balance": N_("  new balance {new_balance}"),
        "valid_until": N_("  valid until {valid_until}"),
        "top_up": N_("Top-up voucher {code}"),
        "gift_title": N_("GIFT VOUCHER"),
        "gift_lines": ("{currency} {amount}", "{code}"),
    },
    "balance_slip.toml": {
        "title": N_("VOUCHER BALANCE"),
        "lines": (N_("{provider} voucher {code}"), N_("Redeemable: {redeemable}"),
                  N_("Balance {currency} {balance}"), N_("Total amount {currency} {total}"), "{message}"),
        "footer": (),
    },
    "void.toml": {"title": N_("VOID OF SALE {number}"), "footer": ()},
    "report.toml": {
        "x_title": N_("X REPORT {number}"),
        "z_title": N_("Z REPORT {number}"),
        "liability_title": N_("VOUCHER LIABILITY"),
        "store_title": N_("STORE REPORT, ALL TILLS"),
        "store_z_title": N_("STORE Z REPORT {number}"),
        "liability_note": (),
        "footer": (),
    },
}


def is_data_only(text: str) -> bool:
    """``"{outlet_name}"`` or a blank line: nothing to translate (as the catalogs'
    extractor, :func:`pos_app.i18n_catalogs.extract_toml`, leaves it out)."""
    return not text.strip() or (text.startswith("{") and text.strip("{}_ ").isidentifier())


def fill(text: str, values: Mapping[str, str]) -> str:
    """A template text translated (when the catalogs have it: a shop owner's own text
    stays as written) and its placeholders filled. A translation whose placeholders
    do not fit falls back to the text as written: a sale never fails on a catalog."""
    if not is_data_only(text):
        translated = _(text)
        if translated != text:
            try:
                return translated.format(**values)
            except (KeyError, IndexError, ValueError):
                pass
    return text.format(**values)


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
        """One template text, translated and filled."""
        text = self.texts[file][key]
        assert isinstance(text, str)
        return fill(text, values)

    def lines(self, file: str, key: str) -> tuple[str, ...]:
        """The texts of a list key, as written (fill each with :func:`fill`)."""
        text = self.texts[file][key]
        assert isinstance(text, tuple)
        return text


def _check_text(path: Path, key: str, text: str, allowed: frozenset[str]) -> set[str]:
    try:
        fields = {name for _text, name, _spec, _conv in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise ConfigError(_("{file}: {key}: {text}: {problem} (write {{{{ for a literal brace)").format(
            file=path, key=key, text=repr(text), problem=exc)) from None
    unknown = fields - PLACEHOLDERS - allowed
    if unknown:
        known = sorted(PLACEHOLDERS | allowed)
        raise ConfigError(_("{file}: {key}: unknown placeholder {placeholder} in {text}; known: {known}").format(
            file=path, key=key, placeholder="{" + sorted(unknown)[0] + "}", text=repr(text),
            known=", ".join("{" + p + "}" for p in known)))
    return fields


def _check_width(path: Path, key: str, number: int | None, text: str, fields: set[str],
                 width: int | None, codepage: str) -> None:
    """A fixed line (no placeholder) wider than the paper is the shop owner's to fix,
    said at start. A line with placeholders is measured only when filled: it is
    wrapped then, as is a translation longer than the English text."""
    if width is None or fields:
        return
    printed = printable(text.format(), codepage)
    if len(printed) > width:
        if number is None:
            message = _("{file}: {key}: {text} is {size} characters wide, the paper {width} ([printer] width): "
                        "shorten it or split it into two lines")
        else:
            message = _("{file}: {key}: line {number} {text} is {size} characters wide, the paper {width} "
                        "([printer] width): shorten it or split it into two lines")
        raise ConfigError(message.format(file=path, key=key, number=number, text=repr(text), size=len(printed),
                                         width=width))


def _load_file(folder: Path, name: str, width: int | None = None,
               codepage: str = DEFAULT_CODEPAGE) -> dict[str, str | tuple[str, ...]]:
    path = folder / name
    defaults = DEFAULTS.get(name)
    if defaults is not None and not path.exists():
        return dict(defaults)
    raw = read_toml(path)
    schema = SCHEMA[name]
    unknown = set(raw) - set(schema)
    if unknown:
        raise ConfigError(_("{file}: unknown key {key} (known: {known})").format(
            file=path, key=repr(sorted(unknown)[0]), known=", ".join(schema)))
    texts: dict[str, str | tuple[str, ...]] = dict(defaults or {})
    for key, (many, allowed) in schema.items():
        if key not in raw:
            texts.setdefault(key, () if many else "")
            continue
        value = raw[key]
        if many:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(_("{file}: {key}: must be a list of text lines").format(file=path, key=key))
            for number, text in enumerate(value, 1):
                fields = _check_text(path, key, text, allowed)
                _check_width(path, key, number, text, fields, width, codepage)
            texts[key] = tuple(value)
        else:
            if not isinstance(value, str):
                raise ConfigError(_("{file}: {key}: must be one line of text").format(file=path, key=key))
            fields = _check_text(path, key, value, allowed)
            _check_width(path, key, None, value, fields, width, codepage)
            texts[key] = value
    return texts


def load_templates(folder: Path, width: int | None = None, codepage: str = DEFAULT_CODEPAGE) -> Templates:
    """Read and check every template at start-up (a broken one stops the till here).

    With ``width`` (the paper's, ``[printer] width``), a fixed line wider than
    the paper in ``codepage`` is a config error naming the file, key and line."""
    return Templates({name: _load_file(folder, name, width, codepage) for name in SCHEMA})


def _fill(lines: tuple[str, ...], values: Mapping[str, str]) -> list[str]:
    return [fill(line, values) for line in lines]




def _values(config: Config, number: str, when: datetime, currency: str) -> dict[str, str]:
    return {
        "outlet_name": config.outlet.name,
        "outlet_id": config.outlet.id,
        "till": config.outlet.till,
        "number": number,
        "date": i18n.date(when),
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


def _dated(r: Receipt, values: dict[str, str]) -> None:
    r.pair(f"{values['date']} {values['time']}", _("Till {till}").format(till=values["till"]))


def _new_balance(r: Receipt, templates: Templates, values: dict[str, str], balance: Money | None) -> None:
    if balance is not None:
        r.add(templates.line("voucher.toml", "new_balance", **values, new_balance=balance.shown()))


def _digital_voucher(r: Receipt, line: Line) -> None:
    """A third party's voucher bought for the customer: its code (also as a barcode),
    how to redeem it and until when, as the provider gave them (its own words)."""
    code = line.refs.get("voucher_code")
    if not code:
        return
    r.rule()
    r.add(line.name, "center", bold=True)
    r.add(_("Code: {code}").format(code=code), "center", bold=True)
    if len(code) <= 40 and code.isascii() and code.isprintable():
        r.barcode(code)
    for key in ("redeem_code", "redeem_account"):
        if line.refs.get(key) and line.refs[key] != code:
            r.add(line.refs[key], "center")
    if line.refs.get("sms_to"):
        r.add(_("Sent by SMS to {phone}").format(phone=line.refs["sms_to"]), "center")
    if line.refs.get("instructions"):
        r.add(line.refs["instructions"])
    if line.refs.get("expiration"):
        r.add(_("Valid until: {date}").format(date=line.refs["expiration"]))


def _valid_until(r: Receipt, templates: Templates, values: dict[str, str], when: str | None) -> None:
    """A voucher's last day (an RFC 3339 time from the provider), as a date in the outlet's format."""
    if not when:
        return
    try:
        moment = datetime.fromisoformat(when)
    except ValueError:
        return  # not a time: nothing printed rather than a provider's text on the receipt
    r.add(templates.line("voucher.toml", "valid_until", **values, valid_until=i18n.date(moment.date())))


def _columns(rows: list[tuple[str, ...]]) -> list[str]:
    """Right-aligned columns, each as wide as its widest entry, one space apart."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [" ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]


def sale_receipt(order: Order, number: str, config: Config, templates: Templates,
                 when: datetime, *, vat_rates: Iterable[Decimal] = ()) -> Receipt:
    """The receipt of a sale. ``vat_rates``: the outlet's VAT rates (its catalog's),
    which fix the letter of each rate (:func:`pos_app.domain.vat.vat_letters`)."""
    currency = order.currency
    values = _values(config, number, when, currency)
    r = Receipt(config.printer.width)
    _header(r, templates, values)
    r.pair(_("Receipt {number}").format(number=number), f"{values['date']} {values['time']}")
    r.rule()
    letters = vat_letters(vat_rates, (line.vat_rate for line in order.active_lines if line.in_vat))
    for line in order.active_lines:
        code = letters[line.vat_rate] if line.in_vat else " "
        if line.kind is LineKind.GIFT_VOUCHER:
            r.pair(_("Gift voucher"), f"{line.total.shown()}  ")
            _valid_until(r, templates, values, line.refs.get("valid_until"))
            continue
        if line.kind is LineKind.DIGITAL:
            r.pair(line.name, f"{line.total.shown()}  ")
            continue
        if line.kind is LineKind.TOP_UP:
            r.pair(templates.line("voucher.toml", "top_up", **values, code=mask_code(line.code or ""),
                                  amount=line.total.shown()), f"{line.total.shown()}  ")
            balance = line.refs.get("balance")
            if balance and balance.lstrip("-").isdigit():
                _new_balance(r, templates, values, Money(int(balance), currency))
            continue
        if line.quantity == 1:
            r.pair(line.name, f"{line.total.shown()} {code}")
        else:
            r.add(line.name)
            each = _("{quantity} x {price}").format(quantity=line.quantity, price=line.unit_price.shown())
            r.pair(f"  {each}", f"{line.total.shown()} {code}")
    r.rule()
    r.pair(_("TOTAL {currency}").format(currency=currency), order.total.shown() + "  ", bold=True)
    for tender in order.active_tenders:
        if tender.kind is TenderKind.CASH and tender.given is not None:
            r.pair(_("Cash given"), tender.given.shown() + "  ")
        elif tender.kind is TenderKind.VOUCHER and tender.code:
            amount = tender.amount.shown()
            r.pair(templates.line("voucher.toml", "payment", **values, code=mask_code(tender.code),
                                  amount=amount), amount + "  ")
            _new_balance(r, templates, values, tender.balance_after)
            _valid_until(r, templates, values, tender.refs.get("valid_until"))
        else:
            r.pair(tender.kind.label, tender.amount.shown() + "  ")
    if order.rounding:
        r.pair(_("Cash rounding"), order.rounding.shown() + "  ")
    if order.change:
        r.pair(_("Change"), order.change.shown() + "  ", bold=True)
    vat = order.vat_breakdown()
    if vat:
        r.rule()
        table = _columns([(_("net"), _("VAT"), _("gross")),
                          *((v.net.shown(), v.vat.shown(), v.gross.shown()) for v in vat)])
        r.pair(_("VAT"), table[0])
        for v, amounts in zip(vat, table[1:], strict=True):
            r.pair(f"{letters[v.rate]} {format_rate(v.rate)}", amounts)
    for line in order.gift_vouchers:
        if line.kind is LineKind.DIGITAL:
            _digital_voucher(r, line)
    for line in order.gift_vouchers:  # the sold voucher: code in full, to redeem it
        if line.kind is not LineKind.GIFT_VOUCHER:
            continue
        assert line.code is not None
        gift = {**values, "amount": line.total.shown(), "code": format_code(line.code)}
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
                 config: Config, templates: Templates, when: datetime,
                 balances: Mapping[int, Money] | None = None, credit: Money | None = None) -> Receipt:
    """The receipt of a voided sale: what was reversed and what was given back
    (``credit``: the refund given as store credit instead of cash and card).
    ``balances``: tender id -> the voucher's balance after its payment was cancelled
    (the provider's answer to the cancellation), shown under the voucher's line."""
    values = _values(config, number, when, order.currency)
    r = Receipt(config.printer.width)
    _header(r, templates, values)
    r.add(templates.line("void.toml", "title", **values), "center", bold=True)
    _dated(r, values)
    r.rule()
    for line in order.active_lines:
        if line.code:
            label = _("Gift voucher {code} deactivated").format(code=mask_code(line.code))
        elif line.quantity == 1:
            label = line.name
        else:
            label = _("{quantity} x {name}").format(quantity=line.quantity, name=line.name)
        r.pair(label, f"-{line.total.shown()}")
    r.rule()
    r.pair(_("TOTAL {currency}").format(currency=order.currency), f"-{order.total.shown()}", bold=True)
    for tender in order.active_tenders:
        if tender.kind is TenderKind.VOUCHER:
            r.pair(_("Voucher {code} credited").format(code=mask_code(tender.code or "")),
                   tender.amount.shown())
            _new_balance(r, templates, values, (balances or {}).get(tender.id))
    if credit:
        r.pair(_("Refunded as store credit"), credit.shown(), bold=True)
    else:
        if card_back:
            r.pair(_("Card refund"), card_back.shown())
        if cash_back:
            r.pair(_("Cash returned"), cash_back.shown(), bold=True)
    for text in _fill(templates.lines("void.toml", "footer"), values):
        r.add(text, "center")
    _footer(r, templates, values)
    return r


def cancel_slip(*, order: Order, given_back: Iterable[Tender], config: Config, templates: Templates,
                when: datetime, number: str = "") -> Receipt:
    """The customer's slip for a cancelled open order whose voucher payments were given
    back: per voucher its code (masked), the amount given back and its new balance
    (``balance_after`` of the cancelled payment: the provider's answer to the cancellation),
    then the total given back; ``number`` is the order's (the number it would have had)."""
    values = _values(config, number, when, order.currency)
    r = Receipt(config.printer.width)
    _header(r, templates, values)
    r.add(_("ORDER CANCELLED"), "center", bold=True)
    if number:
        r.add(_("Order {number}").format(number=number), "center")
    _dated(r, values)
    r.rule()
    given_back = list(given_back)
    for tender in given_back:
        r.pair(_("Voucher {code} given back").format(code=mask_code(tender.code or "")), tender.amount.shown())
        _new_balance(r, templates, values, tender.balance_after)
    r.rule()
    total = sum_money([t.amount for t in given_back], order.currency)
    r.pair(_("Given back to vouchers {currency}").format(currency=order.currency), total.shown(), bold=True)
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
    _dated(r, values)
    r.rule()
    slip = {**values, "provider": provider, "code": mask_code(code),
            "redeemable": _("yes") if redeemable else _("no"), "balance": balance.shown(),
            "total": total.shown() if total is not None else "", "message": message}
    for template in templates.lines("balance_slip.toml", "lines"):
        if ("{total}" in template and total is None) or ("{message}" in template and not message):
            continue  # a line about something the provider did not say
        r.add(fill(template, slip))
    for text in _fill(templates.lines("balance_slip.toml", "footer"), values):
        r.add(text, "center")
    _footer(r, templates, values)
    return r


# -- reports (issue 17) ----------------------------------------------------------
def provider_name(name: str) -> str:
    """A provider's name as the shop owner knows it ("E-GUMA"); an unknown one as journaled."""
    from pos_app.providers import registry

    try:
        return registry.descriptor(name).display_name
    except KeyError:
        return name or "?"


def _moment(text: str | None) -> str:
    """A journaled UTC time as the till's local date and time."""
    if not text:
        return "-"
    try:
        moment = datetime.fromisoformat(text).astimezone()
    except ValueError:
        return text
    return f"{i18n.date(moment.date())} {moment.strftime('%H:%M')}"


def _value_word(what: str) -> str:
    return {"sold": _("sold"), "topped_up": _("topped up"), "issued": _("issued")}.get(what, what)


def _tender_label(key: str) -> str:
    kind, _sep, provider = key.partition(":")
    if kind == "voucher":
        return _("Voucher {provider}").format(provider=provider_name(provider))
    try:
        return TenderKind(kind).label
    except ValueError:
        return kind


def report_receipt(figures: Mapping[str, object], config: Config, templates: Templates,
                   when: datetime) -> Receipt:
    """An X or Z report from its journaled figures (minor units): sales by VAT rate,
    stornos, payments, vouchers as a liability apart from revenue, third parties'
    digital vouchers, voids, cancels, no-sales and what is still open."""
    f: dict[str, Any] = dict(figures)
    currency = str(f["currency"])

    def m(minor: int) -> str:
        return Money(int(minor), currency).shown()

    values = _values(config, str(f["number"]), when, currency)
    r = Receipt(config.printer.width)
    _header(r, templates, values)
    kind = str(f["kind"])
    title = {"Z": "z_title", "S": "store_title", "SZ": "store_z_title"}.get(kind, "x_title")
    r.add(templates.line("report.toml", title, **values), "center", bold=True)
    if kind in ("S", "SZ"):  # every till of the outlet, wherever it was made
        r.pair(f"{values['date']} {values['time']}", _("All tills"))
    else:
        _dated(r, values)
    r.pair(_("From"), _moment(f.get("period_from")))
    r.pair(_("To"), _moment(f.get("period_to")))
    if kind == "SZ":  # the till Z reports it adds up
        r.rule()
        r.add(_("TILL Z REPORTS"), bold=True)
        numbers: dict[str, list[str]] = {}
        for till, number in f["tills"]:
            numbers.setdefault(str(till), []).append(str(number))
        for till, zs in numbers.items():
            r.pair(_("Till {till}").format(till=till), _("Z {numbers}").format(numbers=", ".join(zs)))
        for till, before, count, total in f.get("gaps", []):  # on the server, in no till Z: added here
            r.pair(_("Till {till}, before Z {number}").format(till=till, number=before),
                   ngettext("{count} sale in no Z", "{count} sales in no Z", count).format(count=count))
            r.pair(_("  added here"), m(total))
        for till, number, other in f.get("other_currency", []):
            r.pair(_("Till {till}").format(till=till), _("Z {number} in {currency}: not added").format(
                number=number, currency=other))
    sales, stornos = f["sales"], f["stornos"]
    r.rule()
    r.add(_("SALES BY VAT RATE ({currency})").format(currency=currency), bold=True)
    if f["net_vat"]:
        table = _columns([(_("net"), _("VAT"), _("gross")),
                          *((m(n), m(v), m(g)) for n, v, g in f["net_vat"].values())])
        r.pair(_("VAT"), table[0])
        for rate, amounts in zip(f["net_vat"], table[1:], strict=True):
            r.pair(format_rate(Decimal(rate)), amounts)
    net_gross = sum(g for _n, _v, g in f["net_vat"].values())
    net_vat = sum(v for _n, v, _g in f["net_vat"].values())
    r.pair(_("Sales closed ({count})").format(count=sales["orders"]), m(sales["gross"]))
    r.pair(_("Stornos ({count})").format(count=stornos["orders"]), m(-stornos["gross"]))
    r.pair(_("Sales (gross)"), m(net_gross), bold=True)
    r.pair(_("of which VAT"), m(net_vat))
    r.rule()
    r.add(_("PAYMENTS"), bold=True)
    keys = sorted(set(sales["tenders"]) | set(stornos["tenders"]))
    total = 0
    for key in sorted(sales["tenders"]):  # taken
        count, amount = sales["tenders"][key]
        total += amount
        r.pair(_("{label} ({count})").format(label=_tender_label(key), count=count), m(amount))
    for key in sorted(stornos["tenders"]):  # given back by a storno
        count, amount = stornos["tenders"][key]
        total -= amount
        r.pair(_("Storno {label} ({count})").format(label=_tender_label(key), count=count), m(-amount))
    r.pair(_("Payments total"), m(total), bold=True)
    if sales["rounding"] or stornos["rounding"]:
        r.pair(_("Cash rounding"), m(sales["rounding"] - stornos["rounding"]))
    if sales["paid_back"] or stornos["paid_back"]:
        r.pair(_("Overpayment handed back"), m(-(sales["paid_back"] - stornos["paid_back"])))
    r.rule()
    r.add(_("VOUCHERS: LIABILITY, NOT REVENUE"), bold=True)
    providers = sorted(set(sales["liability"]) | set(stornos["liability"]))
    if not providers:
        r.add(_("  none"))
    for provider in providers:
        for what, (count, amount) in sorted(sales["liability"].get(provider, {}).items()):
            r.pair(_("{provider} {what} ({count})").format(provider=provider_name(provider),
                                                         what=_value_word(what), count=count), m(amount))
        for what, (count, amount) in sorted(stornos["liability"].get(provider, {}).items()):
            r.pair(_("{provider} taken back ({count})").format(provider=provider_name(provider), count=count),
                   m(-amount))
    r.add(_("VOUCHER REDEMPTIONS"), bold=True)
    redeemed = [k for k in keys if k.startswith("voucher:")]
    if not redeemed:
        r.add(_("  none"))
    for key in redeemed:
        name = provider_name(key.partition(":")[2])
        if key in sales["tenders"]:
            count, amount = sales["tenders"][key]
            r.pair(_("{provider} ({count})").format(provider=name, count=count), m(amount))
        if key in stornos["tenders"]:
            count, amount = stornos["tenders"][key]
            r.pair(_("{provider} taken back ({count})").format(provider=name, count=count), m(-amount))
    digital = sorted(set(sales["digital"]) | set(stornos["digital"]))
    if digital:
        r.add(_("DIGITAL VOUCHERS OF THIRD PARTIES"), bold=True)
        for provider in digital:
            name = provider_name(provider)
            if provider in sales["digital"]:
                count, amount = sales["digital"][provider]
                r.pair(_("{provider} ({count})").format(provider=name, count=count), m(amount))
            if provider in stornos["digital"]:
                count, amount = stornos["digital"][provider]
                r.pair(_("{provider} taken back ({count})").format(provider=name, count=count), m(-amount))
    r.rule()
    voided = sales["lines_voided"]
    r.pair(_("Lines voided ({count})").format(count=voided[0]), m(voided[1]))
    payments_voided = sales.get("payments_voided", [0, 0])
    r.pair(_("Payments voided ({count})").format(count=payments_voided[0]), m(payments_voided[1]))
    r.pair(_("Sales voided, in all ({count})").format(count=stornos["orders"]), m(stornos["total"]))
    r.pair(_("Orders cancelled ({count})").format(count=f["cancels"][0]), m(f["cancels"][1]))
    r.pair(_("No-sales (drawer opened)"), str(f["no_sales"]))
    r.pair(_("Receipts not printed"), str(f["unprinted"]))
    r.pair(_("Operations undecided"), str(f["undecided"]))
    if f["kind"] == "X" and f.get("open_orders"):
        r.pair(_("Orders open"), str(f["open_orders"]))
    if f.get("not_closed"):  # a store Z: sales after a till's last Z wait for its next Z
        r.rule()
        r.add(_("NOT IN THIS STORE Z (no Z report yet)"), bold=True)
        for till, count in f["not_closed"].items():
            r.pair(_("Till {till}").format(till=till), ngettext("{count} sale", "{count} sales", count).format(
                count=count))
    footer = _fill(templates.lines("report.toml", "footer"), values)
    if footer:
        r.rule()
        for line in footer:
            r.add(line, "center")
    _footer(r, templates, values)
    return r


def liability_receipt(rows: Mapping[str, Any], start: str, end: str, config: Config, templates: Templates,
                      when: datetime) -> Receipt:
    """The voucher liability per provider from this outlet's own operations, with the
    note that the provider's own figure is authoritative."""
    currency = str(rows["currency"])

    def m(minor: int) -> str:
        return Money(int(minor), currency).shown()

    values = _values(config, "", when, currency)
    r = Receipt(config.printer.width)
    r.add(templates.line("report.toml", "liability_title", **values), "center", bold=True)
    r.pair(config.outlet.name, _("Till {till}").format(till=config.outlet.till))
    r.pair(_("From"), start)
    r.pair(_("To"), end)
    r.rule()
    if not rows["providers"]:
        r.add(_("No vouchers sold or redeemed in this period."))
    for provider, row in rows["providers"].items():
        r.add(provider_name(provider), bold=True)
        r.pair(_("  sold or issued ({count})").format(count=row["count"]), m(row["sold"]))
        r.pair(_("  redeemed here"), m(-row["redeemed"]))
        r.pair(_("  net outstanding {currency}").format(currency=currency), m(row["outstanding"]), bold=True)
    if rows["digital"]:
        r.rule()
        r.add(_("Digital vouchers of third parties (their goods, not vouchers of this outlet):"))
        for provider, amount in rows["digital"].items():
            r.pair(f"  {provider_name(provider)}", m(amount))
    r.rule()
    r.add(_("Only this outlet's own sales and redemptions are counted here. The provider's own figure is "
            "authoritative."))
    for line in _fill(templates.lines("report.toml", "liability_note"), values):
        r.add(line)
    return r
