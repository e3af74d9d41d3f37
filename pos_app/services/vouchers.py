"""Vouchers as a payment method: check, pay (authorize), void, settle, balance slips.

Every provider call goes through the one journaled runner
(:mod:`pos_app.services.journaled`): the state read just before the send and
our reference are committed with the intent; a lost or contradicting answer
is settled by the provider's state, never by sending the request again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from pos_app.domain.codes import mask_code, normalize_voucher_code
from pos_app.domain.money import Money, sum_money
from pos_app.domain.order import Tender, TenderKind, TenderState
from pos_app.i18n import _, ngettext
from pos_app.journal import OpState
from pos_app.providers import OpKind, ProviderError, Snapshot, TenderRef, VoucherBalance
from pos_app.services import journaled
from pos_app.services.inflight import provider_call
from pos_app.services.journaled import Call, Decision, NotSent, Result
from pos_app.services.providers import ProviderSlot
from pos_app.services.results import CheckoutError, Level, Notice, Outcome
from pos_app.services.session import Session
from pos_app.services.wording import describe, outcome_text, refusal_reason, waiting, what

Close = Callable[[Notice], Awaitable[Outcome]]


@dataclass(frozen=True, slots=True)
class VoucherCheck:
    """A balance check, and what Enter would redeem now."""

    provider: str
    display_name: str
    balance: VoucherBalance
    amount: Money | None  # min(remaining, balance); None when it cannot pay now
    reason: str | None  # why it cannot pay (the till's words, then the provider's own, labelled)
    snapshot: Snapshot | None = None  # the provider state this read shows (decides a lost answer)
    read_at: float = 0.0  # session.monotonic() when it was read
    flags: tuple[str, ...] = field(default=())  # late contradictions this read revealed
    # Why ``amount`` is less than both the balance and what is still to pay (gift
    # vouchers on the order cannot be paid with a voucher); None when it is not.
    capped: str | None = None

    @property
    def code(self) -> str:
        """The code Balance returned: every later call uses it (short codes)."""
        return self.balance.code

    @property
    def masked(self) -> str:
        return mask_code(self.balance.code)


class BalanceChanged(CheckoutError):
    """The dialog's balance was no longer fresh and the provider now says otherwise."""

    def __init__(self, check: VoucherCheck) -> None:
        now = check.balance.balance.shown()
        if check.amount is not None:
            text = _("The balance changed since it was shown: now {balance} — Enter pays {amount}").format(
                balance=now, amount=check.amount.shown())
        else:
            text = _("The balance changed since it was shown: now {balance} — {reason}").format(
                balance=now, reason=check.reason or _("it cannot pay now"))
        super().__init__(text)
        self.check = check


class VoucherDesk:
    def __init__(self, session: Session, close: Close) -> None:
        self.session = session
        self.close = close  # closes the order once it is paid (closing.py)

    @property
    def providers(self) -> dict[str, ProviderSlot]:
        return self.session.providers

    # -- routing --------------------------------------------------------------
    def looks_like_voucher(self, raw: str) -> bool:
        return any(slot.owns(raw) for slot in self.providers.values())

    def route(self, raw: str, provider: str | None = None) -> ProviderSlot:
        """The provider whose code pattern the scan matches; with several, the
        cashier chooses (``provider``)."""
        if provider is not None:
            return self.session.slot(provider)
        matches = [slot for slot in self.providers.values() if slot.owns(raw)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise AmbiguousCode([slot.name for slot in matches],
                                _either([slot.display_name for slot in matches]))
        problems = [s.problem for s in self.providers.values() if s.problem]
        if problems:
            raise ProviderOff(problems[0])
        if not self.providers:
            raise CheckoutError(_("No voucher provider is configured for this till"))
        shown = normalize_voucher_code(raw)[:20] or _("(empty)")
        raise CheckoutError(_("{code!r} is not a voucher code — check it and scan again").format(code=shown))

    def _refuse_if_unresolved(self, code: str) -> None:
        open_ops = self.session.journal.ops(code=code, open_only=True)
        if open_ops:
            result = open_ops[-1]
            if result.order_id == self.session.order_id and result.tender_id is not None:
                raise CheckoutError(_("A payment on {code} is not decided yet — select it and press F8 to check "
                                      "it").format(code=mask_code(code)))
            raise CheckoutError(_("{operation} is not decided yet — this voucher cannot be used until it is (F12 "
                                  "shows it)").format(operation=what(self.session, result)))

    # -- balance --------------------------------------------------------------
    async def check(self, raw: str, for_payment: bool = True, provider: str | None = None) -> VoucherCheck:
        """Balance of a scanned or typed code; with ``for_payment``, the amount to redeem."""
        session = self.session
        if not normalize_voucher_code(raw):
            raise CheckoutError(_("Scan or type the voucher code"))
        slot = self.route(raw, provider)
        assert slot.client is not None and slot.descriptor is not None
        code = slot.normalize(raw)
        if for_payment:
            self._refuse_if_unresolved(code)
        try:
            balance = await slot.client.balance(code)
        except ProviderError as exc:
            slot.mark(exc)
            raise CheckoutError(describe(exc, slot.display_name, key_command=slot.key_command)) from None
        slot.mark(None)
        snapshot = slot.descriptor.settling.balance_snapshot(balance)
        flags = tuple(journaled.check_late(session, slot, balance.code, snapshot))
        made = {"provider": slot.name, "display_name": slot.display_name, "balance": balance,
                "snapshot": snapshot, "read_at": session.monotonic(), "flags": flags}
        if not for_payment:
            reason = refusal_reason(slot.display_name, _("The voucher cannot pay now."), balance.message) \
                if balance.message else None
            return VoucherCheck(amount=None, reason=reason, **made)
        self._refuse_if_unresolved(balance.code)
        if not balance.redeemable:
            unknown = balance.known is False or (
                balance.known is None and not balance.balance and not (balance.total and balance.total.is_positive))
            explanation = _("{provider} does not know this voucher.") if unknown else \
                _("{provider} does not accept this voucher for payment now.")
            reason = refusal_reason(slot.display_name, explanation.format(provider=slot.display_name),
                                    balance.message)
            return VoucherCheck(amount=None, reason=reason, **made)
        held = self._held(slot, balance.code)
        available = balance.balance - held.amount if held is not None else balance.balance
        if held is not None and not available.is_positive:
            return VoucherCheck(amount=None, reason=_(
                "Voucher {code} already pays {amount} on this order — that is all of its balance").format(
                code=mask_code(balance.code), amount=held.amount.shown()), **made)
        try:
            amount = session.guard(lambda: session.order.voucher_amount(available))
        except CheckoutError as exc:
            return VoucherCheck(amount=None, reason=str(exc), **made)
        return VoucherCheck(amount=amount, reason=None, capped=self._capped(amount, available), **made)

    def _held(self, slot: ProviderSlot, code: str) -> Tender | None:
        """The payment this voucher already makes on the order, for a provider that
        takes one hold per voucher (a second payment is merged into it)."""
        if slot.descriptor is None or not slot.descriptor.policy.one_hold_per_voucher:
            return None
        return next((t for t in self.session.order.active_tenders
                     if t.kind is TenderKind.VOUCHER and t.code == code and t.counts), None)

    def _capped(self, amount: Money, balance: Money) -> str | None:
        """Why a voucher pays less than both its balance and what is still to pay: the
        gift vouchers on the order are paid with cash or card only."""
        order = self.session.order
        due = order.remaining
        if amount >= due or amount >= balance or not order.gift_vouchers:
            return None
        gifts = sum_money([line.total for line in order.gift_vouchers], due.currency)
        return ngettext(
            "Pays {amount}, not {due}: the gift voucher on this order ({gifts}) cannot be paid with a voucher "
            "— take cash or card for the rest",
            "Pays {amount}, not {due}: the gift vouchers on this order ({gifts}) cannot be paid with a voucher "
            "— take cash or card for the rest", len(order.gift_vouchers)).format(
            amount=amount.shown_with_currency(), due=due.shown_with_currency(), gifts=gifts.shown_with_currency())

    # -- pay ------------------------------------------------------------------
    @provider_call
    async def pay(self, check: VoucherCheck) -> Outcome:
        """Redeem ``min(remaining, balance)`` from the checked voucher.

        The balance that decides a lost answer is read right before the send,
        under the provider lock: the dialog's own read serves only while it is
        at most ``FRESH_READ_S`` old; otherwise it is read again, and a changed
        amount goes back to the cashier instead of being paid.
        """
        session = self.session
        slot = session.slot(check.provider)
        assert slot.client is not None
        self._refuse_if_unresolved(check.code)
        # A provider whose balance read is not the state that decides (JTL: the lock)
        # has that state read by the runner anyway: only a stale amount is read again.
        if session.monotonic() - check.read_at > journaled.FRESH_READ_S:
            renewed = await self.check(check.code, provider=check.provider)
            if renewed.amount != check.amount:
                raise BalanceChanged(renewed)
            check = renewed
        client = slot.client
        code = check.code
        assert slot.descriptor is not None
        held = self._held(slot, code)
        if held is not None:  # one hold per voucher: the new hold is for the sum and replaces the old one
            if held.state is not TenderState.AUTHORIZED:
                raise CheckoutError(_("Voucher {code} already pays on this order and that payment is not "
                                      "settled — select it and press F8").format(code=mask_code(code)))
            extra = session.guard(lambda: session.order.voucher_amount(check.balance.balance - held.amount))
            amount = held.amount + extra
            call = Call(slot, OpKind.AUTHORIZE, code, amount, session.order_id,
                        send=lambda ctx: client.authorize(code, amount, ctx), tender_id=held.id,
                        request={"hold": "merge", "was": held.amount.minor}, before=check.snapshot)
        else:
            extra = amount = session.guard(lambda: session.order.voucher_amount(check.balance.balance))
            tender = Tender(0, TenderKind.VOUCHER, amount, state=TenderState.PENDING, code=code,
                            provider=slot.name)
            call = Call(slot, OpKind.AUTHORIZE, code, amount, session.order_id,
                        send=lambda ctx: client.authorize(code, amount, ctx), new_tender=tender,
                        before=check.snapshot)
        try:
            result = await journaled.run(session, call)
        except NotSent as exc:
            raise CheckoutError(_("Not paid — {problem}").format(
                problem=describe(exc.error, slot.display_name, key_command=slot.key_command))) from None
        finally:
            session.reload()
        if held is not None and result.decision is Decision.FAILED:
            message = (describe(result.error, slot.display_name, key_command=slot.key_command)
                       if result.error is not None else result.reason)
            raise CheckoutError(_("Not paid — {problem}. The earlier payment of {amount} with this voucher "
                                  "stands").format(problem=message, amount=held.amount.shown()))
        if held is not None and result.decision is Decision.DONE and not result.lost:
            return await self.close(Notice(_("Voucher {code} pays {extra} more — one payment of {amount}").format(
                code=mask_code(code), extra=extra.shown(), amount=amount.shown())))
        return await self._paid(slot, result, amount)

    async def _paid(self, slot: ProviderSlot, result: Result, amount: Money) -> Outcome:
        session = self.session
        prefix = _no_answer(slot) if result.lost else ""
        if result.decision is Decision.FAILED:
            message = (describe(result.error, slot.display_name, key_command=slot.key_command)
                       if result.error is not None else result.reason)
            raise CheckoutError(_("Not paid — {problem}").format(problem=message))
        if result.decision is Decision.UNDECIDED:
            return Outcome(Notice(prefix + _(
                "{operation} is not decided yet — {reason}{waiting}. The till checks again by itself; do not take "
                "this payment again").format(operation=what(session, result.op), reason=result.reason,
                                             waiting=waiting(result)), Level.ERROR))
        if result.decision is Decision.NOT_DONE:
            return Outcome(Notice(prefix + _("{outcome}; take the payment again").format(
                outcome=outcome_text(session, result)), Level.WARNING))
        if result.lost:
            return await self.close(Notice(prefix + outcome_text(session, result), Level.WARNING))
        answer = result.answer
        new_balance = getattr(answer, "new_balance", None)
        if slot.descriptor is not None and slot.descriptor.policy.captures:
            text = _("Voucher {code}: {amount} reserved — charged when the order closes").format(
                code=mask_code(result.op.code), amount=amount.shown())
        elif new_balance is not None:
            text = _("Voucher {code} paid {amount} — new balance {balance}").format(
                code=mask_code(result.op.code), amount=amount.shown(), balance=new_balance.shown())
        else:
            text = _("Voucher {code} paid {amount}").format(code=mask_code(result.op.code), amount=amount.shown())
        return await self.close(Notice(text))

    # -- a lapsed hold taken again (the close found it expired or replaced) ----------
    @provider_call
    async def renew(self, tender_ids: list[int]) -> Outcome:
        """Hold each voucher payment again for its amount (the cashier confirmed), then
        close the order. A voucher that no longer covers its payment loses it: the
        cashier takes the rest another way."""
        session = self.session
        notes: list[str] = []
        for tender_id in tender_ids:
            tender = session.order.tender(tender_id)
            if not tender.active or tender.state is not TenderState.AUTHORIZED or tender.code is None:
                continue
            slot = session.slot(tender.provider)
            assert slot.client is not None
            client, code, amount = slot.client, tender.code, tender.amount
            call = Call(slot, OpKind.AUTHORIZE, code, amount, session.order_id,
                        send=lambda ctx, code=code, amount=amount: client.authorize(code, amount, ctx),
                        tender_id=tender.id, request={"hold": "renew"})
            try:
                result = await journaled.run(session, call)
            except NotSent as exc:
                raise CheckoutError(_("Voucher {code} not held again — {problem}").format(
                    code=mask_code(code), problem=describe(exc.error, slot.display_name, hint=False))) from None
            finally:
                session.reload()
            if result.decision is Decision.UNDECIDED:
                raise CheckoutError(_("Voucher {code}: the new {operation} is not decided yet — {reason}. The till "
                                      "checks again by itself").format(
                    code=mask_code(code), operation=slot.word(OpKind.AUTHORIZE), reason=result.reason))
            if result.decision is not Decision.DONE:
                why = (describe(result.error, slot.display_name, hint=False) if result.error is not None
                       else result.reason)
                notes.append(_("voucher {code} could not be held again ({problem}): its payment of {amount} is "
                               "removed, take it another way").format(code=mask_code(code), problem=why,
                                                                       amount=amount.shown()))
        if notes:
            return Outcome(Notice(_("Not closed — {notes}").format(notes="; ".join(notes)), Level.ERROR))
        return await self.close(Notice(_("Held again — closing the order")))

    # -- settle an open operation of a tender (F8) ------------------------------
    @provider_call
    async def resolve(self, tender_id: int) -> Outcome:
        """Settle the open operation on a payment of the current order, without resending."""
        session = self.session
        open_ops = session.journal.ops(tender_id=tender_id, open_only=True)
        if not open_ops:
            raise CheckoutError(_("Nothing to resolve on that payment"))
        op = open_ops[-1]
        result = await journaled.settle(session, op)
        session.reload()
        text = outcome_text(session, result)
        kind = OpKind(op.operation)
        if result.decision is Decision.UNDECIDED:
            if kind is OpKind.AUTHORIZE:
                raise CheckoutError(_("{outcome}. It stays unresolved — the till checks again by itself; do not "
                                      "take it again.").format(outcome=text))
            raise CheckoutError(f"{text}.")
        if kind is OpKind.AUTHORIZE:
            if result.decision is Decision.DONE:
                return await self.close(Notice(text, Level.WARNING))
            return Outcome(Notice(_("{outcome}; take the payment again").format(outcome=text), Level.WARNING))
        return Outcome(Notice(text, Level.WARNING))

    # -- void -----------------------------------------------------------------
    async def reverse(self, tender: Tender, order_id: int) -> Result:
        """Give one voucher payment back with the provider, journaled: a void before
        capture, a refund after it (for providers that capture).

        On the open order the tender is voided with it; for a closed sale the
        sale stays as it was and the journal records the reversal next to it.
        Raises CheckoutError when it cannot be tried (no references, state unreadable).
        """
        session = self.session
        slot = session.slot(tender.provider)
        assert slot.client is not None and slot.descriptor is not None and tender.code is not None
        client = slot.client
        if not tender.refs and not _hold(slot, tender):
            raise CheckoutError(_("Voucher {code}: {problem}").format(code=mask_code(tender.code), problem=lost_refs(slot)))
        refund = tender.state is TenderState.CAPTURED and slot.descriptor.policy.captures
        kind = OpKind.REFUND if refund else OpKind.VOID
        ref = TenderRef(tender.code, tender.amount, dict(tender.refs))
        send = client.refund if refund else client.void
        call = Call(slot, kind, tender.code, tender.amount, order_id,
                    send=lambda ctx: send(ref, tender.amount, ctx), tender_id=tender.id, refs=ref.refs)
        try:
            return await journaled.run(session, call)
        except NotSent as exc:
            message = describe(exc.error, slot.display_name, hint=False)
            if order_id == session.order_id:
                session.journal.set_tender_problem(tender.id, _("{operation} failed: {problem}").format(
                    operation=slot.word(kind), problem=message))
            raise CheckoutError(message) from None

    @provider_call
    async def void(self, tender_id: int) -> Outcome:
        """Void a voucher payment of the open order: the provider gives the money back."""
        session = self.session
        tender = session.guard(lambda: session.order.check_void_tender(tender_id))
        if tender.unresolved or session.journal.ops(tender_id=tender_id, open_only=True):
            return await self.resolve(tender_id)
        masked = mask_code(tender.code or "")
        if not tender.refs and not _hold(session.slot(tender.provider), tender):  # F8 could never succeed
            slot = session.slot(tender.provider)
            raise CheckoutError(_("Voucher payment {code} cannot be cancelled by the till — {problem}. It stays "
                                  "paid: take the rest of the payment to finish the sale").format(
                code=masked, problem=lost_refs(slot)))
        try:
            result = await self.reverse(tender, session.order_id)
        except CheckoutError as exc:
            session.reload()
            raise CheckoutError(_("Voucher payment {code} not cancelled — {problem}. It stays on the order, F8 "
                                  "tries again").format(code=masked, problem=exc)) from None
        session.reload()
        if result.decision is Decision.FAILED:
            raise CheckoutError(_("Voucher payment {code} not cancelled — {problem}. It stays on the order, F8 "
                                  "tries again").format(code=masked, problem=result.reason))
        if result.lost or result.decision is not Decision.DONE:
            slot = session.slot(tender.provider)
            prefix = _no_answer(slot) if result.lost else ""
            level = Level.ERROR if result.decision is Decision.UNDECIDED else Level.WARNING
            return Outcome(Notice(prefix + outcome_text(session, result), level))
        new_balance = getattr(result.answer, "new_balance", None)
        lapses_at = getattr(result.answer, "lapses_at", None)
        if lapses_at is not None:
            slot = session.slot(tender.provider)
            text = _("Voucher {code} payment {amount} cancelled — nothing was charged; {provider} keeps the "
                     "voucher blocked until its hold lapses at {time}").format(
                code=masked, amount=tender.amount.shown(), provider=slot.display_name,
                time=f"{lapses_at.astimezone():%H:%M}")
        elif new_balance is not None:
            text = _("Voucher {code} payment {amount} cancelled — balance back to {balance}").format(
                code=masked, amount=tender.amount.shown(), balance=new_balance.shown())
        else:
            text = _("Voucher {code} payment {amount} cancelled").format(code=masked, amount=tender.amount.shown())
        return Outcome(Notice(text, Level.WARNING))

    async def void_all(self) -> list[str]:
        """Void every voucher payment of the order; the failures, one line each."""
        failures = []
        for tender in list(self.session.order.active_tenders):
            if tender.kind is not TenderKind.VOUCHER:
                continue
            try:
                await self.void(tender.id)
            except CheckoutError as exc:
                failures.append(str(exc))
                continue
            still = self.session.order.tender(tender.id)
            if still.active:  # decided "cancel did not happen", undecided, or a redeem found done
                failures.append(_("{code}: {problem}").format(code=mask_code(still.code or ""),
                                                              problem=still.problem or _("still on the order")))
        return failures

    def has_open_op(self, tender_id: int) -> bool:
        return any(op.state in OpState.OPEN for op in self.session.journal.ops(tender_id=tender_id))


class ProviderOff(CheckoutError):
    """No provider can take the code because the ones that could are off (no key, the
    keyring password not given at start): checking again cannot help until that is fixed."""


class AmbiguousCode(CheckoutError):
    """A scan that several providers' code patterns match: the cashier chooses."""

    def __init__(self, providers: list[str], names: str) -> None:
        super().__init__(_("This code could be a {providers} voucher — choose the provider").format(providers=names))
        self.providers = providers


def _hold(slot: ProviderSlot, tender: Tender) -> bool:
    """A hold not captured yet, of a provider that captures: voiding it needs no
    reference (JTL: dropped on the till's side, it lapses by itself)."""
    return (slot.descriptor is not None and slot.descriptor.policy.captures
            and tender.state is TenderState.AUTHORIZED)


def lost_refs(slot: ProviderSlot) -> str:
    return _("the answer to the {operation} was lost, so the till has nothing to cancel it with; ask {provider} "
             "to reverse it").format(operation=slot.word(OpKind.AUTHORIZE), provider=slot.display_name)


def _no_answer(slot: ProviderSlot) -> str:
    """Put before what was decided about an operation whose answer was lost."""
    return _("{provider} did not answer.").format(provider=slot.display_name) + " "


def _either(names: list[str]) -> str:
    """``"E-GUMA or FakePay"`` (``"A, B or C"``)."""
    if len(names) == 1:
        return names[0]
    return _("{first} or {last}").format(first=", ".join(names[:-1]), last=names[-1])
