"""What the till knows about E-GUMA: settings, secrets, policy, settling, client, simulator."""

from __future__ import annotations

from pydantic import Field

from pos_app.domain.codes import normalize_voucher_code
from pos_app.providers.base import (
    ClientSpec,
    OpKind,
    ProviderDescriptor,
    ProviderPolicy,
    ProviderSettings,
    VoucherProvider,
)
from pos_app.i18n import N_
from pos_app.providers.eguma.settling import EgumaSettling

# A 12-character voucher code, or a 2-digit voucher2mobile short code (Balance resolves it).
CODE_PATTERN = r"[A-Z0-9]{12}|[0-9]{2}"
CHECK_CODE = "AAAAAAAAAAAA"  # a code no account has: a good key gets "not found", a bad one 401


class EgumaSettings(ProviderSettings):
    """``[providers.eguma]``."""

    timeout_s: float = Field(default=10.0, gt=0, le=120)
    # E-GUMA has no lookup by our reference: a redemption whose answer was lost
    # is "did not happen" only when the balance is unchanged this long after
    # the send. Well above the client's own deadline (3 × timeout_s) and the
    # 60 s that proxies in front of web applications commonly allow a request.
    settle_s: float = Field(default=90.0, gt=0, le=86400)
    code_pattern: str = CODE_PATTERN


def make_client(spec: ClientSpec) -> VoucherProvider:
    from pos_app.providers.eguma.client import EgumaClient

    return EgumaClient(spec.http, spec.secrets["api_key"], spec.settings.base_url, spec.currency,
                       spec.settings.timeout_s)


async def check_key(client: VoucherProvider) -> None:
    """A read a wrong key fails with AuthenticationError (a good one: "not found")."""
    await client.balance(CHECK_CODE)


DESCRIPTOR = ProviderDescriptor(
    name="eguma",
    display_name="E-GUMA",
    settings_model=EgumaSettings,
    secret_fields=("api_key",),
    policy=ProviderPolicy(
        deduplicated=frozenset(),  # no idempotency key: a repeated Redeem is a second redemption
        lookup_by_reference=False,
        reference_max=1024,  # reference_number
        one_hold_per_voucher=False,
        captures=False,  # a redemption is final when it is made
    ),
    settling=EgumaSettling(),
    words={  # marked here, translated where shown (ProviderDescriptor.word)
        OpKind.AUTHORIZE: N_("redemption"),
        OpKind.VOID: N_("cancellation"),
        OpKind.REFUND: N_("cancellation"),
        OpKind.CAPTURE: N_("capture"),
        OpKind.CREATE: N_("activation"),
        OpKind.UNDO: N_("deactivation"),
    },
    normalize=normalize_voucher_code,
    make_client=make_client,
    simulator_module="pos_app.providers.eguma.simulator",
    check_key=check_key,
    done_words={OpKind.CREATE: N_("activated"), OpKind.UNDO: N_("deactivated")},
)
