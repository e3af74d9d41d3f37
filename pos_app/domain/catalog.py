"""Products a till sells, keyed by barcode."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from pos_app.domain.money import Money


@dataclass(frozen=True, slots=True)
class Product:
    ean: str
    name: str
    price: Money
    vat_rate: Decimal


@dataclass(frozen=True, slots=True)
class Catalog:
    products: dict[str, Product]
    _by_gtin: dict[str, Product] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_gtin: dict[str, Product] = {}
        for ean, product in self.products.items():
            if _gtin_shaped(ean):
                by_gtin.setdefault(ean.zfill(14), product)
        object.__setattr__(self, "_by_gtin", by_gtin)

    def get(self, ean: str) -> Product | None:
        """The product of a barcode; a GTIN finds it however many leading zeros either has
        (a GS1 label's 14-digit ``07610000000028`` is the catalog's EAN-13 ``7610000000028``)."""
        product = self.products.get(ean)
        if product is None and _gtin_shaped(ean):
            product = self._by_gtin.get(ean.zfill(14))
        return product

    def __len__(self) -> int:
        return len(self.products)


def _gtin_shaped(code: str) -> bool:
    """EAN-8, UPC-A, EAN-13 or GTIN-14: the lengths a GTIN is written in."""
    return code.isascii() and code.isdigit() and len(code) in (8, 12, 13, 14)
