"""What the cashier reads about a provider operation: one place for the words,
so the pay flow, F8, the background re-check, F12 and start-up say the same.

A provider's own text (E-GUMA's is German) is never the till's explanation: the
till says what happened in the outlet's language, derived from the error's type,
status and operation, and shows the provider's words beside it, labelled as
such (``E-GUMA says: «...»``)."""

from __future__ import annotations

from datetime import UTC, datetime

from pos_app.domain.codes import mask_code
from pos_app.i18n import _
from pos_app.journal import OpRecord
from pos_app.providers import AuthenticationError, OpKind, PermissionDenied, ProviderError, RefusedError
from pos_app.providers.base import with_provider_words
from pos_app.services.journaled import Decision, Result
from pos_app.services.session import Session


def describe(error: ProviderError, display_name: str, hint: bool = True, key_command: str | None = None) -> str:
    """What the cashier reads about a failed call: the till's explanation, the
    provider's own words labelled as such where there are any, and (``hint``) what
    to do.

    ``hint=False`` leaves out the generic advice (which speaks of taking
    another payment method) where it does not fit, e.g. for a cancellation.
    """
    if isinstance(error, RefusedError):
        return with_provider_words(error.message.rstrip("."), display_name, error.provider_message)
    advice = error.hint
    if isinstance(error, AuthenticationError) and key_command and not isinstance(error, PermissionDenied):
        advice = (_("Check the API key with `{command}`.") if "--field api_key" in key_command else
                  _("Check the {provider} credentials with `{command}`.")).format(
            command=key_command, provider=display_name)
    text = f"{error.message} {advice}" if hint else error.message
    return text.rstrip(".")


def refusal_reason(display_name: str, explanation: str, provider_text: str | None) -> str:
    """Why a voucher cannot do something now (a status answer, not an error): the
    till's ``explanation`` and the provider's own words."""
    return with_provider_words(explanation, display_name, provider_text)


def what(session: Session, op: OpRecord) -> str:
    """``"The redemption of CHF 50.00 on …KJR3"``."""
    slot = session.providers.get(op.provider)
    word = slot.word(op.operation) if slot else op.operation
    code = mask_code(op.code)
    if op.amount is None:
        return _("The {operation} on {code}").format(operation=word, code=code)
    return _("The {operation} of {amount} on {code}").format(operation=word, amount=op.amount.shown_with_currency(),
                                                             code=code)


def waiting(result: Result) -> str:
    """How long an undecided operation may still take, roughly."""
    if result.until is None:
        return ""
    left = max(0, round((result.until - datetime.now(UTC)).total_seconds()))
    return " " + _("(decided by {time} at the latest, in about {seconds} s)").format(
        time=f"{result.until.astimezone():%H:%M:%S}", seconds=left)


def outcome_text(session: Session, result: Result) -> str:
    """The decision on an operation and what it means for the order."""
    op = result.op
    head = what(session, op)
    where = session.where(op.order_id)
    kind = OpKind(op.operation)
    if result.decision is Decision.UNDECIDED:
        return _("{operation} is not decided yet — {reason}{waiting}").format(
            operation=head, reason=result.reason, waiting=waiting(result))
    done = result.decision is Decision.DONE
    if kind is OpKind.AUTHORIZE:
        text = _("{operation} did happen — kept on {order}") if done else \
            _("{operation} did not happen — removed from {order}; nothing was charged")
    elif kind in (OpKind.VOID, OpKind.REFUND):
        if op.order_id == session.order_id:
            text = _("{operation} did happen — the payment is removed") if done else \
                _("{operation} did not happen — the payment is still on the order; F8 tries again")
        else:
            text = _("{operation} did happen — the money is back on the voucher") if done else \
                _("{operation} did not happen — the payment is still on {order}")
    elif kind is OpKind.CAPTURE:
        text = _("{operation} did happen") if done else \
            _("{operation} did not happen — closing the order tries again")
    elif kind is OpKind.CREATE:
        text = _("{operation} did happen — the gift voucher is active") if done else \
            _("{operation} did not happen — it runs again when {order} closes")
    elif kind is OpKind.UNDO:
        if op.order_id == session.order_id:
            text = _("{operation} did happen — it is off the order; F9 finishes cancelling the order") if done \
                else _("{operation} did not happen — F9 cancels the order again")
        else:
            text = _("{operation} did happen") if done else \
                _("{operation} did not happen — F9 on an empty order continues the void of {order}")
    else:
        text = {Decision.DONE: _("{operation} did happen"), Decision.NOT_DONE: _("{operation} did not happen")}.get(
            result.decision, _("{operation} failed"))
    return text.format(operation=head, order=where)
