"""Vouchers as a payment method: check, redeem, void, resolve, balance slips.

Every provider call follows the journal protocol: the intent (state
``sent``, our reference) is committed before the request, the outcome after
it. A call whose answer is lost leaves the tender ``unknown``; it is then
resolved by the provider's own lookup (E-GUMA: compare the balance with the
one seen before), never by sending the request again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pos_app.domain.codes import mask_code, normalize_voucher_code
from pos_app.domain.money import Money
from pos_app.domain.order import Tender, TenderKind, TenderState
from pos_app.journal import OpRecord, OpState
from pos_app.providers import (
    AuthenticationError,
    Authorization,
    ProviderError,
    RefusedError,
    UnknownOutcome,
    VoidResult,
    VoucherBalance,
)
from pos_app.providers.eguma.client import redeem_applied
from pos_app.services.crash import arm_after_send, crashpoint
from pos_app.services.inflight import provider_call
from pos_app.services.providers import ProviderSlot
from pos_app.services.results import CheckoutError, Level, Notice, Outcome

if TYPE_CHECKING:  # the Till owns the desk
    from pos_app.services.checkout import Till

LOST_TOKEN = ("the answer to the redemption was lost, so the till has no token to cancel it with; "
              "ask {provider} to reverse it")


@dataclass(frozen=True, slots=True)
class VoucherCheck:
    """A balance check, and what Enter would redeem now."""

    provider: str
    display_name: str
    balance: VoucherBalance
    amount: Money | None  # min(remaining, balance); None when it cannot pay now
    reason: str | None  # why it cannot pay (the provider's message, or the order's state)

    @property
    def code(self) -> str:
        """The code Balance returned: every later call uses it (short codes)."""
        return self.balance.code

    @property
    def masked(self) -> str:
        return mask_code(self.balance.code)


def describe(error: ProviderError, display_name: str, hint: bool = True, key_command: str | None = None) -> str:
    """One line for the cashier: the provider's own words where there are any.

    ``hint=False`` leaves out the generic advice (which speaks of taking
    another payment method) where it does not fit, e.g. for a cancellation.
    """
    if isinstance(error, RefusedError):
        return f"{display_name}: {error.provider_message or error.message}".rstrip(".")
    advice = error.hint
    if isinstance(error, AuthenticationError) and key_command:
        advice = f"Check the API key with `{key_command}`."
    text = f"{error.message} {advice}" if hint else error.message
    return text.rstrip(".")


class VoucherDesk:
    def __init__(self, till: Till, providers: dict[str, ProviderSlot]) -> None:
        self.till = till
        self.providers = providers

    # -- routing --------------------------------------------------------------
    def looks_like_voucher(self, raw: str) -> bool:
        return any(s.client is not None and s.client.looks_like_code(raw) for s in self.providers.values())

    def route(self, raw: str) -> ProviderSlot:
        for slot in self.providers.values():
            if slot.client is not None and slot.client.looks_like_code(raw):
                return slot
        problems = [s.problem for s in self.providers.values() if s.problem]
        if problems:
            raise CheckoutError(problems[0])
        if not self.providers:
            raise CheckoutError("No voucher provider is configured for this till")
        shown = normalize_voucher_code(raw)[:20] or "(empty)"
        raise CheckoutError(f"{shown!r} is not a voucher code — check it and scan again")

    def slot(self, name: str | None) -> ProviderSlot:
        slot = self.providers.get(name or "")
        if slot is None or slot.client is None:
            reason = slot.problem if slot is not None else f"provider {name!r} is not configured"
            raise CheckoutError(reason or f"provider {name!r} cannot be used")
        return slot

    def _refuse_if_unresolved(self, code: str) -> None:
        if self.till.journal.ops(code=code, open_only=True):
            raise CheckoutError(
                f"A payment on {mask_code(code)} is not resolved yet — select it and press F8 to check it"
            )

    # -- balance --------------------------------------------------------------
    async def check(self, raw: str, for_payment: bool = True) -> VoucherCheck:
        """Balance of a scanned or typed code; with ``for_payment``, the amount to redeem."""
        if not normalize_voucher_code(raw):
            raise CheckoutError("Scan or type the voucher code")
        slot = self.route(raw)
        assert slot.client is not None
        code = slot.client.normalize_code(raw)
        if for_payment:
            self._refuse_if_unresolved(code)
        try:
            balance = await slot.client.balance(code)
        except ProviderError as exc:
            slot.mark(exc)
            raise CheckoutError(describe(exc, slot.display_name, key_command=slot.key_command)) from None
        slot.mark(None)
        if not for_payment:
            return VoucherCheck(slot.name, slot.display_name, balance, None, balance.message or None)
        self._refuse_if_unresolved(balance.code)
        if not balance.redeemable:
            reason = balance.message or "not redeemable"
            return VoucherCheck(slot.name, slot.display_name, balance, None, reason)
        try:
            amount = self.till.guard(lambda: self.till.order.voucher_amount(balance.balance))
        except CheckoutError as exc:
            return VoucherCheck(slot.name, slot.display_name, balance, None, str(exc))
        return VoucherCheck(slot.name, slot.display_name, balance, amount, None)

    # -- pay ------------------------------------------------------------------
    @provider_call
    async def pay(self, check: VoucherCheck) -> Outcome:
        """Redeem ``min(remaining, balance)`` from the checked voucher."""
        till = self.till
        slot = self.slot(check.provider)
        assert slot.client is not None
        code = check.code
        self._refuse_if_unresolved(code)
        amount = till.guard(lambda: till.order.voucher_amount(check.balance.balance))
        tender = Tender(0, TenderKind.VOUCHER, amount, state=TenderState.PENDING, code=code,
                        provider=slot.name)
        op_id, reference, tender_id = till.journal.begin_op(
            provider=slot.name, operation="redeem", code=code, currency=till.currency,
            amount=amount, balance_before=check.balance.balance, order_id=till.order_id,
            new_tender=tender,
        )
        assert tender_id is not None
        crashpoint("redeem:before_send")
        arm_after_send("redeem")
        try:
            auth = await slot.client.authorize(code, amount, reference)
        except UnknownOutcome as exc:
            slot.mark(exc)
            till.journal.finish_op(op_id, OpState.UNKNOWN, error=exc.message,
                                   tender={"state": TenderState.UNKNOWN})
            till.reload()
            try:
                return await self.resolve(tender_id, lost=True)
            except CheckoutError as unresolved:
                # The tender is on the order, unresolved: the dialog closes, the order shows it.
                return Outcome(Notice(str(unresolved), Level.ERROR))
        except ProviderError as exc:
            slot.mark(exc)
            message = describe(exc, slot.display_name, key_command=slot.key_command)
            till.journal.finish_op(op_id, OpState.FAILED, error=exc.message, void_tender=True,
                                   tender={"problem": message})
            till.reload()
            raise CheckoutError(f"Not paid — {message}") from None
        crashpoint("redeem:after_response")
        slot.mark(None)
        till.journal.finish_op(
            op_id, OpState.OK, token=auth.token,
            result={"new_balance": None if auth.new_balance is None else auth.new_balance.minor},
            tender={"state": TenderState.AUTHORIZED, "token": auth.token, "balance_after": auth.new_balance},
        )
        till.reload()
        text = f"Voucher {mask_code(code)} paid {amount.amount_str()}"
        if auth.new_balance is not None:
            text += f" — new balance {auth.new_balance.amount_str()}"
        return await till.close_if_settled(Notice(text))

    # -- resolve an unknown outcome -------------------------------------------
    async def decide(self, slot: ProviderSlot, op: OpRecord) -> bool:
        """Did an unknown redemption or cancellation happen? Decided by the balance.

        Raises CheckoutError when it cannot be decided (provider down, or the
        balance moved by another amount: someone used the voucher meanwhile).
        """
        assert slot.client is not None and op.amount is not None
        if op.balance_before is None:
            raise CheckoutError(f"{slot.display_name}: no balance was recorded before the "
                                f"{op.operation}; ask {slot.display_name} about {mask_code(op.code)}")
        try:
            now = (await slot.client.balance(op.code)).balance
        except ProviderError as exc:
            slot.mark(exc)
            raise CheckoutError(f"could not be checked ({exc.message})") from None
        slot.mark(None)
        moved = op.amount if op.operation == "redeem" else -op.amount
        applied = redeem_applied(op.balance_before, now, moved)
        if applied is None:
            expected = op.balance_before - moved
            raise CheckoutError(
                f"cannot be decided: the balance is {now.amount_str()}, expected "
                f"{op.balance_before.amount_str()} or {expected.amount_str()} — the voucher was "
                f"used elsewhere; ask {slot.display_name}"
            )
        return applied

    def record_decision(self, slot: ProviderSlot, op: OpRecord, applied: bool, by: str) -> None:
        """Journal what ``decide`` found for a redemption or cancellation, and its effect
        on the tender: a redemption that happened stays paid, one that did not is
        removed; a cancellation that happened removes the payment from an open order
        (a voided sale keeps its tenders, the cancellation is recorded next to them)."""
        till = self.till
        result = {"resolved_by": by}
        state = OpState.DONE if applied else OpState.NOT_DONE
        if op.operation == "redeem":
            if applied:
                assert op.amount is not None
                new_balance = op.balance_before - op.amount if op.balance_before is not None else None
                lost_token = LOST_TOKEN.format(provider=slot.display_name) if op.token is None else None
                till.journal.finish_op(op.id, state, result=result, tender={
                    "state": TenderState.AUTHORIZED, "balance_after": new_balance, "problem": lost_token})
            else:
                till.journal.finish_op(op.id, state, result=result, void_tender=True,
                                       tender={"problem": None})
        else:
            on_open_order = op.order_id == till.order_id
            if applied:
                till.journal.finish_op(op.id, state, result=result, void_tender=on_open_order,
                                       tender={"problem": None} if on_open_order else None)
            else:
                till.journal.finish_op(op.id, state, result=result, tender={
                    "problem": "cancellation did not happen: F8 tries again"} if on_open_order else None)
        till.reload()

    @provider_call
    async def resolve(self, tender_id: int, lost: bool = False) -> Outcome:
        """Settle an unknown redemption or cancellation on the current order, without resending."""
        till = self.till
        tender = till.order.tender(tender_id)
        open_ops = till.journal.ops(tender_id=tender_id, open_only=True)
        if not open_ops:
            raise CheckoutError("Nothing to resolve on that payment")
        op = open_ops[-1]
        slot = self.slot(tender.provider)
        assert op.amount is not None
        what = "redemption" if op.operation == "redeem" else "cancellation"
        head = f"The {what} of {op.amount} on {mask_code(op.code)}"
        prefix = f"{slot.display_name} did not answer. " if lost else ""
        try:
            applied = await self.decide(slot, op)
        except CheckoutError as exc:
            till.journal.set_tender_problem(tender_id, f"{what} not confirmed: {exc}")
            till.reload()
            hint = " It stays unresolved — press F8 on it to check again; do not take it again."
            raise CheckoutError(f"{prefix}{head} {exc}.{hint if op.operation == 'redeem' else ''}") from None
        self.record_decision(slot, op, applied, "balance comparison")
        if op.operation == "redeem":
            if applied:
                return await till.close_if_settled(Notice(
                    f"{prefix}{head} did happen — kept on the order", Level.WARNING))
            return Outcome(Notice(f"{prefix}{head} did not happen — nothing was charged; take the payment again",
                                  Level.WARNING))
        if applied:
            return Outcome(Notice(f"{prefix}{head} did happen — the payment is removed", Level.WARNING))
        return Outcome(Notice(f"{prefix}{head} did not happen — the payment is still on the order; "
                              "F8 tries again", Level.WARNING))

    # -- void -----------------------------------------------------------------
    async def cancel_redemption(self, tender: Tender, order_id: int, *, on_order: bool) -> VoidResult:
        """Cancel one redemption (token and amount) with the provider, journaled.

        ``on_order``: the tender is on the open order and is voided with the
        cancellation; otherwise (voiding a closed sale) the sale stays as it
        was and the journal records the cancellation next to it.
        Raises CheckoutError (the provider's words), or UnknownOutcomeError
        when the answer was lost (the op stays open, to be resolved).
        """
        till = self.till
        slot = self.slot(tender.provider)
        assert slot.client is not None and tender.code is not None
        if tender.token is None:
            raise CheckoutError(f"Voucher {mask_code(tender.code)}: "
                                + LOST_TOKEN.format(provider=slot.display_name))
        try:  # the balance just before: what decides a lost answer
            before = (await slot.client.balance(tender.code)).balance
        except ProviderError as exc:
            slot.mark(exc)
            message = describe(exc, slot.display_name, hint=False)
            if on_order:
                till.journal.set_tender_problem(tender.id, f"cancel failed: {message}")
            raise CheckoutError(message) from None
        op_id, _, _ = till.journal.begin_op(
            provider=slot.name, operation="cancel", code=tender.code, currency=till.currency,
            amount=tender.amount, balance_before=before, order_id=order_id, tender_id=tender.id,
        )
        auth = Authorization(tender.code, tender.amount, tender.token, tender.balance_after)
        crashpoint("cancel:before_send")
        arm_after_send("cancel")
        try:
            result = await slot.client.void(auth, tender.amount)
        except UnknownOutcome as exc:
            slot.mark(exc)
            till.journal.finish_op(op_id, OpState.UNKNOWN, error=exc.message,
                                   tender={"problem": "cancellation not confirmed"} if on_order else None)
            raise UnknownOutcomeError(exc.message) from None
        except ProviderError as exc:
            slot.mark(exc)
            message = describe(exc, slot.display_name, hint=False)
            till.journal.finish_op(op_id, OpState.FAILED, error=exc.message,
                                   tender={"problem": f"cancel failed: {message}"} if on_order else None)
            raise CheckoutError(message) from None
        crashpoint("cancel:after_response")
        slot.mark(None)
        till.journal.finish_op(
            op_id, OpState.OK,
            result={"new_balance": None if result.new_balance is None else result.new_balance.minor},
            void_tender=on_order, tender={"problem": None, "balance_after": result.new_balance} if on_order else None,
        )
        return result

    @provider_call
    async def void(self, tender_id: int) -> Outcome:
        """Void a voucher payment of the open order: the provider gives the money back."""
        till = self.till
        tender = till.guard(lambda: till.order.check_void_tender(tender_id))
        if tender.unresolved or till.journal.ops(tender_id=tender_id, open_only=True):
            return await self.resolve(tender_id)
        masked = mask_code(tender.code or "")
        if tender.token is None:  # F8 could never succeed: say what can be done instead
            slot = self.slot(tender.provider)
            raise CheckoutError(
                f"Voucher payment {masked} cannot be cancelled by the till — "
                + LOST_TOKEN.format(provider=slot.display_name)
                + ". It stays paid: take the rest of the payment to finish the sale")
        try:
            result = await self.cancel_redemption(tender, till.order_id, on_order=True)
        except UnknownOutcomeError:
            till.reload()
            return await self.resolve(tender_id, lost=True)
        except CheckoutError as exc:
            till.reload()
            raise CheckoutError(f"Voucher payment {masked} not cancelled — {exc}. It stays on the order, "
                                "F8 tries again") from None
        till.reload()
        text = f"Voucher {masked} payment {tender.amount.amount_str()} cancelled"
        if result.new_balance is not None:
            text += f" — balance back to {result.new_balance.amount_str()}"
        return Outcome(Notice(text, Level.WARNING))

    async def void_all(self) -> list[str]:
        """Void every voucher payment of the order; the failures, one line each."""
        failures = []
        for tender in list(self.till.order.active_tenders):
            if tender.kind is not TenderKind.VOUCHER:
                continue
            try:
                await self.void(tender.id)
            except CheckoutError as exc:
                failures.append(str(exc))
                continue
            still = self.till.order.tender(tender.id)
            if still.active:  # resolved as "cancel did not happen", or redeem found done
                failures.append(f"{mask_code(still.code or '')}: {still.problem or 'still on the order'}")
        return failures


class UnknownOutcomeError(CheckoutError):
    """A provider call's answer was lost; its journal row stays open until resolved."""
