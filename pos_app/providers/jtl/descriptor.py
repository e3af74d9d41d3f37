"""What the till knows about JTL-Voucher Cloud: settings, secrets, policy,
settling, client, simulator and the pin exchange (``providers/jtl.md``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from pos_app.i18n import N_
from pos_app.providers.base import (
    ClientSpec,
    OpKind,
    ProviderDescriptor,
    ProviderPolicy,
    ProviderSettings,
    VoucherProvider,
)
from pos_app.providers.jtl.settling import JtlSettling, normalize_code

# The barcode on a JTL voucher is its id [I]: 20 lower-case hex characters (the
# ids JTL's API shows), or a UUID. A shop whose vouchers look otherwise sets
# ``code_pattern``.
CODE_PATTERN = r"[0-9a-f]{20}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
CHECK_ID = "00000000000000000000"  # an id no voucher has: good credentials get 404, bad ones 401


class JtlSettings(ProviderSettings):
    """``[providers.jtl]``."""

    # The API root including /v1; the token endpoint is /oauth/token at the
    # same host's root unless token_url is set.
    base_url: str = "https://vouchers.api.jtl-software.com/v1"
    token_url: str | None = None
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    # A charge whose answer was lost is looked up by the order number; a
    # missing one is "did not happen" only once this window after the send has
    # passed (JTL's lookup shows charges made, not requests received).
    settle_s: float = Field(default=60.0, gt=0, le=86400)
    code_pattern: str = CODE_PATTERN


def make_client(spec: ClientSpec) -> VoucherProvider:
    from pos_app.providers.jtl.client import JtlClient

    settings = spec.settings
    assert isinstance(settings, JtlSettings)
    return JtlClient(spec.http, spec.secrets["client_id"], spec.secrets["client_secret"],
                     settings.base_url, spec.currency, settings.timeout_s, token_url=settings.token_url)


async def check_key(client: VoucherProvider) -> None:
    """A read wrong credentials fail with AuthenticationError (good ones: not found)."""
    await client.balance(CHECK_ID)


async def connect(settings: ProviderSettings, pin: str, http: Any) -> dict[str, str]:
    """The Admin UI's pin for this till's ``client_id`` and ``client_secret``."""
    from pos_app.providers.jtl.connect import connect_with_pin

    assert isinstance(settings, JtlSettings)
    return await connect_with_pin(http, settings.base_url, pin, timeout_s=settings.timeout_s)


DESCRIPTOR = ProviderDescriptor(
    name="jtl",
    display_name="JTL",
    settings_model=JtlSettings,
    secret_fields=("client_id", "client_secret"),
    policy=ProviderPolicy(
        deduplicated=frozenset(),  # no idempotency key on any POST
        lookup_by_reference=False,  # charges are found by order number, but that shows charges made only
        reference_max=64,
        one_hold_per_voucher=True,  # a second reservation replaces the first
        captures=True,  # reserve at tender, charge with the order number at close
    ),
    settling=JtlSettling(),
    words={  # marked here, translated where shown (ProviderDescriptor.word)
        OpKind.AUTHORIZE: N_("reservation"),
        OpKind.CAPTURE: N_("charge"),
        OpKind.VOID: N_("release"),
        OpKind.REFUND: N_("refund"),
        OpKind.CREATE: N_("activation"),
        OpKind.UNDO: N_("deactivation"),
    },
    normalize=normalize_code,
    make_client=make_client,
    simulator_module="pos_app.providers.jtl.simulator",
    check_key=check_key,
    done_words={OpKind.CREATE: N_("activated"), OpKind.UNDO: N_("deactivated")},
    connect=connect,
)
