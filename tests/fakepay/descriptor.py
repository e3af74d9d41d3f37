"""What the till knows about FakePay (a test-only provider): settings, secrets,
policy, settling, client and simulator. Registered for a test by the
``fakepay`` fixture (``tests/fakepay/fixtures.py``), never in the real registry."""

from __future__ import annotations

from pydantic import Field

from pos_app.providers.base import (
    ClientSpec,
    OpKind,
    ProviderDescriptor,
    ProviderPolicy,
    ProviderSettings,
    VoucherProvider,
)
from tests.fakepay.settling import FakePaySettling, normalize_code

CODE_PATTERN = r"FP-\d{8}"
CHECK_CODE = "FP-00000000"  # a code no account has: a good key gets 404, a bad one 401


class FakePaySettings(ProviderSettings):
    """``[providers.fakepay]``."""

    timeout_s: float = Field(default=10.0, gt=0, le=120)
    # FakePay's lookup decides a lost answer at once; the window only bounds
    # how long a request FakePay reports "pending" is waited for by the core.
    settle_s: float = Field(default=30.0, gt=0, le=86400)
    code_pattern: str = CODE_PATTERN


def make_client(spec: ClientSpec) -> VoucherProvider:
    from tests.fakepay.client import FakePayClient

    return FakePayClient(spec.http, spec.secrets["client_id"], spec.secrets["client_secret"],
                         spec.settings.base_url, spec.currency, spec.settings.timeout_s)


async def check_key(client: VoucherProvider) -> None:
    """A read a wrong pair fails with AuthenticationError (a good one: not found)."""
    await client.balance(CHECK_CODE)


DESCRIPTOR = ProviderDescriptor(
    name="fakepay",
    display_name="FakePay",
    settings_model=FakePaySettings,
    secret_fields=("client_id", "client_secret"),
    policy=ProviderPolicy(
        deduplicated=frozenset(),  # the same reference sent twice is two operations
        lookup_by_reference=True,  # GET /v1/operations?reference=R
        reference_max=64,
        one_hold_per_voucher=True,  # a second hold on a voucher is 409
        captures=True,  # a hold at authorize, a charge with the order number at close
    ),
    settling=FakePaySettling(),
    words={
        OpKind.AUTHORIZE: "hold",
        OpKind.CAPTURE: "charge",
        OpKind.VOID: "release",
        OpKind.REFUND: "refund",
        OpKind.CREATE: "card issue",
        OpKind.UNDO: "card cancellation",
    },
    normalize=normalize_code,
    make_client=make_client,
    simulator_module="tests.fakepay.simulator",
    check_key=check_key,
)
