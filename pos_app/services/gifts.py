"""Value lines: selling gift vouchers (E-GUMA depot vouchers: check, create at
close, undo on cancel or storno).

A depot voucher is a printed, inactive voucher. Selling one: its check (can
it be sold, for how much, or a free amount) when it is scanned, an order line
with VAT 0, and its creation (activation) when the order closes, before the
receipt. Every create and undo goes through the journaled runner; a lost
answer is settled by the provider's state.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal

from pos_app.domain.codes import mask_code, normalize_voucher_code
from pos_app.domain.money import Money, MoneyError
from pos_app.domain.order import Line, LineKind, Order
from pos_app.i18n import _
from pos_app.providers import (
    AuthenticationError,
    Capability,
    NotReady,
    OpContext,
    OpKind,
    ProviderError,
    RefusedError,
    ValueCheck,
    ValueKind,
    ValueResult,
)
from pos_app.journal import OpState
from pos_app.services import journaled
from pos_app.services.journaled import Call, Decision, NotSent
from pos_app.services.providers import ProviderSlot
from pos_app.services.results import CheckoutError, Notice, Outcome, Undecided
from pos_app.services.session import Session
from pos_app.services.wording import describe, refusal_reason, waiting


@dataclass(frozen=True, slots=True)
class GiftCheck:
    """The check of a scanned gift voucher (E-GUMA: Activate status)."""

    provider: str
    display_name: str
    status: ValueCheck

    @property
    def code(self) -> str:
        return self.status.code

    @property
    def masked(self) -> str:
        return mask_code(self.status.code)


INFO_TRIES = 4  # asks for a purchase's additional data while the provider prepares it
INFO_WAIT_S = 0.5  # then 1.0, 1.5: five seconds in all at most


class Refused(CheckoutError):
    """The provider refused to sell a digital voucher: its line leaves the order."""


def value_kind(line: Line) -> ValueKind:
    """What a value line creates at the provider."""
    if line.kind is LineKind.DIGITAL:
        return ValueKind.DIGITAL
    return ValueKind.TOP_UP if line.kind is LineKind.TOP_UP else ValueKind.GIFT_VOUCHER


def value_word(slot: ProviderSlot | None, line: Line) -> str:
    """The cashier's noun for creating ``line`` ("activation", "top-up")."""
    if line.kind is LineKind.TOP_UP:
        return _("top-up")
    return slot.word(OpKind.CREATE) if slot else _("activation")


@dataclass(frozen=True, slots=True)
class TopUpCheck:
    """A voucher the customer has, checked for a top-up: can it take credit now."""

    provider: str
    display_name: str
    status: ValueCheck

    @property
    def code(self) -> str:
        return self.status.code

    @property
    def masked(self) -> str:
        return mask_code(self.status.code)


class GiftDesk:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.removed: list[str] = []  # digital vouchers the last create_all took off the order, and why

    @property
    def providers(self) -> dict[str, ProviderSlot]:
        return self.session.providers

    def _seller(self, raw: str) -> ProviderSlot:
        for slot in self.providers.values():
            if slot.client is not None and slot.client.supports(Capability.CREATE) and slot.owns(raw):
                return slot
        problems = [s.problem for s in self.providers.values() if s.problem]
        if problems:
            raise CheckoutError(problems[0])
        shown = normalize_voucher_code(raw)[:20] or _("(empty)")
        raise CheckoutError(_("{code!r} is not a gift voucher code — scan the code printed on the voucher").format(
            code=shown))

    # -- selling ------------------------------------------------------------------
    async def check(self, raw: str) -> GiftCheck:
        """Can this printed voucher be sold, and for how much?"""
        session = self.session
        if not normalize_voucher_code(raw):
            raise CheckoutError(_("Scan or type the gift voucher's code"))
        slot = self._seller(raw)
        assert slot.client is not None
        code = slot.normalize(raw)
        if any(line.code == code for line in session.order.gift_vouchers):
            raise CheckoutError(_("Gift voucher {code} is already on this order").format(code=mask_code(code)))
        if session.journal.ops(code=code, open_only=True):
            raise CheckoutError(_("Gift voucher {code}: an earlier operation on it is not decided yet — it cannot "
                                  "be sold until it is (F12 shows it)").format(code=mask_code(code)))
        try:
            status = await slot.client.check_value(code)
        except ProviderError as exc:
            slot.mark(exc)
            raise CheckoutError(describe(exc, slot.display_name, key_command=slot.key_command)) from None
        slot.mark(None)
        return GiftCheck(slot.name, slot.display_name, status)

    @property
    def max_amount(self) -> Money:
        return self.session.config.money(self.session.config.checkout.max_gift_voucher)

    def amount_for(self, check: GiftCheck, typed: str | None) -> Money:
        """The provider's amount, or the cashier's for a free amount (validated)."""
        if not check.status.free_amount:
            if check.status.amount is None or not check.status.amount.is_positive:
                raise CheckoutError(_("{provider} gave no amount for this voucher").format(
                    provider=check.display_name))
            return check.status.amount
        return self._typed_amount(typed, _("Amount: at most {limit} for a gift voucher"))

    def add(self, check: GiftCheck, typed: str | None = None) -> Outcome:
        """Put the voucher on the order (VAT 0). Nothing is sent until the order closes."""
        session = self.session
        if not check.status.can_create:
            raise CheckoutError(refusal_reason(
                check.display_name, _("{provider} cannot sell this gift voucher now.").format(
                    provider=check.display_name), check.status.message))
        amount = self.amount_for(check, typed)
        session.guard(lambda: session.order.check_add_gift_voucher(check.code))
        line = Line(0, check.code, _("Gift voucher {code}").format(code=check.masked), 1, amount, Decimal(0),
                    kind=LineKind.GIFT_VOUCHER, code=check.code, provider=check.provider,
                    free_amount=check.status.free_amount)
        session.guard(lambda: session.order.check_add_line(line))
        session.journal.add_line(session.order_id, line)
        session.reload()
        session.last_closed = None
        return Outcome(Notice(_("Added gift voucher {code} {amount} — activated when the order is paid").format(
            code=check.masked, amount=amount.shown())))

    # -- topping up a voucher ------------------------------------------------------------
    @property
    def can_top_up(self) -> bool:
        """Does any provider of this till top up vouchers (JTL recharge)?"""
        return any(slot.client is not None and slot.client.supports(Capability.TOP_UP)
                   for slot in self.providers.values())

    def _topper(self, raw: str) -> ProviderSlot:
        matches = [slot for slot in self.providers.values()
                   if slot.client is not None and slot.client.supports(Capability.TOP_UP) and slot.owns(raw)]
        if matches:
            return matches[0]
        if any(slot.owns(raw) for slot in self.providers.values()):
            owner = next(slot for slot in self.providers.values() if slot.owns(raw))
            raise CheckoutError(_("{provider} vouchers cannot be topped up at the till").format(
                provider=owner.display_name))
        problems = [s.problem for s in self.providers.values() if s.problem]
        if problems:
            raise CheckoutError(problems[0])
        shown = normalize_voucher_code(raw)[:20] or _("(empty)")
        raise CheckoutError(_("{code!r} is not a voucher code that can be topped up — scan the voucher").format(
            code=shown))

    async def check_top_up(self, raw: str) -> TopUpCheck:
        """Can this voucher take credit now?"""
        session = self.session
        if not normalize_voucher_code(raw):
            raise CheckoutError(_("Scan or type the voucher's code"))
        slot = self._topper(raw)
        assert slot.client is not None
        code = slot.normalize(raw)
        if session.journal.ops(code=code, open_only=True):
            raise CheckoutError(_("Voucher {code}: an earlier operation on it is not decided yet — it cannot be "
                                  "topped up until it is (F12 shows it)").format(code=mask_code(code)))
        try:
            status = await slot.client.check_value(code, ValueKind.TOP_UP)
        except ProviderError as exc:
            slot.mark(exc)
            raise CheckoutError(describe(exc, slot.display_name, key_command=slot.key_command)) from None
        slot.mark(None)
        return TopUpCheck(slot.name, slot.display_name, status)

    def add_top_up(self, check: TopUpCheck, typed: str | None) -> Outcome:
        """Put a top-up of the voucher on the order (VAT 0); the credit is added at close."""
        session = self.session
        if not check.status.can_create:
            raise CheckoutError(refusal_reason(
                check.display_name, _("{provider} cannot top up this voucher now.").format(
                    provider=check.display_name), check.status.message))
        amount = self._typed_amount(typed, _("Amount: at most {limit} for a top-up"))
        session.guard(lambda: session.order.check_add_top_up(check.code))
        line = Line(0, check.code, _("Top-up {code}").format(code=check.masked), 1, amount, Decimal(0),
                    kind=LineKind.TOP_UP, code=check.code, provider=check.provider, free_amount=True)
        session.guard(lambda: session.order.check_add_line(line))
        session.journal.add_line(session.order_id, line)
        session.reload()
        session.last_closed = None
        return Outcome(Notice(_("Added top-up of voucher {code} {amount} — credited when the order is paid").format(
            code=check.masked, amount=amount.shown())))

    def _typed_amount(self, typed: str | None, too_much: str) -> Money:
        limit = self.max_amount
        try:
            amount = Money.parse(typed or "", self.session.currency)
        except MoneyError as exc:
            raise CheckoutError(_("Amount: {problem}").format(problem=exc)) from None
        if not amount.is_positive:
            raise CheckoutError(_("Amount: must be more than zero"))
        if amount.minor > limit.minor:
            raise CheckoutError(too_much.format(limit=limit.shown_with_currency()))
        return amount

    # -- creation at close ------------------------------------------------------------
    async def create_all(self) -> tuple[list[str], bool]:
        """Create (activate) every value line of the order not yet created.

        The failures, one line each, and whether any of them is only undecided
        (then the line must not be removed: it may be live at the provider).
        A digital voucher the provider refuses to sell is not a failure: its line
        leaves the order and its money is given back (``self.removed`` says so)."""
        session = self.session
        failures = []
        undecided = False
        self.removed = []
        for line in session.order.gift_vouchers:
            if line.activated:
                continue
            slot = session.providers.get(line.provider or "")
            word = value_word(slot, line)
            what = (_("voucher {code}") if line.kind is LineKind.TOP_UP else _("gift voucher {code}")).format(
                code=mask_code(line.code or ""))
            if line.kind is LineKind.DIGITAL:
                what = line.name
            try:
                await self._create(line)
            except Refused as exc:
                session.journal.void_line(session.order_id, line.id)
                self.removed.append(_("{name} {amount} not bought — {problem}; it is taken off the order").format(
                    name=line.name, amount=line.total.shown(), problem=exc))
            except Undecided as exc:
                undecided = True
                failures.append(_("{what}: {operation} not decided yet — {problem}").format(
                    what=what, operation=word, problem=exc))
            except CheckoutError as exc:
                failures.append(_("{what}: {operation} failed — {problem}").format(
                    what=what, operation=word, problem=exc))
        session.reload()
        return failures, undecided

    async def _create(self, line: Line) -> None:
        session = self.session
        try:
            slot = session.slot(line.provider)
        except CheckoutError as exc:
            session.journal.set_line_problem(line.id, str(exc))
            raise
        assert slot.client is not None and line.code is not None
        client, code = slot.client, line.code
        # Look first: an earlier attempt whose answer was lost may have created it.
        for op in session.journal.ops(line_id=line.id, operation=OpKind.CREATE.value, open_only=True):
            result = await journaled.settle(session, op)
            if result.decision is Decision.DONE:
                return
            if result.decision is Decision.UNDECIDED:
                raise Undecided(_("the earlier attempt is not decided — {reason}{waiting}").format(
                    reason=result.reason, waiting=waiting(result)))
        amount = line.total
        send_amount = amount if line.free_amount else None
        kind = value_kind(line)
        details = dict(line.details) or None

        async def send(ctx: OpContext) -> ValueResult:
            return await client.create_value(code, send_amount, ctx, kind, details=details)

        request: dict[str, object] = {"free_amount": line.free_amount, "value": kind.value,
                                      "order_number": self._number(session.order_id)}
        if details:
            request["details"] = details
        call = Call(slot, OpKind.CREATE, code, amount, session.order_id, send=send, line_id=line.id,
                    request=request)
        earlier = session.journal.ops(line_id=line.id, operation=OpKind.CREATE.value)
        assert slot.descriptor is not None
        try:
            if earlier and earlier[-1].state == OpState.NOT_DONE and OpKind.CREATE in slot.descriptor.policy.deduplicated:
                # It never arrived, or the provider says it did not do it: sent again under the
                # same reference, so a first send still on its way cannot buy a second time.
                result = await journaled.replay(session, slot, earlier[-1], send)
            else:
                result = await journaled.run(session, call)
        except NotSent as exc:
            message = describe(exc.error, slot.display_name, hint=False)
            session.journal.set_line_problem(line.id, message)
            raise CheckoutError(message) from None
        if result.decision is Decision.FAILED and kind is ValueKind.DIGITAL and \
                isinstance(result.error, RefusedError) and not isinstance(result.error, AuthenticationError):
            raise Refused(describe(result.error, slot.display_name, hint=False))
        if result.decision is Decision.FAILED:
            raise CheckoutError(describe(result.error, slot.display_name, hint=False)
                                if result.error is not None else result.reason)
        if result.decision is Decision.UNDECIDED:
            raise Undecided(f"{result.reason}{waiting(result)}")
        if result.decision is Decision.NOT_DONE:
            raise CheckoutError(_("{provider} did not do it — Enter tries again").format(provider=slot.display_name))
        if kind is ValueKind.DIGITAL:
            await self._fetch_info(slot, line)

    async def _fetch_info(self, slot: ProviderSlot, line: Line) -> None:
        """What the provider prepares after a purchase (CSQ's additional data:
        instructions, expiry), asked a few times while it is not ready, bounded:
        the receipt prints what is known by then."""
        assert slot.client is not None and line.code is not None
        created = [op for op in self.session.journal.ops(line_id=line.id, operation=OpKind.CREATE.value)
                   if op.state in (OpState.OK, OpState.DONE)]
        refs = dict(created[-1].refs) if created else {}
        if refs.get("has_additional_data") != "1":
            return
        for attempt in range(INFO_TRIES):
            try:
                info = await slot.client.value_info(line.code, refs)
            except NotReady:
                self.session.progress(_("{provider} is still preparing {name} — asking again ({attempt} of "
                                        "{tries})…").format(provider=slot.display_name, name=line.name,
                                                           attempt=attempt + 1, tries=INFO_TRIES))
                await asyncio.sleep(INFO_WAIT_S * (attempt + 1))
                continue
            except ProviderError as exc:
                slot.mark(exc)
                return
            self.session.journal.add_line_refs(line.id, {k: v for k, v in info.items() if v})
            return

    def _number(self, order_id: int) -> str | None:
        return self.session.journal.load_order(order_id).number

    # -- undoing ------------------------------------------------------------------------
    async def settle_open_ops(self, order: Order) -> None:
        """Before value lines are undone or removed: a create or undo of this order
        whose answer was lost is settled first, so a voucher that is live at the
        provider is never taken for one that is not (nor the reverse).
        CheckoutError when one stays undecided."""
        session = self.session
        lines = {line.id for line in order.gift_vouchers}
        for op in session.journal.ops(order_id=order.id, open_only=True):
            if op.line_id not in lines:
                continue
            result = await journaled.settle(session, op)
            if result.decision is Decision.UNDECIDED:
                slot = session.providers.get(op.provider)
                word = slot.word(op.operation) if slot else op.operation
                raise CheckoutError(_("the {operation} of gift voucher {code} is not decided yet ({reason})").format(
                    operation=word, code=mask_code(op.code), reason=result.reason))
        session.reload()

    @staticmethod
    def live_gift_vouchers(order: Order) -> list[Line]:
        """Value lines created at the provider and not undone since."""
        return [line for line in order.gift_vouchers if line.live]

    def refuse_lost_top_ups(self, lines: list[Line]) -> None:
        """CheckoutError for a top-up among ``lines`` its provider cannot take back
        (JTL has no call for it): said before anything is asked or undone."""
        for line in lines:
            if line.kind is not LineKind.TOP_UP:
                continue
            slot = self.providers.get(line.provider or "")
            if slot is None or slot.client is None or not slot.client.supports(Capability.TOP_UP_UNDO):
                name = slot.display_name if slot is not None else (line.provider or "?")
                raise CheckoutError(_("{provider} cannot take the top-up of voucher {code} back at the till — "
                                      "refund the customer and correct the voucher with {provider}").format(
                    provider=name, code=mask_code(line.code or "")))

    async def check_undoable(self, lines: list[Line]) -> None:
        """Ask whether each line can be undone, before anything is undone:
        CheckoutError on the first one that cannot (or cannot be asked)."""
        for line in lines:
            slot = self.session.slot(line.provider)
            assert slot.client is not None and line.code is not None
            kind = value_kind(line)
            self.refuse_lost_top_ups([line])
            try:
                status = await slot.client.check_undo(line.code, kind, refs=line.refs)
            except ProviderError as exc:
                slot.mark(exc)
                raise CheckoutError(describe(exc, slot.display_name, hint=False)) from None
            slot.mark(None)
            if kind is ValueKind.TOP_UP and status.can_undo and status.amount.minor < line.total.minor:
                raise CheckoutError(_("{provider} cannot take the top-up of {code} back: the voucher has only "
                                      "{balance} left of the {amount} credited").format(
                    provider=slot.display_name, code=mask_code(line.code), balance=status.amount.shown(),
                    amount=line.total.shown()))
            if not status.can_undo:
                what = (_("{provider} cannot take {name} back now.").format(provider=slot.display_name,
                                                                           name=line.name)
                        if kind is ValueKind.DIGITAL else
                        _("{provider} cannot take gift voucher {code} back now.").format(
                            provider=slot.display_name, code=mask_code(line.code)))
                reason = refusal_reason(slot.display_name, what, status.message)
                raise CheckoutError(reason)

    async def undo_open_order(self) -> list[str]:
        """Cancelling the open order: undo its live value lines (checked first); each one
        undone is removed from the order. The failures."""
        session = self.session
        failures = []
        for line in self.live_gift_vouchers(session.order):
            try:
                await self.undo(line, session.order_id, "cancel of the order")
            except CheckoutError as exc:
                failures.append(_("gift voucher {code}: {problem}").format(code=mask_code(line.code or ""),
                                                                           problem=exc))
        session.reload()
        return failures

    async def undo(self, line: Line, order_id: int, reason: str) -> None:
        """Undo (deactivate) one value line, journaled; CheckoutError says why not.
        On the open order the line is removed once the undo is certain."""
        session = self.session
        slot = session.slot(line.provider)
        assert slot.client is not None and line.code is not None
        client, code = slot.client, line.code
        kind = value_kind(line)
        number = self._number(order_id)
        call = Call(slot, OpKind.UNDO, code, line.total, order_id,
                    send=lambda ctx: client.undo_value(code, ctx, reason, kind, refs=dict(line.refs)), line_id=line.id,
                    request={"reason": reason, "value": kind.value, "order_number": number},
                    refs=dict(line.refs))
        try:
            result = await journaled.run(session, call)
        except NotSent as exc:
            raise CheckoutError(describe(exc.error, slot.display_name, hint=False)) from None
        finally:
            session.reload()
        word = slot.word(OpKind.UNDO)
        if result.decision is Decision.FAILED:
            raise CheckoutError(describe(result.error, slot.display_name, hint=False)
                                if result.error is not None else result.reason)
        if result.decision is Decision.UNDECIDED:
            raise Undecided(_("{operation} of {code} not confirmed — {reason}{waiting}").format(
                operation=word, code=mask_code(code), reason=result.reason, waiting=waiting(result)))
        if result.decision is Decision.NOT_DONE:
            raise CheckoutError(_("{code} is still active").format(code=mask_code(code)))
