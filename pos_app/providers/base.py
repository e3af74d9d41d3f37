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
import logging
import re
from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

from pos_app.domain.money import Money

__all__ = [
    "Activation",
    "ActivationStatus",
    "AuthenticationError",
    "Authorization",
    "BadResponse",
    "BadResponseUnknownOutcome",
    "Capability",
    "Deactivation",
    "DeactivationStatus",
    "NotFoundError",
    "ProviderBase",
    "ProviderError",
    "ProviderTimeout",
    "RefusedError",
    "UnavailableError",
    "UnknownOutcome",
    "UnsupportedOperation",
    "VoidResult",
    "VoucherBalance",
    "VoucherProvider",
    "bad_response",
    "install_httpx_log_redaction",
    "redact",
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

    default_hint: ClassVar[str] = "Try again; if it keeps happening, call support."
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
        self.hint = hint if hint is not None else self.default_hint.format(provider=provider)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, provider={self.provider!r}, "
            f"operation={self.operation!r})"
        )


class UnsupportedOperation(ProviderError):
    """The provider does not offer this operation (see ``capabilities``)."""

    default_hint = "This provider cannot do that; use another payment method or provider."

    def __init__(
        self, capability: Capability, provider: str, *, display_name: str | None = None
    ) -> None:
        self.capability = capability
        who = display_name or provider
        super().__init__(
            f"{who} does not support {capability.value}.",
            provider,
            operation=capability.value,
        )


class AuthenticationError(ProviderError):
    """The provider rejected our credentials (HTTP 401/403): bad or missing key."""

    default_hint = "Check the API key with `pos keys set --provider {provider}`."


class RefusedError(ProviderError):
    """The provider understood the request and said no.

    ``provider_message`` is the provider's own text (e.g. German from
    E-GUMA), to be shown to the cashier verbatim. Nothing was applied.
    """

    default_hint = "Tell the customer the provider's message; take another payment method if needed."

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


class NotFoundError(RefusedError):
    """The provider does not know this voucher (or token).

    A subclass of :class:`RefusedError`: it is a refusal with a provider
    message, and nothing was applied; catch it first to offer "scan again".
    """

    default_hint = "Check the code: scan it again or type it exactly as printed."


class UnavailableError(ProviderError):
    """The provider could not be reached or failed (connect error, 5xx).

    The request was not applied, so it is safe to try again.
    """

    default_hint = "Provider unreachable — take another payment method or try again."
    safe_to_retry = True


class ProviderTimeout(UnavailableError):
    """No connection or answer in time, and the request certainly had no effect.

    Raised for connect/pool timeouts (nothing was sent) and for timeouts on
    read-only calls. A timeout after a mutating request was sent is an
    :class:`UnknownOutcome` instead.
    """

    default_hint = (
        "Provider did not answer in time — nothing was charged; "
        "try again or take another payment method."
    )


class UnknownOutcome(ProviderError):
    """A mutating request was sent and no usable answer came back.

    The provider may or may not have applied it. Never send it again blindly:
    reconcile first with the provider's own lookup (for E-GUMA: Balance,
    compared with the balance seen before).
    """

    default_hint = (
        "Do not retry: the till must first check with the provider whether it happened "
        "(see the status screen)."
    )
    outcome_unknown = True


class BadResponse(ProviderError):
    """The provider answered with a body we cannot read (not JSON, missing fields)."""

    default_hint = "Try again; if it keeps happening, call support."


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


def redact(text: str, *secrets: str) -> str:
    """Remove credentials from ``text`` (a URL, a log line, an error body).

    Query parameters that usually carry secrets (``apikey=...``) and bearer
    tokens are masked; any literal ``secrets`` given are masked wherever they
    occur, so a key echoed back in a provider's error page is caught too.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    return _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)


class _RedactingFilter(logging.Filter):
    """Rewrites a record's message with :func:`redact` before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


def install_httpx_log_redaction() -> None:
    """Keep keys out of httpx's own log lines.

    httpx logs every request's full URL (``HTTP Request: GET ...?apikey=...``)
    at INFO. A filter on the ``httpx`` logger rewrites those records. Called
    by clients when they are constructed (not at import); idempotent.
    """
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactingFilter) for f in logger.filters):
        logger.addFilter(_RedactingFilter())


# ---------------------------------------------------------------------------
# Capabilities and results
# ---------------------------------------------------------------------------
class Capability(enum.Enum):
    BALANCE = "balance"
    AUTHORIZE = "authorize"
    CAPTURE = "capture"
    VOID = "void"
    ACTIVATE = "activate"
    DEACTIVATE = "deactivate"
    PURCHASE = "purchase"
    ISSUE = "issue"
    RECHARGE = "recharge"
    REFUND = "refund"


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


@dataclass(frozen=True, slots=True)
class Authorization:
    """Money taken (or held) from a voucher.

    ``token`` is what a void needs (E-GUMA ``redeem_token``, JTL reservation
    id, Celbux TID). ``reference`` is our own reference sent with it.
    """

    code: str
    amount: Money
    token: str
    new_balance: Money | None
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class VoidResult:
    code: str
    amount: Money
    new_balance: Money | None


@dataclass(frozen=True, slots=True)
class ActivationStatus:
    """Whether a (depot) voucher can be sold now, and for how much.

    ``amount`` is None when ``free_amount`` is true: the cashier enters it.
    """

    code: str
    can_activate: bool
    free_amount: bool
    amount: Money | None
    message: str


@dataclass(frozen=True, slots=True)
class Activation:
    code: str
    amount: Money


@dataclass(frozen=True, slots=True)
class DeactivationStatus:
    code: str
    can_deactivate: bool
    amount: Money
    message: str


@dataclass(frozen=True, slots=True)
class Deactivation:
    code: str
    amount: Money


# ---------------------------------------------------------------------------
# The port
# ---------------------------------------------------------------------------
@runtime_checkable
class VoucherProvider(Protocol):
    """What the services layer may ask of a provider.

    Every call either returns a typed result or raises a
    :class:`ProviderError`. Mutating calls are never retried by a client
    unless the provider deduplicates them by our reference.
    """

    name: str
    display_name: str
    capabilities: frozenset[Capability]

    def supports(self, capability: Capability) -> bool: ...

    def normalize_code(self, raw: str) -> str: ...

    def looks_like_code(self, text: str) -> bool: ...

    async def balance(self, code: str) -> VoucherBalance: ...

    async def authorize(self, code: str, amount: Money, reference: str | None) -> Authorization: ...

    async def capture(self, auth: Authorization) -> Authorization: ...

    async def void(self, auth: Authorization, amount: Money | None = None) -> VoidResult: ...

    async def activation_status(self, code: str) -> ActivationStatus: ...

    async def activate(self, code: str, amount: Money | None = None) -> Activation: ...

    async def deactivation_status(self, code: str) -> DeactivationStatus: ...

    async def deactivate(self, code: str, reason: str | None = None) -> Deactivation: ...

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

    def looks_like_code(self, text: str) -> bool:
        return False

    async def balance(self, code: str) -> VoucherBalance:
        raise self._unsupported(Capability.BALANCE)

    async def authorize(self, code: str, amount: Money, reference: str | None) -> Authorization:
        raise self._unsupported(Capability.AUTHORIZE)

    async def capture(self, auth: Authorization) -> Authorization:
        raise self._unsupported(Capability.CAPTURE)

    async def void(self, auth: Authorization, amount: Money | None = None) -> VoidResult:
        raise self._unsupported(Capability.VOID)

    async def activation_status(self, code: str) -> ActivationStatus:
        raise self._unsupported(Capability.ACTIVATE)

    async def activate(self, code: str, amount: Money | None = None) -> Activation:
        raise self._unsupported(Capability.ACTIVATE)

    async def deactivation_status(self, code: str) -> DeactivationStatus:
        raise self._unsupported(Capability.DEACTIVATE)

    async def deactivate(self, code: str, reason: str | None = None) -> Deactivation:
        raise self._unsupported(Capability.DEACTIVATE)

    async def aclose(self) -> None:
        return None
