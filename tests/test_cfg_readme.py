"""The README's demo tables, key table and configuration table match the code."""

from __future__ import annotations

import re
import tomllib

from pydantic import BaseModel

from pos_app.config import DEFAULT_KEYS, DEMO_CONFIG, PROJECT_ROOT, Config, load_catalog, load_config

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
DEMO_VOUCHERS = PROJECT_ROOT / "pos_app" / "providers" / "eguma" / "demo_vouchers.toml"


def tables() -> list[list[list[str]]]:
    """Every markdown table: its rows (header and separator included), cells stripped."""
    found: list[list[list[str]]] = []
    current: list[list[str]] | None = None
    for line in README.splitlines():
        if line.startswith("|"):
            if current is None:
                current = []
                found.append(current)
            current.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        else:
            current = None
    return found


def table_with(first_cell: str) -> list[list[str]]:
    matches = [t for t in tables() if any(row[0] == first_cell for row in t)]
    assert len(matches) == 1, f"{first_cell!r} is in {len(matches)} tables"
    return matches[0]


def test_every_demo_voucher_is_listed() -> None:
    data = tomllib.loads(DEMO_VOUCHERS.read_text(encoding="utf-8"))
    codes = [v["code"] for v in data["vouchers"]] + [s["short"] for s in data["short_codes"]]
    listed = [row[0] for row in table_with("L4FU-5LQT-KJR3")[2:]]
    assert sorted(listed) == sorted(codes)


def test_every_demo_product_is_listed() -> None:
    demo = load_config(DEMO_CONFIG)
    catalog = load_catalog(demo.catalog.path, "CHF")
    rows = table_with("7610000000011")[2:]
    assert len(rows) == len(catalog)
    for ean, name, price, vat in rows:
        product = catalog.get(ean)
        assert product is not None, ean
        assert (product.name, product.price.amount_str()) == (name, price)


def test_every_key_is_in_the_key_table() -> None:
    rows = {row[0] for row in table_with("F2")}
    assert {key.upper() for key in DEFAULT_KEYS.values()} <= rows


def test_every_section_is_in_the_configuration_table() -> None:
    first_cells = " ".join(row[0] for row in table_with("`[outlet]`"))
    for name, field in Config.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) or name == "keys":
            assert f"`[{name}]`" in first_cells, name
        elif name == "providers":
            assert "`[providers.<name>]`" in first_cells
    top = " ".join(table_with("`[outlet]`")[2])
    assert "`receipts`" in top and "`demo`" in top


def test_the_status_screen_is_described_as_it_is() -> None:
    f12 = next(row for row in table_with("F2") if row[0] == "F12")[1]
    assert "journal health" not in f12 and "the journal's path" in f12
    assert re.search(r"`k` reloads", f12) and re.search(r"`d` opens the cash drawer", f12)
