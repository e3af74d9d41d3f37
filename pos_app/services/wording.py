"""What the cashier reads about a provider operation: one place for the words,
so the pay flow, F8, the background re-check, F12 and start-up say the same."""

from __future__ import annotations

from datetime import UTC, datetime

from pos_app.domain.codes import mask_code
from pos_app.journal import OpRecord
from pos_app.providers import AuthenticationError, OpKind, ProviderError, RefusedError
from pos_app.services.journaled import Decision, Result
from pos_app.services.session import Session


def describe(error: ProviderError, display_name: str, hint: bool = True, key_command: str | None = None) -> str:
    """One line for the cashier: the provider's own words where there are any.

    ``hint=False`` leaves out the generic advice (which speaks of taking
    another payment method) where it does not fit, e.g. for a cancellation.
    """
    if isinstance(error, RefusedError):
        return f"{display_name}: {error.provider_message or error.message}".rstrip(".")
    advice = error.hint
    if isinstance(error, AuthenticationError) and key_command:
        what = "API key" if "--field api_key" in key_command else f"{display_name} credentials"
        advice = f"Check the {what} with `{key_command}`."
    text = f"{error.message} {advice}" if hint else error.message
    return text.rstrip(".")


def what(session: Session, op: OpRecord) -> str:
    """``"The redemption of CHF 50.00 on …KJR3"``."""
    slot = session.providers.get(op.provider)
    word = slot.word(op.operation) if slot else op.operation
    amount = f" of {op.amount}" if op.amount is not None else ""
    return f"The {word}{amount} on {mask_code(op.code)}"


def waiting(result: Result) -> str:
    """How long an undecided operation may still take, roughly."""
    if result.until is None:
        return ""
    left = max(0, round((result.until - datetime.now(UTC)).total_seconds()))
    return f" (decided by {result.until.astimezone():%H:%M:%S} at the latest, in about {left} s)"


def outcome_text(session: Session, result: Result) -> str:
    """The decision on an operation and what it means for the order."""
    op = result.op
    head = what(session, op)
    where = session.where(op.order_id)
    kind = OpKind(op.operation)
    if result.decision is Decision.UNDECIDED:
        return f"{head} is not decided yet — {result.reason}{waiting(result)}"
    done = result.decision is Decision.DONE
    if kind is OpKind.AUTHORIZE:
        return (f"{head} did happen — kept on {where}" if done
                else f"{head} did not happen — removed from {where}; nothing was charged")
    if kind in (OpKind.VOID, OpKind.REFUND):
        if op.order_id == session.order_id:
            return (f"{head} did happen — the payment is removed" if done
                    else f"{head} did not happen — the payment is still on the order; F8 tries again")
        return (f"{head} did happen — the money is back on the voucher" if done
                else f"{head} did not happen — the payment is still on {where}")
    if kind is OpKind.CAPTURE:
        return f"{head} did happen" if done else f"{head} did not happen — closing the order tries again"
    if kind is OpKind.CREATE:
        return (f"{head} did happen — the gift voucher is active" if done
                else f"{head} did not happen — it runs again when {where} closes")
    if kind is OpKind.UNDO:
        if op.order_id == session.order_id:
            return (f"{head} did happen — it is off the order; F9 finishes cancelling the order" if done
                    else f"{head} did not happen — F9 cancels the order again")
        return (f"{head} did happen" if done
                else f"{head} did not happen — F9 on an empty order continues the void of {where}")
    return f"{head}: {result.decision.value}"
