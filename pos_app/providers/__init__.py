"""Voucher providers behind one port (see :mod:`pos_app.providers.base`).

One package per provider (``eguma``, ...), each with an async ``client`` and
an ASGI ``simulator``. Importing this package has no side effects.
"""

from pos_app.providers.base import (
    Activation,
    ActivationStatus,
    AuthenticationError,
    Authorization,
    BadResponse,
    BadResponseUnknownOutcome,
    Capability,
    Deactivation,
    DeactivationStatus,
    NotFoundError,
    ProviderBase,
    ProviderError,
    ProviderTimeout,
    RefusedError,
    UnavailableError,
    UnknownOutcome,
    UnsupportedOperation,
    VoidResult,
    VoucherBalance,
    VoucherProvider,
    bad_response,
    redact,
)

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
    "redact",
]
