"""What the till knows about Celbux: settings, the token, policy, settling,
client and simulator (``providers/celbux.md``).

Celbux amounts are cents of ZAR: an outlet in another currency cannot enable
it. :func:`require_zar` says so in the config's words; the config
(``[outlet] currency`` with ``[providers.celbux]`` enabled) calls it, and
:func:`make_client` calls it again (a client is never made for another currency).
"""

from __future__ import annotations

import re

from pydantic import Field

from pos_app.domain.codes import clean
from pos_app.i18n import N_, _
from pos_app.providers.base import (
    ClientSpec,
    NotFoundError,
    OpKind,
    ProviderDescriptor,
    ProviderPolicy,
    ProviderSettings,
    VoucherProvider,
)
from pos_app.providers.celbux.settling import CelbuxSettling

__all__ = ["CHECK_CODE", "CODE_PATTERN", "CURRENCY", "DESCRIPTOR", "CelbuxSettings", "normalize_code",
           "require_zar"]

# A Celbux voucher number as printed and sent by SMS: ``168-78439-48310`` [C]. The
# dashes are part of the number (kept); a shop whose vouchers look otherwise sets code_pattern.
CODE_PATTERN = r"168-\d{5}-\d{5}"
CURRENCY = "ZAR"
CHECK_CODE = "168-00000-00000"  # a number no voucher has: a good token gets -3, a bad one 401
_SPACE = re.compile(r"\s")


def normalize_code(raw: str) -> str:
    """``" 168-78439-48310\\r\\n"`` -> ``"168-78439-48310"``: control characters and
    whitespace out, upper case; dashes kept (they are part of Celbux's number)."""
    return _SPACE.sub("", clean(raw)).upper()


def require_zar(currency: str) -> str:
    """``currency`` if it is ZAR; else ValueError in the config's words."""
    if currency != CURRENCY:
        raise ValueError(_("Celbux takes amounts in ZAR only; this outlet's currency is {currency}: set "
                           "[outlet] currency = \"ZAR\" or disable [providers.celbux]").format(currency=currency[:8]))
    return currency


class CelbuxSettings(ProviderSettings):
    """``[providers.celbux]``."""

    # ``{api-url}`` of celbux.md: Celbux gives it with the token (no public default).
    base_url: str
    # The community (``?ns=``) the token is scoped to.
    community: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    # The funder's store: the source of issued vouchers, the payee of payments.
    store_id: str = Field(min_length=1, max_length=64)
    # The pocket of value issued vouchers are of.
    voucher_type: str = Field(default="168Cash", min_length=1, max_length=64)
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    # A lost answer's "not found" is "did not happen" only after this window
    # (a request on its way may still arrive: see settling.py).
    settle_s: float = Field(default=120.0, gt=0, le=86400)
    code_pattern: str = CODE_PATTERN


def make_client(spec: ClientSpec) -> VoucherProvider:
    from pos_app.providers.celbux.client import CelbuxClient

    settings = spec.settings
    assert isinstance(settings, CelbuxSettings)
    return CelbuxClient(spec.http, spec.secrets["token"], settings.base_url, settings.community,
                        settings.store_id, voucher_type=settings.voucher_type, currency=require_zar(spec.currency),
                        timeout_s=settings.timeout_s)


async def check_key(client: VoucherProvider) -> None:
    """A read a wrong token fails with AuthenticationError (a good one: not found)."""
    try:
        await client.balance(CHECK_CODE)
    except NotFoundError:
        pass


DESCRIPTOR = ProviderDescriptor(
    name="celbux",
    display_name="Celbux",
    settings_model=CelbuxSettings,
    secret_fields=("token",),
    policy=ProviderPolicy(
        deduplicated=frozenset(),  # a duplicate Reference is an error (-2), never a replay
        lookup_by_reference=True,  # /payment by OldReference
        # [C] a Reference is unique on the whole platform, across every store: ours
        # lead with the store id, "STORE1-outlet-till-000042" ([I] Celbux names no limit).
        reference_scope="store_id",
        reference_max=200,
        one_hold_per_voucher=False,
        captures=False,  # pay takes the money at once
    ),
    settling=CelbuxSettling(),
    words={  # marked here, translated where shown (ProviderDescriptor.word)
        OpKind.AUTHORIZE: N_("payment"),
        OpKind.VOID: N_("reversal"),
        OpKind.CREATE: N_("voucher issue"),
        OpKind.UNDO: N_("reversal"),
    },
    normalize=normalize_code,
    make_client=make_client,
    simulator_module="pos_app.providers.celbux.simulator",
    check_key=check_key,
    done_words={OpKind.CREATE: N_("issued"), OpKind.UNDO: N_("reversed")},
    currencies=frozenset({CURRENCY}),
)
