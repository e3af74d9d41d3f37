"""The one runner for every call that moves money or value, and the one
settling path for every answer that was lost (DESIGN.md, "Journal: write
before you send" and "Deciding a lost answer").

A call goes: read the provider's state (or take a dialog's read that is only
seconds old) → commit the intent with that state and our reference →
crash point → send → commit the outcome, or settle it when the answer is
lost or contradicts the request. Every operation of every provider takes
this path: authorize, capture, void, refund, create, undo.

Settling reads the provider's state afresh and asks the provider's own
rules (its package's ``settling``) what it shows:

* **did happen** as soon as the state shows it;
* **did not happen** only when it can no longer happen: a lookup by our
  reference says so, or the state is unchanged once the settle window
  (``[providers.<name>] settle_s`` after the send) has passed, and again on
  one more read;
* a provider still working on it (a lookup says "pending") or anything else
  is **undecided**: the operation stays open, its voucher is
  blocked, the cashier sees what is waited for, and the till looks again by
  itself (reconcile.py).

The pay flow, F8, F12 ``r``, the background re-check and start-up recovery
all settle through :func:`settle`. Nothing here knows a provider's name.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pos_app.domain.codes import mask_code
from pos_app.domain.money import Money, MoneyError
from pos_app.domain.order import Tender, TenderState
from pos_app.i18n import _
from pos_app.journal import OpRecord, OpState
from pos_app.providers import (
    Answer,
    Authorization,
    BadResponse,
    Captured,
    Judgement,
    Operation,
    OpContext,
    OpKind,
    ProviderError,
    Refs,
    RefusedError,
    Snapshot,
    UnknownOutcome,
    ValueResult,
    Verdict,
    VoidResult,
)
from pos_app.providers.base import error_text
from pos_app.services.crash import arm_after_send, crashpoint
from pos_app.services.providers import ProviderSlot
from pos_app.services.results import CheckoutError
from pos_app.services.session import Session

_log = logging.getLogger(__name__)

# How old a dialog's own balance read may be and still serve as the state
# "read right before the send": a cashier who presses Enter at once (scan,
# look, Enter takes 1-2 s) costs no extra request; one who leaves the dialog
# open gets a fresh read. Short, because the read decides a lost answer: a
# redemption elsewhere inside the window could make a refused redeem of the
# same amount look applied.
FRESH_READ_S = 3.0


class Decision(enum.StrEnum):
    DONE = "done"  # it happened (answered, or settled as applied)
    NOT_DONE = "not_done"  # it did not happen, certainly (settled)
    FAILED = "failed"  # the provider said no, or it was never sent
    UNDECIDED = "undecided"  # not known yet: the voucher stays blocked


@dataclass(frozen=True, slots=True)
class Result:
    decision: Decision
    op: OpRecord
    answer: Answer | None = None
    lost: bool = False  # the answer was lost or not trusted; the state decided
    reason: str = ""  # why it failed or is undecided, for the cashier
    error: ProviderError | None = None
    until: datetime | None = None  # undecided and waiting: decided by this time at the latest

    @property
    def done(self) -> bool:
        return self.decision is Decision.DONE


@dataclass(slots=True)
class Call:
    """One journaled provider call, as a desk describes it."""

    slot: ProviderSlot
    kind: OpKind
    code: str
    amount: Money | None
    order_id: int | None
    send: Callable[[OpContext], Awaitable[Answer]]
    tender_id: int | None = None
    line_id: int | None = None
    new_tender: Tender | None = None  # inserted with the intent (authorize)
    request: dict[str, Any] = field(default_factory=dict)
    refs: Refs = field(default_factory=dict)  # the references of what it acts on (a void: the tender's)
    before: Snapshot | None = None  # a read taken moments ago by the caller (FRESH_READ_S)


class NotSent(CheckoutError):
    """The state could not be read before the send: nothing was journaled or sent."""

    def __init__(self, message: str, error: ProviderError) -> None:
        super().__init__(message)
        self.error = error


def _not_confirmed(word: str, reason: str | None) -> str:
    return _("{operation} not confirmed: {reason}").format(operation=word, reason=reason)


def _failed(word: str, reason: str | None) -> str:
    return _("{operation} failed: {reason}").format(operation=word, reason=reason)


def _cannot_ask(slot: ProviderSlot, exc: ProviderError) -> str:
    return _("{provider} cannot be asked ({problem})").format(provider=slot.display_name, problem=exc.message)


def operation_of(op: OpRecord) -> Operation:
    return Operation(OpKind(op.operation), op.code, op.amount, op.reference, op.refs, op.request, op.before)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def answer_data(answer: Answer) -> dict[str, Any]:
    """What an answer said, for the journal (amounts in minor units, no secrets)."""
    data: dict[str, Any] = {}
    if isinstance(answer, (Authorization, VoidResult)):
        data["new_balance"] = None if answer.new_balance is None else answer.new_balance.minor
        data["amount"] = answer.amount.minor
    if isinstance(answer, VoidResult) and answer.lapses_at is not None:
        data["lapses_at"] = _iso(answer.lapses_at)  # a hold dropped on our side: blocked until then
    elif isinstance(answer, ValueResult):
        data["amount"] = answer.amount.minor
    return data


# ---------------------------------------------------------------------------
# Effects: what an outcome does to the tender or line, committed with it
# ---------------------------------------------------------------------------
def _effects(session: Session, op: OpRecord, decision: Decision, *, reason: str = "",
             answer: Answer | None = None, judgement: Judgement | None = None) -> dict[str, Any]:
    """The ``finish_op`` arguments for the tender or line of ``op``."""
    kind = OpKind(op.operation)
    slot = session.providers.get(op.provider)
    word = slot.word(kind) if slot else kind.value
    on_open_order = op.order_id == session.order_id
    refs = dict(answer.refs) if answer is not None and hasattr(answer, "refs") else dict(judgement.refs if judgement else {})
    if kind is OpKind.AUTHORIZE and op.request.get("hold") in ("merge", "renew"):
        return _rehold_effects(session, op, decision, reason=reason, answer=answer, refs=refs, word=word)
    if kind is OpKind.AUTHORIZE:
        if decision is Decision.DONE:
            if isinstance(answer, Authorization):
                after = answer.new_balance
            elif judgement is not None and judgement.balance is not None and op.amount is not None:
                after = Money(judgement.balance, op.amount.currency)
            else:
                after = None
            problem = None
            if not refs and answer is None:
                who = session.display_name(op.provider)
                problem = _("held; its answer was lost, so the till holds it again when the order closes") \
                    if slot is not None and slot.descriptor is not None and slot.descriptor.policy.captures else \
                    _("paid; it cannot be cancelled at the till (its answer was lost): only {provider} "
                      "can reverse it").format(provider=who)
            return {"tender": {"state": TenderState.AUTHORIZED, "refs": refs, "balance_after": after,
                               "problem": problem}}
        if decision is Decision.NOT_DONE:
            return {"void_tender": True, "tender": {"problem": None}}
        if decision is Decision.FAILED:
            return {"void_tender": True, "tender": {"problem": reason}}
        return {"tender": {"state": TenderState.UNKNOWN, "problem": _not_confirmed(word, reason)}}
    if kind in (OpKind.VOID, OpKind.REFUND):
        if not on_open_order:
            return {}  # a voided sale keeps its tenders; the journal records the reversal next to them
        if decision is Decision.DONE:
            after = answer.new_balance if isinstance(answer, VoidResult) else (
                Money(judgement.balance, op.amount.currency)
                if judgement is not None and judgement.balance is not None and op.amount else None)
            return {"void_tender": True, "tender": {"problem": None, "balance_after": after}}
        if decision is Decision.NOT_DONE:
            return {"tender": {"problem": _("{operation} did not happen: F8 tries again").format(operation=word)}}
        if decision is Decision.FAILED:
            return {"tender": {"problem": _failed(word, reason)}}
        return {"tender": {"problem": _not_confirmed(word, reason)}}
    if kind is OpKind.CAPTURE:
        if decision is Decision.DONE:
            return {"tender": {"state": TenderState.CAPTURED, "refs": refs, "problem": None}}
        if decision is Decision.NOT_DONE:
            return {"tender": {"problem": None}}
        return {"tender": {"problem": _failed(word, reason) if decision is Decision.FAILED
                           else _not_confirmed(word, reason)}}
    if kind is OpKind.CREATE:
        if decision is Decision.DONE:
            return {"line": {"activated": True, "refs": refs, "problem": None}}
        if decision is Decision.NOT_DONE:
            return {"line": {"problem": None}}
        if decision is Decision.FAILED:
            return {"line": {"problem": reason}}
        return {"line": {"problem": _not_confirmed(word, reason)}}
    if kind is OpKind.UNDO:
        if decision is Decision.DONE:
            return {"line": {"undone": True, "void": on_open_order, "problem": None}}
        return {}
    return {}


def _rehold_effects(session: Session, op: OpRecord, decision: Decision, *, reason: str, answer: Answer | None,
                    refs: dict[str, Any], word: str) -> dict[str, Any]:
    """A new hold on a payment already on the order (one hold per voucher): a second
    payment with the same voucher merged into it (``"merge"``, for the sum), or a
    hold that lapsed taken again at close (``"renew"``). The new hold replaces the
    old one at the provider only when it is made."""
    merge = op.request.get("hold") == "merge"
    if decision is Decision.DONE:
        after = answer.new_balance if isinstance(answer, Authorization) else None
        changes: dict[str, Any] = {"state": TenderState.AUTHORIZED, "refs": refs, "problem": None}
        if op.amount is not None:
            changes["amount"] = op.amount
        if after is not None:
            changes["balance_after"] = after
        if not refs and answer is None:  # decided by the voucher's lock: no reservation id to charge
            changes["problem"] = _("held; its answer was lost, so the till holds it again when the order closes")
        return {"tender": changes}
    if decision is Decision.UNDECIDED:
        return {"tender": {"state": TenderState.UNKNOWN, "problem": _not_confirmed(word, reason)}}
    if merge:  # the earlier hold stands, for the earlier amount
        return {"tender": {"state": TenderState.AUTHORIZED,
                           "problem": None if decision is Decision.NOT_DONE else reason}}
    return {"void_tender": True, "tender": {"problem": reason or None}}  # the lapsed hold is gone: nothing paid


# ---------------------------------------------------------------------------
# The runner
# ---------------------------------------------------------------------------
async def read_state(slot: ProviderSlot, op: Operation) -> Snapshot:
    """The provider's state for ``op``; ProviderError when it cannot be read."""
    assert slot.client is not None
    try:
        state = await slot.client.state_of(op)
    except ProviderError as exc:
        slot.mark(exc)
        raise
    except Exception as exc:  # noqa: BLE001 - a bug in reading: the operation stays open, the till runs on
        _log.exception("%s: reading the state of a %s failed", slot.name, op.kind.value)
        raise BadResponse(_("the till could not read {provider}'s state ({error})").format(
            provider=slot.display_name, error=type(exc).__name__), slot.name, operation=op.kind.value) from None
    slot.mark(None)
    return state


async def run(session: Session, call: Call) -> Result:
    """Journal, send and decide one call. Raises :class:`NotSent` when the state
    could not be read first (nothing journaled, nothing sent)."""
    slot = call.slot
    assert slot.client is not None and slot.descriptor is not None and slot.settings is not None
    journal = session.journal
    probe = Operation(call.kind, call.code, call.amount, "", call.refs, call.request)
    before = call.before
    if before is None:
        try:
            before = await read_state(slot, probe)
        except ProviderError as exc:
            # Without a lookup by our reference the state before decides a lost
            # answer: nothing is sent without it. With one, the lookup decides,
            # and the state before only checks the answer: send without it.
            if not slot.descriptor.policy.lookup_by_reference:
                raise NotSent(exc.message, exc) from None
    if call.kind in (OpKind.AUTHORIZE, OpKind.VOID):
        check_late(session, slot, call.code, before)
    if call.kind is OpKind.CREATE and before is not None:
        refuse_done_elsewhere(slot, probe, before)
    now = session.utcnow()
    settle_by = now + timedelta(seconds=slot.settings.settle_s + slot.settings.timeout_s)
    policy = slot.descriptor.policy
    if call.kind in policy.deduplicated:
        # A request the provider may get twice (replay) goes out with the time of the
        # first send: CSQ keys a purchase by its reference and the day of that time.
        call.request = {**call.request, "local_at": session.clock().isoformat(timespec="seconds")}
    scope = str(getattr(slot.settings, policy.reference_scope)) if policy.reference_scope else ""
    op_id, reference, tender_id = journal.begin_op(
        provider=slot.name, operation=call.kind.value, code=call.code, currency=session.currency,
        reference=lambda sequence: policy.reference(journal.outlet, journal.till, sequence, scope),
        amount=call.amount, order_id=call.order_id, tender_id=call.tender_id, line_id=call.line_id,
        new_tender=call.new_tender, request=call.request, before=before, before_at=_iso(now),
        settle_by=_iso(settle_by), refs=dict(call.refs),
    )
    return await _send(session, slot, journal.op(op_id), call.send, before)


async def replay(session: Session, slot: ProviderSlot, op: OpRecord,
                 send: Callable[[OpContext], Awaitable[Answer]]) -> Result:
    """Send an operation decided "did not happen" again, under its own reference.

    Only for a request the provider deduplicates by our reference
    (``ProviderPolicy.deduplicated``: CSQ's purchase by ``localReference``): if
    the first send still arrives, the provider answers both with the one
    result, so nothing is bought twice. Any other request gets a new call with
    a new reference once it is certain the first never happens."""
    assert slot.descriptor is not None and slot.settings is not None
    kind = OpKind(op.operation)
    if kind not in slot.descriptor.policy.deduplicated:
        raise ValueError(f"{slot.name} does not deduplicate a {kind.value}: it is never sent twice")
    view = operation_of(op)
    try:
        before: Snapshot | None = await read_state(slot, view)
    except ProviderError:
        before = None  # deduplicated and looked up by our reference: the lookup decides, not this read
    now = session.utcnow()
    settle_by = now + timedelta(seconds=slot.settings.settle_s + slot.settings.timeout_s)
    session.journal.reopen_op(op.id, before=before, before_at=_iso(now), settle_by=_iso(settle_by))
    return await _send(session, slot, session.journal.op(op.id), send, before)


async def _send(session: Session, slot: ProviderSlot, op: OpRecord,
                send: Callable[[OpContext], Awaitable[Answer]], before: Snapshot | None) -> Result:
    """Send a journaled intent (state ``sent``) and journal what came of it."""
    journal = session.journal
    op_id, kind = op.id, OpKind(op.operation)
    crashpoint(f"{kind.value}:before_send")
    arm_after_send(kind.value)
    number = None
    if op.order_id is not None:
        number = journal.load_order(op.order_id).number
    first = op.request.get("local_at")
    ctx = OpContext(op.reference, number, datetime.fromisoformat(first) if first else session.clock())
    try:
        answer = await send(ctx)
    except UnknownOutcome as exc:
        slot.mark(exc)
        journal.finish_op(op_id, OpState.UNKNOWN, error=exc.message,
                          **_effects(session, op, Decision.UNDECIDED, reason=_("no answer")))
        return await settle(session, journal.op(op_id), lost=True)
    except ProviderError as exc:
        slot.mark(exc)
        reason = error_text(exc, slot.display_name)
        journal.finish_op(op_id, OpState.FAILED, error=reason,
                          **_effects(session, op, Decision.FAILED, reason=reason))
        return Result(Decision.FAILED, journal.op(op_id), reason=reason, error=exc)
    except (MoneyError, ValueError) as exc:  # the client refused to send it (checked before any I/O)
        reason = _("the till did not send it: {problem}").format(problem=exc)
        journal.finish_op(op_id, OpState.FAILED, error=reason,
                          **_effects(session, op, Decision.FAILED, reason=reason))
        return Result(Decision.FAILED, journal.op(op_id), reason=reason)
    except Exception as exc:  # noqa: BLE001 - a bug on our side of the wire: the request may be out
        _log.exception("%s %s: unexpected %s while sending", slot.name, kind.value, type(exc).__name__)
        reason = _("the till failed while sending it ({error})").format(error=type(exc).__name__)
        journal.finish_op(op_id, OpState.UNKNOWN, error=reason,
                          **_effects(session, op, Decision.UNDECIDED, reason=_("no answer")))
        return await settle(session, journal.op(op_id), lost=True)
    crashpoint(f"{kind.value}:after_response")
    slot.mark(None)
    why = contradiction(slot, operation_of(op), before, answer)
    if why is not None:
        # Not trusted: journaled with what it said, and settled like a lost answer.
        journal.finish_op(op_id, OpState.UNKNOWN, refs=dict(getattr(answer, "refs", {})),
                          result=answer_data(answer), error=why,
                          flag=_("contradicting answer: {problem}").format(problem=why),
                          **_effects(session, op, Decision.UNDECIDED, reason=_("the answer contradicts the request")))
        return await settle(session, journal.op(op_id), lost=True)
    journal.finish_op(op_id, OpState.OK, refs=dict(getattr(answer, "refs", {})), result=answer_data(answer),
                      **_effects(session, op, Decision.DONE, answer=answer))
    return Result(Decision.DONE, journal.op(op_id), answer)


def refuse_done_elsewhere(slot: ProviderSlot, op: Operation, before: Snapshot) -> None:
    """A value line is created only when the state read just before shows it not
    created: a gift voucher activated elsewhere since it was checked (JTL answers a
    second activation with 200 and changes nothing) must not be sold again.
    Our own earlier attempt is settled before this (gifts.py), so what the state
    shows here is someone else's doing. NotSent: nothing journaled, nothing sent."""
    assert slot.descriptor is not None
    seen = slot.descriptor.settling.judge(op, None, before)
    if seen.verdict not in (Verdict.APPLIED, Verdict.OTHER):
        return
    message = _("{provider} shows it {done} already: someone else did it since it was checked; nothing was "
                "sent — select the line, F8 removes it").format(provider=slot.display_name,
                                                                 done=slot.done_word(OpKind.CREATE))
    if seen.reason:
        message += f" ({seen.reason})"
    raise NotSent(message, RefusedError(message, slot.name, provider_message="", operation=op.kind.value))


def contradiction(slot: ProviderSlot, op: Operation, before: Snapshot | None, answer: Answer) -> str | None:
    """Why an answer cannot be what was asked: the core's own checks, then the provider's."""
    assert slot.descriptor is not None
    if isinstance(answer, (Authorization, VoidResult)):
        if op.amount is not None and answer.amount != op.amount:
            return _("{provider} answered {amount}, {asked} was asked").format(
                provider=slot.display_name, amount=answer.amount.shown(), asked=op.amount.shown())
    if isinstance(answer, Captured) and answer.amount is not None and op.amount is not None \
            and answer.amount != op.amount:
        return _("{provider} charged {amount}, {asked} was asked").format(
            provider=slot.display_name, amount=answer.amount.shown(), asked=op.amount.shown())
    return slot.descriptor.settling.contradiction(op, before, answer)


# ---------------------------------------------------------------------------
# Settling
# ---------------------------------------------------------------------------
def deadline(session: Session, op: OpRecord) -> datetime:
    """Before this time a lost answer may still be applied: never "did not happen"."""
    if op.settle_by:
        return _parse(op.settle_by)
    slot = session.providers.get(op.provider)
    settle_s = slot.settings.settle_s + slot.settings.timeout_s if slot and slot.settings else 3600.0
    return _parse(op.sent_at) + timedelta(seconds=settle_s)


async def settle(session: Session, op: OpRecord, *, lost: bool = False) -> Result:
    """Decide an open operation by the provider's state, read afresh; journal it."""
    slot = session.providers.get(op.provider)
    view = operation_of(op)
    if slot is None or slot.client is None or slot.descriptor is None:
        why = slot.problem if slot is not None and slot.problem else \
            _("{provider} is not configured").format(provider=op.provider)
        return undecided(session, op, why or _("the provider cannot be used"), lost=lost)
    try:
        now = await read_state(slot, view)
    except ProviderError as exc:
        return undecided(session, op, _cannot_ask(slot, exc), lost=lost)
    judgement = slot.descriptor.settling.judge(view, op.before, now)
    if judgement.verdict is Verdict.UNCHANGED and session.utcnow() >= deadline(session, op):
        try:  # the settle window has passed: one more read must agree
            again = await read_state(slot, view)
        except ProviderError as exc:
            return undecided(session, op, _cannot_ask(slot, exc), lost=lost)
        judgement = slot.descriptor.settling.judge(view, op.before, again)
        if judgement.verdict is Verdict.UNCHANGED:
            judgement = Judgement(Verdict.NOT_APPLIED, _("unchanged after the settle window"), judgement.refs)
    if judgement.verdict is Verdict.APPLIED:
        return decide(session, op, Decision.DONE, judgement.reason or _("the state shows it"), judgement, lost)
    if judgement.verdict is Verdict.NOT_APPLIED:
        return decide(session, op, Decision.NOT_DONE, judgement.reason or _("it never arrived"), judgement, lost)
    if judgement.verdict is Verdict.PENDING:
        return undecided(session, op, judgement.reason or _("{provider} is still working on it").format(
            provider=slot.display_name), lost=lost)
    if judgement.verdict is Verdict.UNCHANGED:
        until = deadline(session, op)
        return undecided(session, op, _("waiting for {provider}, which may still carry it out").format(
            provider=slot.display_name), lost=lost, until=until)
    return undecided(session, op, judgement.reason or _("the state shows something else"), lost=lost)


def decide(session: Session, op: OpRecord, decision: Decision, how: str,
           judgement: Judgement | None = None, lost: bool = True) -> Result:
    state = OpState.DONE if decision is Decision.DONE else OpState.NOT_DONE
    result = {**op.result, "resolved_by": how}
    if op.error:  # why it was open (the lost answer, the last wait): kept in the result
        result["while_open"] = op.error
    session.journal.finish_op(op.id, state, refs=dict(judgement.refs) if judgement else None,
                              result=result, clear_error=True,
                              **_effects(session, op, decision, judgement=judgement))
    return Result(decision, session.journal.op(op.id), lost=lost, reason=how)


def undecided(session: Session, op: OpRecord, reason: str, *, lost: bool = True,
              until: datetime | None = None) -> Result:
    # on the order (a narrow pane): what is waited for, short; the journal keeps the reason
    shown = _("waiting until {time}").format(time=f"{until.astimezone():%H:%M:%S}") if until is not None \
        else reason
    session.journal.finish_op(op.id, OpState.UNKNOWN, error=reason,
                              **_effects(session, op, Decision.UNDECIDED, reason=shown))
    crashpoint(f"{op.operation}:undecided")
    return Result(Decision.UNDECIDED, session.journal.op(op.id), lost=lost, reason=reason, until=until)


# ---------------------------------------------------------------------------
# Late contradictions
# ---------------------------------------------------------------------------
def check_late(session: Session, slot: ProviderSlot, code: str, state: Snapshot | None) -> list[str]:
    """A redemption decided "did not happen" that a later balance read shows applied.

    Compared only while it is this till's last operation on the voucher
    (a later one of ours moved the balance, and read it before it did).
    The finding is flagged on the operation (F12) and journaled; nothing is
    undone by it: a person must reverse it with the provider or refund the customer.
    """
    if state is None or slot.descriptor is None or slot.descriptor.policy.captures:
        # A hold decided "did not happen" that shows later took no money: it lapses (JTL).
        return []
    journal = session.journal
    found = []
    ops = journal.ops(code=code)
    for index, op in enumerate(ops):
        if (op.provider != slot.name or op.operation != OpKind.AUTHORIZE.value
                or op.state != OpState.NOT_DONE or op.flag):
            continue
        if any(later.state in (OpState.OK, OpState.DONE, OpState.SENT, OpState.UNKNOWN) for later in ops[index + 1:]):
            continue
        judgement = slot.descriptor.settling.judge(operation_of(op), op.before, state)
        if judgement.verdict is Verdict.APPLIED:
            amount = op.amount.shown_with_currency() if op.amount else "?"
            text = _("late contradiction: the {operation} of {amount} on {code} ({order}) was decided 'did not "
                     "happen', but the balance now shows it — the customer was charged: ask {provider} to reverse "
                     "it (reference {reference}) or refund the customer").format(
                operation=slot.word(OpKind.AUTHORIZE), amount=amount, code=mask_code(code),
                order=session.where(op.order_id), provider=slot.display_name, reference=op.reference)
            journal.flag_op(op.id, text)
            found.append(text)
    return found
