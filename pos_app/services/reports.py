"""Day close: the X report (any time, changes nothing but its own record), the Z report
(closes the day), the sales CSV for the accountant and the voucher liability.

The journal sums the rows (:mod:`pos_app.journal.reporting`); this module turns
them into figures: a plain dict of minor units and texts, kept in the journal
with the report, so a reprint shows the same numbers whatever the templates
say later (:func:`pos_app.receipts.report_receipt` renders them).

Gift vouchers sold, activated, issued and topped up are a liability, not
revenue: they carry no VAT and stand apart from the sales by VAT rate. Digital
vouchers of third parties (CSQ) are goods of others, also apart. A storno (a
closed sale voided) counts on the day it is made, as a negative.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from pos_app.config import Config
from pos_app.domain.codes import mask_code
from pos_app.domain.money import Money
from pos_app.domain.order import LineKind
from pos_app.domain.vat import vat_of
from pos_app.i18n import _, ngettext
from pos_app.journal import DayCloseRefused, JournalStore, ReportRecord, StoreZRecord
from pos_app.journal.reporting import Period, empty_rows
from pos_app.providers import OpKind, registry
from pos_app.receipts import Templates, report_receipt
from pos_app.services.results import CheckoutError

Figures = dict[str, Any]

# What a value line is in the liability block, by line kind.
GIFT, TOP_UP, ISSUED = "sold", "topped_up", "issued"


def issuers() -> frozenset[str]:
    """The providers whose vouchers are redeemed at a till (they take payments): a
    digital voucher such a provider makes (Celbux by SMS) is a voucher issued, a
    liability; one of any other (CSQ) is a third party's goods."""
    return frozenset(d.name for d in registry.descriptors() if OpKind.AUTHORIZE in d.words)


def _vat_rows(rows: Iterable[list[Any]]) -> dict[str, list[int]]:
    """rate -> [net, vat, gross, orders]."""
    return {str(rate): [gross - vat, vat, gross, count] for rate, gross, vat, count in rows}


def _block(raw: dict[str, Any], issuer_names: frozenset[str]) -> dict[str, Any]:
    vat = _vat_rows(raw["vat"])
    liability: dict[str, dict[str, list[int]]] = {}
    digital: dict[str, list[int]] = {}
    voided = [0, 0]
    for kind, provider, is_voided, count, amount in raw["lines"]:
        if is_voided:
            voided[0] += count
            voided[1] += amount
            continue
        if kind == "digital" and provider not in issuer_names:
            slot = digital.setdefault(provider, [0, 0])
        else:
            what = {"gift_voucher": GIFT, "top_up": TOP_UP}.get(kind, ISSUED)
            slot = liability.setdefault(provider, {}).setdefault(what, [0, 0])
        slot[0] += count
        slot[1] += amount
    tenders = {f"{kind}:{provider}": [count, amount] for kind, provider, count, amount, _r in raw["tenders"]}
    rounding = sum(r for *_x, r in raw["tenders"])
    goods = sum(v[2] for v in vat.values())
    value = sum(a for p in liability.values() for _c, a in p.values()) + sum(a for _c, a in digital.values())
    paid = sum(a for _c, a in tenders.values())
    return {
        "orders": raw["orders"],
        "vat": vat,
        "gross": goods,
        "liability": liability,
        "digital": digital,
        "tenders": tenders,
        "rounding": rounding,
        "paid_back": paid - goods - value,  # a gift voucher removed after payment: handed back
        "total": goods + value,
        "lines_voided": voided,
        "payments_voided": list(raw["tenders_voided"]),
    }


def build_figures(raw: dict[str, Any], *, currency: str, kind: str, number: int, period_from: str | None,
                  period_to: str, issuer_names: frozenset[str] | None = None) -> Figures:
    """The figures of one report from the journal's rows (all amounts in minor units)."""
    names = issuers() if issuer_names is None else issuer_names
    sales, stornos = _block(raw["sales"], names), _block(raw["stornos"], names)
    net_vat: dict[str, list[int]] = {}
    for rate in sorted(set(sales["vat"]) | set(stornos["vat"]), key=Decimal):
        s, v = sales["vat"].get(rate, [0, 0, 0, 0]), stornos["vat"].get(rate, [0, 0, 0, 0])
        net_vat[rate] = [s[0] - v[0], s[1] - v[1], s[2] - v[2]]
    return {
        "kind": kind,
        "number": number,
        "currency": currency,
        "period_from": period_from,
        "period_to": period_to,
        "sales": sales,
        "stornos": stornos,
        "net_vat": net_vat,
        "cancels": raw["cancels"],
        "no_sales": raw["no_sales"],
        "unprinted": raw["unprinted"],
        "undecided": raw["undecided"],
        "open_orders": raw["open_orders"],
    }


def add_figures(total: Any, more: Any) -> Any:
    """Two reports' counts and amounts added: numbers, lists of them (element by
    element) and dicts of them (a key of either)."""
    if isinstance(total, dict) and isinstance(more, dict):
        summed = dict(total)
        for key, value in more.items():
            summed[key] = add_figures(summed[key], value) if key in summed else value
        return summed
    if isinstance(total, list) and isinstance(more, list) and len(total) == len(more):
        return [add_figures(a, b) for a, b in zip(total, more, strict=True)]
    if type(total) is int and type(more) is int:
        return total + more
    raise ValueError(f"figures that do not add up: {total!r} and {more!r}")


_HEAD = ("kind", "number", "currency", "period_from", "period_to")


def _body(figures: Figures) -> Figures:
    """A report's counts and amounts, without what names it (kind, number, currency, period)."""
    return {k: v for k, v in figures.items() if k not in _HEAD}


def store_z_figures(number: int, currency: str, till_zs: list[Any], not_closed: dict[str, int],
                    gaps: list[dict[str, Any]] | None = None,
                    issuer_names: frozenset[str] | None = None) -> Figures:
    """The store Z: the figures of the till Z reports ``till_zs`` (TillZ, as the tills
    made them) added up, plus the rows on the server no till Z holds (``gaps``: a till
    set up again; summed there), the tills and Z numbers it holds, the tills that sold
    after their last Z (``not_closed``: in a later store Z). A till Z in another
    currency is held but not added (``other_currency``: said on the report)."""
    summed: Figures | None = None
    other: list[list[Any]] = []
    added: set[str] = set()

    def add(body: Figures, what: str) -> None:
        nonlocal summed
        try:
            summed = body if summed is None else add_figures(summed, body)
        except ValueError:
            raise ReportInputError(_("{what} cannot be added to the others (its figures are laid out otherwise: "
                                     "a till on another version of the software?); update that till, then make "
                                     "the store Z again").format(what=what)) from None

    for z in till_zs:
        figures = json.loads(z.figures)
        what = _("Z report {number} of till {till}").format(number=z.number, till=z.till)
        if figures.get("currency") != currency:
            other.append([z.till, z.number, str(figures.get("currency"))])
            continue
        added.add(z.till)
        add(_body(figures), what)
    gap_rows = []
    for gap in gaps or []:
        if gap["till"] not in added:
            continue
        figures = build_figures(gap["raw"], currency=currency, kind="G", number=0, period_from=None, period_to="",
                                issuer_names=issuer_names)
        add(_body(figures),
            _("the sales of till {till} before its Z report {number}").format(till=gap["till"], number=gap["before"]))
        gap_rows.append([gap["till"], gap["before"], figures["sales"]["orders"], figures["sales"]["total"]])
    if summed is None:  # only Z reports in another currency: nothing added, all named
        summed = _body(build_figures(empty_rows(), currency=currency, kind="SZ", number=number, period_from=None,
                                     period_to="", issuer_names=issuer_names))
    starts = [z.period_from for z in till_zs if z.period_from]
    return {**summed, "kind": "SZ", "number": number, "currency": currency,
            "period_from": min(starts) if starts else None, "period_to": max(z.period_to for z in till_zs),
            "tills": [[z.till, z.number] for z in till_zs], "not_closed": dict(not_closed),
            "gaps": gap_rows, "other_currency": other}


def tender_parts(key: str) -> tuple[str, str]:
    kind, _sep, provider = key.partition(":")
    return kind, provider


def net_tenders(figures: Figures) -> dict[str, list[int]]:
    """Payments taken minus payments given back by stornos, by kind and provider."""
    result: dict[str, list[int]] = {}
    for key, (count, amount) in figures["sales"]["tenders"].items():
        result[key] = [count, amount]
    for key, (count, amount) in figures["stornos"]["tenders"].items():
        slot = result.setdefault(key, [0, 0])
        slot[1] -= amount
    return dict(sorted(result.items()))


def load(record: ReportRecord) -> Figures:
    return json.loads(record.figures)


# -- dates ---------------------------------------------------------------------
class ReportInputError(ValueError):
    """A date or number the shop owner typed that cannot be used (said in the message)."""


def parse_day(text: str) -> date:
    """``YYYY-MM-DD`` only: Python also reads ``20261201`` and ISO weeks (``2026-W49-1``),
    which the README and the message do not promise."""
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text.strip()):
            raise ValueError(text)
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ReportInputError(_("{text!r} is not a date: write it as YYYY-MM-DD (2026-12-31)").format(
            text=text)) from None


def day_period(start: date, end: date) -> Period:
    """The days ``start`` to ``end`` (both included, the till's local time) as UTC times."""
    if end < start:
        raise ReportInputError(_("the period ends ({end}) before it starts ({start})").format(
            start=start.isoformat(), end=end.isoformat()))

    def utc(day: date) -> str:
        local = datetime.combine(day, time()).astimezone()
        return local.astimezone(UTC).isoformat(timespec="milliseconds")

    try:
        return Period(start=utc(start), end=utc(end + timedelta(days=1)))
    except (ValueError, OverflowError):  # 0001-01-01 or 9999-12-31: no UTC time or no next day
        raise ReportInputError(_("the period {start} to {end} is outside the dates this till can use").format(
            start=start.isoformat(), end=end.isoformat())) from None


# -- CSV -----------------------------------------------------------------------
CSV_COLUMNS = ["z_number", "order", "time", "type", "kind", "provider", "ean", "name", "quantity",
               "unit_price", "amount", "vat_rate", "vat", "net", "currency"]


def _cell(text: str) -> str:
    """A text from the catalog or a provider as a CSV cell a spreadsheet shows as text:
    one that starts like a formula (=, +, -, @, a tab or a carriage return) gets a
    leading apostrophe, so importing the file never runs it."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _ean(kind: str, ean: str) -> str:
    """The barcode as the CSV shows it: a gift voucher's or a topped-up voucher's is its
    code, which spends its value, so only its last characters (``…KJR3``, as on the line's
    name and in the log); the file goes to the accountant, the journal keeps the code."""
    return mask_code(ean) if kind in (LineKind.GIFT_VOUCHER, LineKind.TOP_UP) and ean else ean


_PHONE_OR_ACCOUNT = re.compile(r"\+?\d[\d \-]{5,}\d")  # 7 digits or more, with spaces or dashes
_EMAIL = re.compile(r"[^\s@]+@([^\s@]+)")


def _name(kind: str, name: str) -> str:
    """A line's name as the CSV shows it: a digital voucher's name carries what the
    customer gave (Celbux: the phone, "Voucher by SMS +27 82 123 4567"; CSQ: an
    account or e-mail address), personal data the accountant does not need: only its
    last 4 digits (``…4567``), an e-mail only its domain (``…@example.com``)."""
    if kind != LineKind.DIGITAL:
        return name
    name = _EMAIL.sub(lambda m: "…@" + m.group(1), name)
    return _PHONE_OR_ACCOUNT.sub(lambda m: "…" + re.sub(r"\D", "", m.group())[-4:], name)


def _dec(minor: int, currency: str) -> str:
    """A decimal string in the currency's minor unit, "12.50" (never a float, no grouping)."""
    return str(Money(minor, currency).decimal)


def csv_records(rows: dict[str, Any], number_of: Callable[[int | None], str],
                z_number: str = "") -> list[dict[str, str]]:
    """One record per receipt line (products, vouchers sold, digital vouchers) and per
    payment, of the sales closed (type ``sale``/``payment``) and voided (``storno``/
    ``storno_payment``, negative amounts). The VAT of a line is its share of its
    order's VAT at that rate, so the lines of an order add up to its receipt exactly.
    Texts that would start a spreadsheet formula are quoted (:func:`_cell`)."""
    records: list[dict[str, str]] = []
    for section, sign, line_type, pay_type in (("sales", 1, "sale", "payment"),
                                               ("stornos", -1, "storno", "storno_payment")):
        data = rows[section]
        running: dict[tuple[Any, str], int] = {}  # (order, rate) -> gross so far
        for number, at, currency, _id, kind, provider, ean, name, quantity, unit, rate in data["lines"]:
            gross = quantity * unit
            vat = 0
            if kind == "product":
                before = running.get((number, rate), 0)
                running[(number, rate)] = before + gross
                vat = (vat_of(Money(before + gross, currency), Decimal(rate)).minor
                       - vat_of(Money(before, currency), Decimal(rate)).minor)
            records.append({
                "z_number": z_number, "order": number_of(number), "time": at, "type": line_type,
                "kind": kind, "provider": _cell(provider), "ean": _cell(_ean(kind, ean)), "name": _cell(_name(kind, name)),
                "quantity": str(sign * quantity), "unit_price": _dec(unit, currency),
                "amount": _dec(sign * gross, currency), "vat_rate": rate if kind == "product" else "0",
                "vat": _dec(sign * vat, currency), "net": _dec(sign * (gross - vat), currency),
                "currency": currency,
            })
        for number, at, currency, _id, kind, provider, amount, _rounding in data["tenders"]:
            records.append({
                "z_number": z_number, "order": number_of(number), "time": at, "type": pay_type,
                "kind": kind, "provider": provider, "ean": "", "name": "", "quantity": "",
                "unit_price": "", "amount": _dec(sign * amount, currency), "vat_rate": "", "vat": "",
                "net": "", "currency": currency,
            })
    return records


def csv_text(records: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue()


# -- the desk the screens and the command line use ------------------------------
@dataclass(frozen=True, slots=True)
class Made:
    """A report made and journaled: its record and its figures."""

    record: ReportRecord
    figures: Figures


class ReportDesk:
    """X and Z reports, CSV and liability of one till, over its journal."""

    def __init__(self, config: Config, journal: JournalStore, templates: Templates,
                 paper: Callable[[Any], bytes], clock: Callable[[], datetime] = datetime.now,
                 issuer_names: frozenset[str] | None = None) -> None:
        self.config = config
        self.journal = journal
        self.templates = templates
        self.paper = paper
        self.clock = clock
        self._issuers = issuer_names

    @property
    def issuer_names(self) -> frozenset[str]:
        """Read from the registry at the first report, not at the till's start (which
        would import every provider package)."""
        if self._issuers is None:
            self._issuers = issuers()
        return self._issuers

    @property
    def currency(self) -> str:
        return self.config.outlet.currency

    def render(self, figures: Figures, when: datetime | None = None) -> tuple[str, bytes]:
        receipt = report_receipt(figures, self.config, self.templates, self.clock() if when is None else when)
        return receipt.text(), self.paper(receipt)

    def _make(self, kind: str) -> Made:
        made: dict[str, Figures] = {}

        def build(number: int, period: Period, period_from: str | None, period_to: str,
                  raw: dict[str, Any]) -> tuple[str, str, bytes]:
            figures = build_figures(raw, currency=self.currency, kind=kind, number=number,
                                    period_from=period_from, period_to=period_to, issuer_names=self.issuer_names)
            made["figures"] = figures
            text, data = self.render(figures)
            return json.dumps(figures, sort_keys=True), text, data

        record = self.journal.save_report(kind, build)
        return Made(record, made["figures"])

    def x_report(self) -> Made:
        """The X report: the figures since the last Z, journaled, nothing else changed."""
        return self._make("X")

    def refusal(self) -> str | None:
        """Why a Z cannot be made now, or None."""
        state = self.journal.open_state()
        return refusal_text(state["undecided"], state["open_orders"])

    def z_report(self) -> Made:
        """Close the day: the Z report, numbered, journaled. CheckoutError (with the
        reason) while an operation is undecided or an order is open."""
        try:
            return self._make("Z")
        except DayCloseRefused as exc:
            raise CheckoutError(refusal_text(exc.undecided, exc.open_orders) or str(exc)) from None

    def reprint_text(self, record: ReportRecord) -> tuple[str, bytes]:
        """A journaled report rendered again from its own figures (same numbers), dated
        when it was made (the till's local time), not when it is shown again."""
        return self.render(load(record), _made_at(record))

    def z_csv(self, number: int) -> str:
        record = self.journal.report("Z", number)
        if record is None:
            raise ReportInputError(_("there is no Z report number {number} at this till").format(number=number))
        rows = self.journal.csv_data(Period(after=record.from_event, upto=record.to_event))
        return csv_text(csv_records(rows, self._number, str(number)))

    def sales_csv(self, start: date, end: date) -> str:
        rows = self.journal.csv_data(day_period(start, end))
        return csv_text(csv_records(rows, self._number))

    def _number(self, number: int | None) -> str:
        return self.journal.format_number(number) if number is not None else ""

    def store_report(self, start: date, end: date) -> Figures:
        """The store report: the figures of every till of the outlet in the days
        ``start``..``end`` (on a journal server, all its tills; on a till's own journal,
        that till). It changes nothing: each till closes its own day with its Z."""
        raw = self.journal.store_report_data(day_period(start, end))
        return build_figures(raw, currency=self.currency, kind="S", number=0, period_from=day_period(
            start, end).start, period_to=day_period(start, end).end, issuer_names=self.issuer_names)

    def store_day(self) -> dict[str, Any]:
        """What a store Z would close now (on the journal server): see PgJournal.store_day."""
        return self.journal.store_day()  # type: ignore[attr-defined,no-any-return]

    def store_z_report(self, expect: tuple[tuple[str, int], ...] | None = None) -> StoreZRecord:
        """Close the store's day: the store Z over the till Z reports no store Z holds
        yet (``expect``: exactly these (till, Z number), else StoreDayChanged).
        NothingToClose (the last store Z's number) when there is none."""

        def build(number: int, day: dict[str, Any]) -> str:
            return json.dumps(store_z_figures(number, self.currency, day["open"], day["not_closed"], day["gaps"],
                                              self.issuer_names), sort_keys=True)

        return self.journal.close_store_day(build, expect)  # type: ignore[attr-defined,no-any-return]

    def store_z_text(self, record: StoreZRecord) -> str:
        """A store Z report rendered from its own figures, dated when it was made."""
        return self.render(json.loads(record.figures), _made_at(record))[0]

    def liability(self, start: date, end: date, *, store: bool = False) -> dict[str, Any]:
        """Per provider, from this outlet's own operations in the days ``start``..``end``:
        vouchers sold or issued (less those taken back by a storno), redeemed here (less
        those given back), and the net outstanding (sold - redeemed). ``store``: of every
        till of the outlet (on a journal server, all its tills), else of this till."""
        period = day_period(start, end)
        raw = self.journal.store_report_data(period) if store else self.journal.report_data(period)
        figures = build_figures(raw, currency=self.currency, kind="L", number=0, period_from=start.isoformat(),
                                period_to=end.isoformat(), issuer_names=self.issuer_names)
        return liability_rows(figures)


def _made_at(record: ReportRecord | StoreZRecord) -> datetime | None:
    """When a report was made, as the till's local time (None: unreadable, then now)."""
    try:
        return datetime.fromisoformat(record.created_at).astimezone()
    except (TypeError, ValueError):
        return None


def liability_rows(figures: Figures) -> dict[str, Any]:
    """provider -> {sold, redeemed, outstanding} (minor units), and the third parties'
    digital vouchers apart."""
    providers: dict[str, dict[str, int]] = {}
    for sign, block in ((1, figures["sales"]), (-1, figures["stornos"])):
        for provider, kinds in block["liability"].items():
            row = providers.setdefault(provider, {"sold": 0, "redeemed": 0, "count": 0})
            row["sold"] += sign * sum(a for _c, a in kinds.values())
            row["count"] += sign * sum(c for c, _a in kinds.values())
        for key, (_count, amount) in block["tenders"].items():
            kind, provider = tender_parts(key)
            if kind == "voucher":
                row = providers.setdefault(provider, {"sold": 0, "redeemed": 0, "count": 0})
                row["redeemed"] += sign * amount
    for row in providers.values():
        row["outstanding"] = row["sold"] - row["redeemed"]
    digital: dict[str, int] = {}
    for sign, block in ((1, figures["sales"]), (-1, figures["stornos"])):
        for provider, (_c, amount) in block["digital"].items():
            digital[provider] = digital.get(provider, 0) + sign * amount
    return {"currency": figures["currency"], "providers": dict(sorted(providers.items())),
            "digital": dict(sorted(digital.items()))}


def refusal_text(undecided: int, open_orders: int) -> str | None:
    if undecided:
        return ngettext("The day cannot be closed: {count} voucher operation is still undecided. Settle it "
                        "first (F12, r), then close the day.",
                        "The day cannot be closed: {count} voucher operations are still undecided. Settle "
                        "them first (F12, r), then close the day.", undecided).format(count=undecided)
    if open_orders:
        return _("The day cannot be closed: an order is open. Finish or cancel it first, then close the day.")
    return None
