"""Products a till sells, keyed by barcode."""

from __future__ import annotations

from dataclasses import dataclass
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

    def get(self, ean: str) -> Product | None:
        return self.products.get(ean)

    def __len__(self) -> int:
        return len(self.products)
