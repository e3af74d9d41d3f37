"""What the till knows about CSQ eVSB: settings (the products the shop sells),
secrets, policy, settling, client and simulator (``providers/csq.md``)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pos_app.i18n import N_, _
from pos_app.providers.base import (
    ClientSpec,
    OpKind,
    ProviderDescriptor,
    ProviderPolicy,
    ProviderSettings,
    VoucherProvider,
)
from pos_app.providers.csq.settling import CsqSettling

__all__ = ["DESCRIPTOR", "REFERENCE_LIMIT", "CsqPolicy", "CsqProduct", "CsqSettings", "check_key", "make_client",
           "normalize_code"]

# CSQ products are chosen from a list on the till's screen, never scanned: a
# pattern that matches no code, so no scan is ever routed to CSQ.
NO_CODE = r"(?!)"
REFERENCE_LIMIT = 1_000_000_000  # localReference: at most 9 digits, unique per terminal and day
MAX_X100 = 99_999_999  # the largest amount a till sends (999'999.99)


def _cents(text: str, what: str) -> int:
    """``"20.00"`` -> 2000; at most two decimals, positive."""
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        raise ValueError(_("{what} {text!r} is not an amount like \"20.00\"").format(what=what, text=text)) from None
    if not value.is_finite() or value <= 0:
        raise ValueError(_("{what} {text!r} must be a positive amount").format(what=what, text=text))
    if value != value.quantize(Decimal("0.01")):
        raise ValueError(_("{what} {text!r} has more than two decimals").format(what=what, text=text))
    cents = int(value * 100)
    if cents > MAX_X100:
        raise ValueError(_("{what} {text!r} is too large").format(what=what, text=text))
    return cents


class CsqProduct(BaseModel):
    """One product the shop sells: ``[[providers.csq.products]]``.

    Either ``amounts`` (the fixed face values offered, ``["20.00", "50.00"]``),
    ``min`` and ``max`` (the cashier types an amount in that range), or
    ``dynamic = true`` (the operator lists its products and their prices: a raffle)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    operator_id: int = Field(gt=0)
    name: str = Field(min_length=1, max_length=60)
    currency: str = Field(min_length=3, max_length=3)
    amounts: tuple[str, ...] | None = None
    min: str | None = None
    max: str | None = None
    dynamic: bool = False

    @field_validator("amounts")
    @classmethod
    def _amounts(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        if not value:
            raise ValueError(_("amounts is empty: list the face values offered, or give min and max"))
        for text in value:
            _cents(text, _("amount"))
        if len({_cents(text, "") for text in value}) != len(value):
            raise ValueError(_("amounts lists the same amount twice"))
        return value

    @field_validator("min", "max")
    @classmethod
    def _bound(cls, value: str | None) -> str | None:
        if value is not None:
            _cents(value, _("min/max"))
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if not value.isalpha() or not value.isupper():
            raise ValueError(_("currency {currency!r} is not an ISO 4217 code like \"EUR\"").format(currency=value))
        return value

    @model_validator(mode="after")
    def _one_way(self) -> CsqProduct:
        ranged = self.min is not None or self.max is not None
        if self.dynamic:
            if self.amounts is not None or ranged:
                raise ValueError(_("product {name!r}: a dynamic product takes its prices from CSQ; give no "
                                   "amounts, min or max").format(name=self.name))
            return self
        if self.amounts is not None and ranged:
            raise ValueError(_("product {name!r}: give either amounts or min and max, not both").format(
                name=self.name))
        if self.amounts is None and not ranged:
            raise ValueError(_("product {name!r}: give its amounts (fixed face values) or min and max (a range)"
                               ).format(name=self.name))
        if ranged:
            if self.min is None or self.max is None:
                raise ValueError(_("product {name!r}: a range needs both min and max").format(name=self.name))
            if _cents(self.min, "") > _cents(self.max, ""):
                raise ValueError(_("product {name!r}: min {min} is above max {max}").format(
                    name=self.name, min=self.min, max=self.max))
        return self

    @property
    def amounts_x100(self) -> tuple[int, ...]:
        """The fixed face values in cents (empty for a range)."""
        return tuple(_cents(text, "") for text in self.amounts or ())

    @property
    def range_x100(self) -> tuple[int, int] | None:
        if self.min is None or self.max is None:
            return None
        return _cents(self.min, ""), _cents(self.max, "")

    def allows(self, x100: int) -> bool:
        """Whether ``x100`` cents is an amount this product is sold for (a dynamic
        product: any, CSQ's list of products says)."""
        if self.dynamic:
            return True
        limits = self.range_x100
        if limits is not None:
            return limits[0] <= x100 <= limits[1]
        return x100 in self.amounts_x100


class CsqSettings(ProviderSettings):
    """``[providers.csq]``."""

    base_url: str = "https://evsbus.csqworld.com"
    terminal_id: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    # Right after a purchase, transaction info may answer "900 not indexed yet":
    # a lost answer stays undecided (never "did not happen") for this long at least.
    settle_s: float = Field(default=120.0, gt=0, le=86400)
    code_pattern: str = NO_CODE
    products: tuple[CsqProduct, ...] = ()

    @model_validator(mode="after")
    def _distinct_products(self) -> CsqSettings:
        seen: set[int] = set()
        for product in self.products:
            if product.operator_id in seen:
                raise ValueError(_("products: operator {operator} is listed twice").format(
                    operator=product.operator_id))
            seen.add(product.operator_id)
        return self


@dataclass(frozen=True, slots=True)
class CsqPolicy(ProviderPolicy):
    """CSQ's ``localReference`` is a number of at most 9 digits, unique per terminal per
    day: the journal's sequence, modulo 10⁹ (a till makes far fewer operations a day)."""

    def reference(self, outlet: str, till: str, sequence: int, scope: str = "") -> str:
        if sequence < 0:
            raise ValueError(_("reference sequence {sequence} is negative").format(sequence=sequence))
        return str(sequence % REFERENCE_LIMIT)


def normalize_code(raw: str) -> str:
    """A product's code as the till names it: ``"9991"`` or ``"9994/17"`` (blanks out)."""
    return "".join(raw.split())


def make_client(spec: ClientSpec) -> VoucherProvider:
    from pos_app.providers.csq.client import CsqClient

    settings = spec.settings
    assert isinstance(settings, CsqSettings)
    return CsqClient(spec.http, spec.secrets["username"], spec.secrets["password"], settings.base_url,
                     settings.terminal_id, spec.currency, settings.timeout_s, products=settings.products)


async def check_key(client: VoucherProvider) -> None:
    """A read wrong credentials (or a wrong clock) fail with AuthenticationError."""
    from pos_app.providers.csq.client import CsqClient

    assert isinstance(client, CsqClient)
    await client.ping()


DESCRIPTOR = ProviderDescriptor(
    name="csq",
    display_name="CSQ",
    settings_model=CsqSettings,
    secret_fields=("username", "password"),
    policy=CsqPolicy(
        deduplicated=frozenset({OpKind.CREATE}),  # the purchase is idempotent by localReference
        lookup_by_reference=True,  # transaction info by localReference and date
        reference_max=9,
        one_hold_per_voucher=False,
        captures=False,
    ),
    settling=CsqSettling(),
    words={  # marked here, translated where shown (ProviderDescriptor.word)
        OpKind.CREATE: N_("purchase"),
        OpKind.UNDO: N_("revert"),
    },
    normalize=normalize_code,
    make_client=make_client,
    simulator_module="pos_app.providers.csq.simulator",
    check_key=check_key,
    done_words={OpKind.CREATE: N_("bought"), OpKind.UNDO: N_("reverted")},
)
