"""The provider port: what the till asks of any voucher provider.

Every provider (E-GUMA, JTL, CSQ, Celbux) is reached through one
:class:`VoucherProvider` object. The port has three parts:

* **Capabilities** – which operations a provider offers. An operation the
  provider does not offer raises :class:`UnsupportedOperation`; that is the
  contract, not a stub. :class:`ProviderBase` gives those defaults.
* **Typed results** – frozen dataclasses holding :class:`Money`, converted at
  the provider edge, so nothing above this layer sees cents, ``"10.53"``
  strings or ``X100`` integers.
* **A typed error tree** – built from the status code / transport failure in
  one place per client (the stripe-python model). Every error carries a
  cashier-readable ``message`` and a ``hint`` (what to do next); neither ever
  contains a secret.

How the error tree answers "did it happen?" (the question the journal needs):

==========================  =======================  ==========================
error                       request processed?       what the caller does
==========================  =======================  ==========================
AuthenticationError         no                       fix the key, nothing to undo
RefusedError / NotFound     no (provider said no)    show ``provider_message``
UnavailableError            no                       other tender or try again
ProviderTimeout             no (not sent, or a GET)  other tender or try again
UnknownOutcome              maybe                    reconcile before anything
BadResponse (GET)           irrelevant (read only)   try again
BadResponseUnknownOutcome   maybe (POST answered     reconcile, like
                            with an unreadable body) UnknownOutcome
==========================  =======================  ==========================

``BadResponse`` for a mutating call is :class:`BadResponseUnknownOutcome`,
which is *both* a ``BadResponse`` and an ``UnknownOutcome``: a handler that
catches ``UnknownOutcome`` reconciles it, which is the safe reading of a
POST whose answer could not be read. Use :func:`bad_response` to pick.
"""

from __future__ import annotations

import enum
import html
import importlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import ModuleType
from typing import Any, ClassVar, Protocol, runtime_checkable
from urllib.parse import quote, quote_plus

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pos_app.domain.codes import mask_code
from pos_app.domain.money import Money
from pos_app.i18n import N_, _

__all__ = [
    "Answer",
    "AuthenticationError",
    "Authorization",
    "BadResponse",
    "BadResponseUnknownOutcome",
    "Capability",
    "Captured",
    "ClientSpec",
    "HoldLapsed",
    "Judgement",
    "NotFoundError",
    "NotReady",
    "OpContext",
    "OpKind",
    "Offer",
    "OfferField",
    "Operation",
    "PermissionDenied",
    "ProviderBase",
    "ProviderDescriptor",
    "ProviderError",
    "ProviderPolicy",
    "ProviderSettings",
    "ProviderTimeout",
    "Refs",
    "RefusedError",
    "Settling",
    "Snapshot",
    "TENDER_KINDS",
    "TenderRef",
    "UnavailableError",
    "UndoCheck",
    "UnknownOutcome",
    "UnsupportedOperation",
    "VALUE_KINDS",
    "ValueCheck",
    "ValueKind",
    "ValueResult",
    "Verdict",
    "VoidResult",
    "VoucherBalance",
    "VoucherProvider",
    "bad_response",
    "REDACTED",
    "RedactingLogFilter",
    "clean_log_text",
    "install_httpx_log_redaction",
    "mask_codes_in_paths",
    "redact",
    "redact_json",
]


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------
class ProviderError(Exception):
    """Base of every provider failure.

    ``message`` says what happened in words a cashier understands; ``hint``
    says what to do. ``provider`` is the provider id (``"eguma"``), used in
    hints such as ``pos keys set --provider eguma``. ``operation`` names the
    call (``"redeem"``) for logs and the journal.

    ``safe_to_retry`` is True only when the request certainly had no effect
    at the provider, so sending it again cannot apply it twice.
    ``outcome_unknown`` is True when the provider may have applied it.
    """

    default_hint: ClassVar[str] = N_("Try again; if it keeps happening, call support.")
    safe_to_retry: ClassVar[bool] = False
    outcome_unknown: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        provider: str,
        *,
        hint: str | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.operation = operation
        self.hint = hint if hint is not None else _(self.default_hint).format(provider=provider)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, provider={self.provider!r}, "
            f"operation={self.operation!r})"
        )


class UnsupportedOperation(ProviderError):
    """The provider does not offer this operation (see ``capabilities``)."""

    default_hint = N_("This provider cannot do that; use another payment method or provider.")

    def __init__(
        self, capability: Capability, provider: str, *, display_name: str | None = None
    ) -> None:
        self.capability = capability
        who = display_name or provider
        super().__init__(
            _("{provider} does not support {operation}.").format(provider=who, operation=capability.value),
            provider,
            operation=capability.value,
        )


class AuthenticationError(ProviderError):
    """The provider rejected our credentials (HTTP 401/403): bad or missing key."""

    default_hint = N_("Check the API key with `pos keys set --provider {provider}`.")


class PermissionDenied(AuthenticationError):
    """The credentials are right, but they lack a permission this call needs (JTL:
    a scope of the client group, HTTP 403). Its hint says where to grant it; the
    credentials themselves need no change."""

    default_hint = N_("Grant the missing permission in the provider's admin interface, then try again.")


class RefusedError(ProviderError):
    """The provider understood the request and said no.

    ``provider_message`` is the provider's own text (e.g. German from
    E-GUMA), to be shown to the cashier verbatim. Nothing was applied.
    """

    default_hint = N_("Tell the customer the provider's message; take another payment method if needed.")

    def __init__(
        self,
        message: str,
        provider: str,
        *,
        provider_message: str,
        hint: str | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message, provider, hint=hint, operation=operation)
        self.provider_message = provider_message


# The till's own explanation of a refusal, by the operation the provider refused
# (the provider's own text, often German, is shown beside it, labelled as its words).
_REFUSED: dict[str, str] = {
    "balance": N_("{provider} refused the balance check."),
    "lookup": N_("{provider} refused the balance check."),
    "redeem": N_("{provider} refused the payment."),
    "hold": N_("{provider} refused the payment."),
    "authorize": N_("{provider} refused the payment."),
    "capture": N_("{provider} refused to complete the payment."),
    "cancel_redemption": N_("{provider} refused to cancel the payment."),
    "release": N_("{provider} refused to cancel the payment."),
    "void": N_("{provider} refused to cancel the payment."),
    "refund": N_("{provider} refused the refund."),
    "activate_status": N_("{provider} refused the gift voucher check."),
    "deactivate_status": N_("{provider} refused the gift voucher check."),
    "activate": N_("{provider} refused to activate the gift voucher."),
    "issue": N_("{provider} refused to activate the gift voucher."),
    "deactivate": N_("{provider} refused to deactivate the gift voucher."),
    "cancel": N_("{provider} refused to deactivate the gift voucher."),
}


def refused_text(provider: str, operation: str | None, *, not_found: bool = False) -> str:
    """The till's words for a refusal (``"E-GUMA refused the payment."``), from what
    was asked and what the provider's status said, never from its wording."""
    if not_found:
        return _("{provider} does not know this voucher.").format(provider=provider)
    return _(_REFUSED.get(operation or "", N_("{provider} refused the request."))).format(provider=provider)


def provider_says(provider: str, text: str) -> str:
    """The provider's own words, labelled as such: ``E-GUMA says: «Gutschein ungültig»``."""
    return _("{provider} says: «{text}»").format(provider=provider, text=text)


def with_provider_words(explanation: str, provider: str, provider_text: str | None) -> str:
    """The till's ``explanation``, then on the next line the provider's own words
    (when it gave any that say more than the explanation)."""
    text = (provider_text or "").strip()
    if not text or text == explanation:
        return explanation
    return f"{explanation}\n{provider_says(provider, text)}"


def error_text(error: ProviderError, provider: str) -> str:
    """An error's message with the provider's own words of a refusal (journal, F12)."""
    if isinstance(error, RefusedError):
        return with_provider_words(error.message, provider, error.provider_message)
    return error.message


class NotFoundError(RefusedError):
    """The provider does not know this voucher (or token).

    A subclass of :class:`RefusedError`: it is a refusal with a provider
    message, and nothing was applied; catch it first to offer "scan again".
    """

    default_hint = N_("Check the code: scan it again or type it exactly as printed.")


class HoldLapsed(RefusedError):
    """A capture refused because the hold it needs is gone: it expired, or a newer
    hold on the same voucher replaced it (JTL ``RESERVATION.EXPIRED``/``REPLACED``).
    Nothing was charged; the voucher may be held again (the cashier confirms) and
    then captured."""

    default_hint = N_("Hold the voucher again (the till asks), then close the order.")


class NotReady(ProviderError):
    """The provider has not finished preparing what was asked (CSQ additional data
    answering 404 while it processes): nothing is wrong; ask again shortly."""

    default_hint = N_("Wait a moment; the till asks again by itself.")
    safe_to_retry = True


class UnavailableError(ProviderError):
    """The provider could not be reached or failed (connect error, 5xx).

    The request was not applied, so it is safe to try again.
    """

    default_hint = N_("Provider unreachable — take another payment method or try again.")
    safe_to_retry = True


class ProviderTimeout(UnavailableError):
    """No connection or answer in time, and the request certainly had no effect.

    Raised for connect/pool timeouts (nothing was sent) and for timeouts on
    read-only calls. A timeout after a mutating request was sent is an
    :class:`UnknownOutcome` instead.
    """

    default_hint = N_(
        "Provider did not answer in time — nothing was charged; "
        "try again or take another payment method."
    )


class UnknownOutcome(ProviderError):
    """A mutating request was sent and no usable answer came back.

    The provider may or may not have applied it. Never send it again blindly:
    reconcile first with the provider's own lookup (for E-GUMA: Balance,
    compared with the balance seen before).
    """

    default_hint = N_(
        "Do not retry: the till must first check with the provider whether it happened "
        "(see the status screen)."
    )
    outcome_unknown = True


class BadResponse(ProviderError):
    """The provider answered with a body we cannot read (not JSON, missing fields)."""

    default_hint = N_("Try again; if it keeps happening, call support.")


class BadResponseUnknownOutcome(BadResponse, UnknownOutcome):
    """An unreadable answer to a mutating request: it may have been applied."""

    default_hint = UnknownOutcome.default_hint
    outcome_unknown = True


def bad_response(
    message: str, provider: str, *, mutating: bool, operation: str | None = None
) -> BadResponse:
    """The right :class:`BadResponse` for the call: a POST's is an unknown outcome."""
    cls = BadResponseUnknownOutcome if mutating else BadResponse
    return cls(message, provider, operation=operation)


# ---------------------------------------------------------------------------
# Secrets never leave this layer
# ---------------------------------------------------------------------------
_SECRET_PARAM = re.compile(
    r"(?i)\b(apikey|api_key|api-key|key|token|access_token|client_secret|secret|password|pin)"
    r"=([^&\s\"'<>]+)"
)
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+")
REDACTED = "***"
# A run of this many characters of a secret is masked wherever it is (a key the
# provider cut, or echoed in part); at the very start or end of a text, where a
# provider's own cut leaves it, a shorter piece is.
MIN_FRAGMENT = 8
MIN_EDGE_FRAGMENT = 6


def _forms(secret: str) -> list[str]:
    """The ways a provider may echo a secret: verbatim, JSON-escaped (also ``\\/``),
    percent-encoded, HTML-escaped; longest first."""
    escaped = json.dumps(secret)[1:-1]
    forms = {secret, escaped, escaped.replace("/", "\\/"), json.dumps(secret, ensure_ascii=False)[1:-1],
             quote(secret, safe=""), quote(secret), quote_plus(secret), html.escape(secret)}
    return sorted((f for f in forms if f), key=len, reverse=True)


def _fragment_spans(text: str, secret: str) -> list[tuple[int, int]]:
    """Where pieces of ``secret`` are in ``text``: runs of at least MIN_FRAGMENT of
    its characters, and a start that is its end or an end that is its start."""
    spans: list[tuple[int, int]] = []
    size = len(secret)
    if size > MIN_FRAGMENT:
        grams = {secret[i:i + MIN_FRAGMENT] for i in range(size - MIN_FRAGMENT + 1)}
        if any(gram in text for gram in grams):  # fast in C; the scan below only when needed
            i, end = 0, len(text)
            while i <= end - MIN_FRAGMENT:
                if text[i:i + MIN_FRAGMENT] in grams:
                    j = i + MIN_FRAGMENT
                    while j < end and text[i:j + 1] in secret:
                        j += 1
                    spans.append((i, j))
                    i = j
                else:
                    i += 1
    for k in range(min(size - 1, len(text)), MIN_EDGE_FRAGMENT - 1, -1):
        if text.endswith(secret[:k]):
            spans.append((len(text) - k, len(text)))
            break
    for k in range(min(size - 1, len(text)), MIN_EDGE_FRAGMENT - 1, -1):
        if text.startswith(secret[size - k:]):
            spans.append((0, k))
            break
    return spans


def _mask_spans(text: str, spans: list[tuple[int, int]]) -> str:
    out: list[str] = []
    at = 0
    for start, end in sorted(spans):
        if end <= at:
            continue
        out.append(text[at:max(start, at)])
        out.append(REDACTED)
        at = end
    out.append(text[at:])
    return "".join(out)


def redact(text: str, *secrets: str) -> str:
    """Remove credentials from ``text`` (a URL, a log line, an error body, a provider message).

    Any literal ``secrets`` are masked wherever they occur, also JSON-escaped,
    percent-encoded or HTML-escaped (a key echoed back in a provider's error
    page or answer), and so is any piece of them a provider's own cut left
    behind. Query parameters that usually carry secrets (``apikey=...``) and
    bearer tokens are masked too. Redact a text before trimming it.
    """
    for secret in secrets:
        if secret:
            for form in _forms(secret):
                text = text.replace(form, REDACTED)
    text = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    for secret in secrets:
        if secret and len(secret) > MIN_EDGE_FRAGMENT:
            spans = _fragment_spans(text, secret)
            if spans:
                text = _mask_spans(text, spans)
    return text


def redact_json(value: Any, *secrets: str) -> Any:
    """A parsed JSON value with every string in it (keys too) passed through
    :func:`redact`. Raises RecursionError for absurdly deep values."""
    if isinstance(value, str):
        return redact(value, *secrets)
    if isinstance(value, dict):
        return {redact(k, *secrets) if isinstance(k, str) else k: redact_json(v, *secrets)
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact_json(v, *secrets) for v in value]
    return value


# A path segment of a URL (or of a bare path such as ``/v1/vouchers/CODE/x``) that
# looks like a voucher code, a card number or a token: letters, digits and dashes,
# 6 or more, with a digit or without lower-case letters (API words are lower-case).
_PATH_SEGMENT = re.compile(r"(?<!/)/([A-Za-z0-9-]{6,})(?=[/.?#\s\"',;)]|$)")
_CODE_PARAM = re.compile(r"(?i)([?&][a-z_]*code=)([^&\s\"'<>]+)")


def _code_like(segment: str) -> bool:
    return any(c.isdigit() for c in segment) or not any(c.islower() for c in segment)


def mask_codes_in_paths(text: str) -> str:
    """Voucher codes in URLs and paths of a log line keep only their last 4
    characters, as on receipts (``/vouchers/…KJR3/balance.json``)."""
    def segment(match: re.Match[str]) -> str:
        code = match.group(1)
        return "/" + mask_code(code) if _code_like(code) else match.group(0)

    text = _PATH_SEGMENT.sub(segment, text)
    return _CODE_PARAM.sub(lambda m: m.group(1) + mask_code(m.group(2)), text)


def clean_log_text(text: str) -> str:
    """A log line (or a traceback) without credentials and with voucher codes in
    URLs masked: :func:`redact`, then :func:`mask_codes_in_paths`."""
    return mask_codes_in_paths(redact(text))


class RedactingLogFilter(logging.Filter):
    """Rewrites a record's message before any handler sees it: credentials
    (:func:`redact`) and voucher codes in URLs (:func:`mask_codes_in_paths`).
    Put on a logger (httpx) or on a handler (the till's log file)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logging's business, not ours
            return True
        cleaned = clean_log_text(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


_RedactingFilter = RedactingLogFilter  # the name it had before


def install_httpx_log_redaction() -> None:
    """Keep keys and full voucher codes out of httpx's own log lines.

    httpx logs every request's full URL (``HTTP Request: GET ...?apikey=...``)
    at INFO. A filter on the ``httpx`` logger rewrites those records. Called
    by clients when they are constructed (not at import); idempotent.
    """
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactingFilter) for f in logger.filters):
        logger.addFilter(_RedactingFilter())


# ---------------------------------------------------------------------------
# Capabilities, operations and results (port v2: provider-neutral words)
# ---------------------------------------------------------------------------
class Capability(enum.Enum):
    BALANCE = "balance"
    AUTHORIZE = "authorize"
    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"
    CREATE = "create"
    UNDO = "undo"
    TOP_UP = "top_up"  # credit added to a voucher in use (a value line of kind TOP_UP)
    TOP_UP_UNDO = "top_up_undo"  # a top-up taken back (cancel or void of the sale)
    DIGITAL = "digital"  # third parties' vouchers sold at the till (CSQ): offers, purchase at close


class ValueKind(enum.StrEnum):
    """What a value line creates at close (the port's ``create_value``/``undo_value``
    and the journal's ``request["value"]`` say which):

    * ``GIFT_VOUCHER``: a printed voucher sold and activated (E-GUMA depot
      voucher, JTL status active);
    * ``TOP_UP``: credit added to a voucher the customer already has (JTL recharge);
    * ``DIGITAL``: a third party's voucher (gift card, prepaid PIN) bought for the
      customer (CSQ purchase); ``code`` names the product, ``details`` carry the
      fields the product needs (account, e-mail), and the answer's ``refs`` the
      voucher's code.
    """

    GIFT_VOUCHER = "gift_voucher"
    TOP_UP = "top_up"
    DIGITAL = "digital"  # a third party's voucher bought for the customer at close (CSQ purchase)


class OpKind(enum.StrEnum):
    """The operations that move money or value, in the core's words.

    A provider names them its own way (``OperationWords``): E-GUMA's
    authorize is a redemption, its create an activation.
    """

    AUTHORIZE = "authorize"  # a tender is added: money taken or held (E-GUMA redeem, JTL reserve)
    CAPTURE = "capture"  # the order closes: a hold becomes a charge (JTL charge; E-GUMA: none)
    VOID = "void"  # a tender is taken back before capture (E-GUMA cancel_redemption)
    REFUND = "refund"  # a captured tender is given back (JTL refund)
    CREATE = "create"  # a value line at close: activation, recharge, purchase, issue
    UNDO = "undo"  # a value line taken back (E-GUMA deactivation)


TENDER_KINDS = frozenset({OpKind.AUTHORIZE, OpKind.CAPTURE, OpKind.VOID, OpKind.REFUND})
VALUE_KINDS = frozenset({OpKind.CREATE, OpKind.UNDO})

Refs = Mapping[str, str]
"""Provider references of an operation or tender: ``{"redeem_token": ...}``,
``{"reservation_id": ..., "charge_id": ...}``. Journaled as a JSON object."""

Snapshot = dict[str, Any]
"""The provider state an operation is decided by, as plain JSON (journaled):
E-GUMA ``{"balance": 5000, "total": 10000, "redeemable": true}``."""


@dataclass(frozen=True, slots=True)
class OpContext:
    """What every call that moves money or value carries: our reference (journaled
    before the request), the order number (allocated before capture) and the time."""

    reference: str
    order_number: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class TenderRef:
    """A tender as the provider knows it: the code, the amount and its references."""

    code: str
    amount: Money
    refs: Refs


@dataclass(frozen=True, slots=True)
class Operation:
    """A journaled operation, as settling sees it (built from the journal row)."""

    kind: OpKind
    code: str
    amount: Money | None
    reference: str
    refs: Refs = field(default_factory=dict)
    request: Mapping[str, Any] = field(default_factory=dict)
    before: Snapshot | None = None


@dataclass(frozen=True, slots=True)
class VoucherBalance:
    """The answer of a balance check.

    ``code`` is the provider's canonical code: use it for every later call
    (E-GUMA resolves a voucher2mobile short code to the real code here).
    ``message`` is the provider's reason when not redeemable, else ``""``.
    """

    code: str
    redeemable: bool
    balance: Money
    total: Money | None
    currency: str
    message: str
    product_id: str | None
    # Whether the provider knows the voucher: True/False when its answer says so; None
    # when the till infers it (E-GUMA answers an unknown code with no balance and no total).
    known: bool | None = None


@dataclass(frozen=True, slots=True)
class Authorization:
    """Money taken (or held) from a voucher; ``refs`` is what a void needs."""

    code: str
    amount: Money
    refs: Refs
    new_balance: Money | None


@dataclass(frozen=True, slots=True)
class VoidResult:
    """A void or refund: ``amount`` went back on the voucher."""

    code: str
    amount: Money
    new_balance: Money | None
    refs: Refs = field(default_factory=dict)
    # A hold dropped on the till's side only (JTL has no call to release a
    # reservation): it lapses at the provider at this time, and the voucher
    # stays blocked until then. None when the provider gave the money back now.
    lapses_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Captured:
    refs: Refs
    amount: Money | None = None  # what the provider says it charged, where it says


@dataclass(frozen=True, slots=True)
class ValueCheck:
    """Whether a value line can be created now (a depot voucher sold), for how much.

    ``amount`` is None when ``free_amount`` is true: the cashier enters it.
    """

    code: str
    can_create: bool
    free_amount: bool
    amount: Money | None
    message: str


@dataclass(frozen=True, slots=True)
class UndoCheck:
    code: str
    can_undo: bool
    amount: Money
    message: str


@dataclass(frozen=True, slots=True)
class ValueResult:
    """A value line created or undone: the amount the provider says it moved."""

    code: str
    amount: Money
    refs: Refs = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Offer:
    """A product a provider sells at the till (a digital voucher of a third party).

    ``code`` names it for :meth:`VoucherProvider.create_value` (CSQ: ``"4101"``,
    or ``"4201/17"`` for a dynamic product). It is sold for one of ``amounts``,
    or for any amount from ``minimum`` to ``maximum``; a ``dynamic`` offer stands
    for products the provider lists with their prices (``dynamic_offers``).
    ``store_credit``: a voucher the shop issues itself (Celbux's voucher by SMS),
    which the void of a sale may give as the refund instead of cash or card; a
    third party's gift card (CSQ) is not.
    """

    code: str
    name: str
    amounts: tuple[Money, ...] = ()
    minimum: Money | None = None
    maximum: Money | None = None
    dynamic: bool = False
    store_credit: bool = False

    def allows(self, amount: Money) -> bool:
        if self.dynamic:
            return True
        if self.minimum is not None and self.maximum is not None:
            return self.minimum.minor <= amount.minor <= self.maximum.minor
        return amount in self.amounts


@dataclass(frozen=True, slots=True)
class OfferField:
    """A field the customer must fill for an offer: its name as the provider wants
    it (``receiverEmail``) and the label the cashier reads."""

    name: str
    label: str


Answer = Authorization | VoidResult | Captured | ValueResult


# ---------------------------------------------------------------------------
# Settling: deciding a lost answer from the provider's state
# ---------------------------------------------------------------------------
class Verdict(enum.StrEnum):
    APPLIED = "applied"  # the state shows the operation: it did happen
    UNCHANGED = "unchanged"  # the state is as before: not yet (or not at all, once settled)
    NOT_APPLIED = "not_applied"  # a lookup by our reference says it never happened
    PENDING = "pending"  # the provider has it and has not finished: look again later (never "did not happen")
    OTHER = "other"  # the state moved some other way: a person must decide


@dataclass(frozen=True, slots=True)
class Judgement:
    verdict: Verdict
    reason: str = ""  # for OTHER: what the state shows, for the cashier and F12
    refs: Refs = field(default_factory=dict)  # references a lookup found
    balance: int | None = None  # the voucher's balance now (minor units), where the state shows it


class Settling(Protocol):
    """A provider's rules for deciding an operation by its state (one per package)."""

    def judge(self, op: Operation, before: Snapshot | None, now: Snapshot) -> Judgement:
        """Compare the state read now with the state read before the send."""
        ...

    def contradiction(self, op: Operation, before: Snapshot | None, answer: Answer) -> str | None:
        """Why an answer cannot be what was asked (not trusted), or None."""
        ...

    def balance_snapshot(self, balance: VoucherBalance) -> Snapshot | None:
        """The state a balance check shows, for operations decided by the balance
        (a later read may show a late contradiction); None if the balance does not decide."""
        ...


@dataclass(frozen=True, slots=True)
class ProviderPolicy:
    """What the core may do with a provider's requests.

    * ``deduplicated``: the POSTs the provider deduplicates by our reference; only
      these may be sent again after a lost answer (CSQ ``localReference``).
    * ``lookup_by_reference``: the provider can say "never happened" for our
      reference; without it, "did not happen" needs the settle window.
    * ``reference_max``/``reference``: how our references must look.
    * ``reference_scope``: the setting whose value leads our references, for a
      provider whose references must be unique across all its shops (Celbux:
      ``store_id``), where two outlets of other shops may share our outlet name.
    * ``one_hold_per_voucher``: a voucher may carry only one tender per order.
    * ``captures``: tenders must be captured when the order closes.
    """

    deduplicated: frozenset[OpKind] = frozenset()
    lookup_by_reference: bool = False
    reference_max: int = 64
    one_hold_per_voucher: bool = False
    captures: bool = False
    reference_scope: str | None = None

    def reference(self, outlet: str, till: str, sequence: int, scope: str = "") -> str:
        text = f"{outlet}-{till}-{sequence:06d}"
        if scope:
            text = f"{scope}-{text}"
        if len(text) > self.reference_max:
            raise ValueError(_("reference {text!r} longer than {limit} characters").format(
                text=text, limit=self.reference_max))
        return text


# ---------------------------------------------------------------------------
# Settings and descriptor: what config, `pos keys`, `pos simulate` and routing read
# ---------------------------------------------------------------------------
class ProviderSettings(BaseModel):
    """``[providers.<name>]``; a provider's package subclasses it with its defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    base_url: str
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    # How long after the send a lost answer may still be applied by the provider.
    settle_s: float = Field(default=60.0, gt=0, le=86400)
    # Scanned codes this provider owns (a regular expression, matched whole
    # against the code as the provider normalises it).
    code_pattern: str = ".+"
    # How long an idle connection to the provider is kept for the next payment:
    # below the provider's own keep-alive, above the time between payments at a
    # shop's pace, so a payment does not open a new connection (and TLS) each time.
    keepalive_s: float = Field(default=50.0, ge=0, le=600)

    @property
    def simulated(self) -> bool:
        return self.base_url.startswith("sim://")

    @field_validator("code_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(_("not a regular expression ({problem})").format(problem=exc)) from None
        return value

    @model_validator(mode="after")
    def _settle_after_timeout(self) -> ProviderSettings:
        if self.settle_s <= self.timeout_s:
            raise ValueError(_(
                "settle_s ({settle_s:g}) must be longer than timeout_s ({timeout_s:g}): a request may still "
                "be applied after the till stopped waiting").format(settle_s=self.settle_s, timeout_s=self.timeout_s))
        return self


@dataclass(frozen=True, slots=True)
class ClientSpec:
    """What a provider's client factory gets: settings, the outlet's secrets (by field),
    a shared HTTP client (httpx.AsyncClient) and the outlet's currency."""

    settings: ProviderSettings
    secrets: Mapping[str, str]
    http: Any
    currency: str


@dataclass(frozen=True, slots=True)
class ProviderDescriptor:
    """Everything the rest of the till knows about one provider package.

    The simulator is named, not imported: it loads Starlette and uvicorn only
    when a demo or a test uses it.
    """

    name: str
    display_name: str
    settings_model: type[ProviderSettings]
    secret_fields: tuple[str, ...]
    policy: ProviderPolicy
    settling: Settling
    words: Mapping[OpKind, str]  # the cashier's noun for each operation ("redemption")
    normalize: Callable[[str], str]
    make_client: Callable[[ClientSpec], VoucherProvider]
    simulator_module: str
    # How `pos keys set` checks a key: a read-only call that a wrong key fails.
    check_key: Callable[[VoucherProvider], Awaitable[None]] | None = None
    # The cashier's past participle for a value line's operations ("activated").
    done_words: Mapping[OpKind, str] = field(default_factory=dict)
    # `pos providers connect <name> --pin PIN`: exchanges a one-time pin from the
    # provider's admin UI for the outlet's secrets (by field); None: keys are set by hand.
    connect: Callable[[ProviderSettings, str, Any], Awaitable[dict[str, str]]] | None = None
    # The outlet currencies the provider serves (Celbux: ZAR only); empty: any.
    currencies: frozenset[str] = frozenset()

    def simulator(self) -> ModuleType:
        return importlib.import_module(self.simulator_module)

    def owns(self, settings: ProviderSettings, raw: str) -> bool:
        """Does a scanned code belong to this provider (its code pattern)?"""
        code = self.normalize(raw)
        return bool(code) and re.fullmatch(settings.code_pattern, code) is not None

    def word(self, kind: OpKind) -> str:
        """The cashier's noun for ``kind`` in the language in use (the descriptor marks
        its words with ``N_``)."""
        return _(self.words.get(kind, kind.value))

    def done_word(self, kind: OpKind) -> str:
        """``"deactivated"`` for E-GUMA's undo, in the language in use."""
        return _(self.done_words.get(kind, {OpKind.CREATE: N_("created"), OpKind.UNDO: N_("taken back")}.get(
            kind, kind.value)))


# ---------------------------------------------------------------------------
# The port
# ---------------------------------------------------------------------------
@runtime_checkable
class VoucherProvider(Protocol):
    """What the services layer may ask of a provider.

    Every call either returns a typed result or raises a
    :class:`ProviderError`. Calls that move money or value take an
    :class:`OpContext` and are never retried by a client unless the provider
    deduplicates them by our reference (``ProviderPolicy.deduplicated``).
    """

    name: str
    display_name: str
    capabilities: frozenset[Capability]

    def supports(self, capability: Capability) -> bool: ...

    def normalize_code(self, raw: str) -> str: ...

    async def balance(self, code: str) -> VoucherBalance: ...

    async def authorize(self, code: str, amount: Money, ctx: OpContext) -> Authorization: ...

    async def capture(self, tender: TenderRef, ctx: OpContext) -> Captured: ...

    async def void(self, tender: TenderRef, amount: Money, ctx: OpContext) -> VoidResult: ...

    async def refund(self, tender: TenderRef, amount: Money, ctx: OpContext) -> VoidResult: ...

    async def check_value(self, code: str, kind: ValueKind = ValueKind.GIFT_VOUCHER) -> ValueCheck: ...

    async def create_value(self, code: str, amount: Money | None, ctx: OpContext,
                           kind: ValueKind = ValueKind.GIFT_VOUCHER, *,
                           details: Mapping[str, str] | None = None) -> ValueResult: ...

    async def value_info(self, code: str, refs: Refs) -> Mapping[str, str]: ...

    def offers(self) -> list[Offer]: ...

    async def dynamic_offers(self, code: str) -> list[Offer]: ...

    async def offer_fields(self, code: str) -> list[OfferField]: ...

    def check_detail(self, code: str, name: str, value: str) -> str: ...

    def shown_detail(self, code: str, name: str, value: str) -> str: ...

    async def check_undo(self, code: str, kind: ValueKind = ValueKind.GIFT_VOUCHER, *,
                         refs: Refs | None = None) -> UndoCheck: ...

    async def undo_value(self, code: str, ctx: OpContext, reason: str | None = None,
                         kind: ValueKind = ValueKind.GIFT_VOUCHER, *, refs: Refs | None = None) -> ValueResult: ...

    async def state_of(self, op: Operation) -> Snapshot: ...

    async def aclose(self) -> None: ...


class ProviderBase:
    """Defaults for a provider client: every operation is unsupported.

    A client overrides the operations it offers and lists them in
    ``capabilities``; the rest raise :class:`UnsupportedOperation`.
    """

    name: str = "provider"
    display_name: str = "Provider"
    capabilities: frozenset[Capability] = frozenset()

    def supports(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def _unsupported(self, capability: Capability) -> UnsupportedOperation:
        return UnsupportedOperation(capability, self.name, display_name=self.display_name)

    def normalize_code(self, raw: str) -> str:
        return raw.strip()

    async def balance(self, code: str) -> VoucherBalance:
        raise self._unsupported(Capability.BALANCE)

    async def authorize(self, code: str, amount: Money, ctx: OpContext) -> Authorization:
        raise self._unsupported(Capability.AUTHORIZE)

    async def capture(self, tender: TenderRef, ctx: OpContext) -> Captured:
        raise self._unsupported(Capability.CAPTURE)

    async def void(self, tender: TenderRef, amount: Money, ctx: OpContext) -> VoidResult:
        raise self._unsupported(Capability.VOID)

    async def refund(self, tender: TenderRef, amount: Money, ctx: OpContext) -> VoidResult:
        raise self._unsupported(Capability.REFUND)

    def _value_capability(self, kind: ValueKind, default: Capability) -> Capability:
        if kind is ValueKind.DIGITAL:
            return Capability.DIGITAL
        return Capability.TOP_UP if kind is ValueKind.TOP_UP else default

    def offers(self) -> list[Offer]:
        """The products this provider sells at the till as configured by the shop
        (CSQ's ``[[providers.csq.products]]``); none for a provider that sells none."""
        return []

    async def dynamic_offers(self, code: str) -> list[Offer]:
        """The products behind a ``dynamic`` offer, with their prices, as the provider lists them now."""
        raise self._unsupported(Capability.DIGITAL)

    async def offer_fields(self, code: str) -> list[OfferField]:
        """What the customer must give for an offer (an account, an e-mail address)."""
        raise self._unsupported(Capability.DIGITAL)

    def check_detail(self, code: str, name: str, value: str) -> str:
        """A field the customer gave, as the provider needs it (a phone number
        normalised); ValueError with the cashier's words when it cannot be right."""
        return value

    def shown_detail(self, code: str, name: str, value: str) -> str:
        """A field to show on the order line and receipt (a phone number as people
        write it); "" to show none."""
        return ""

    async def check_value(self, code: str, kind: ValueKind = ValueKind.GIFT_VOUCHER) -> ValueCheck:
        raise self._unsupported(self._value_capability(kind, Capability.CREATE))

    async def create_value(self, code: str, amount: Money | None, ctx: OpContext,
                           kind: ValueKind = ValueKind.GIFT_VOUCHER, *,
                           details: Mapping[str, str] | None = None) -> ValueResult:
        raise self._unsupported(self._value_capability(kind, Capability.CREATE))

    async def value_info(self, code: str, refs: Refs) -> Mapping[str, str]:
        """What a created value line still has to tell (CSQ's additional data:
        instructions, expiry), once the provider has it: :class:`NotReady` until then."""
        raise self._unsupported(Capability.CREATE)

    async def check_undo(self, code: str, kind: ValueKind = ValueKind.GIFT_VOUCHER, *,
                         refs: Refs | None = None) -> UndoCheck:
        raise self._unsupported(Capability.TOP_UP_UNDO if kind is ValueKind.TOP_UP else Capability.UNDO)

    async def undo_value(self, code: str, ctx: OpContext, reason: str | None = None,
                         kind: ValueKind = ValueKind.GIFT_VOUCHER, *, refs: Refs | None = None) -> ValueResult:
        """Take a value line back; ``refs`` are what its creation answered (a CSQ
        revert names the purchase's reference and day)."""
        raise self._unsupported(Capability.TOP_UP_UNDO if kind is ValueKind.TOP_UP else Capability.UNDO)

    async def state_of(self, op: Operation) -> Snapshot:
        raise self._unsupported(Capability.BALANCE)

    async def aclose(self) -> None:
        return None
