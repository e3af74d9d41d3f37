"""Build a till from a configuration: catalog, journal, printer, templates."""

from __future__ import annotations

from drivers.printer import DummyPrinter, FilePrinter, ReceiptPrinter, UnsupportedPrinter
from pos_app.config import Config, load_catalog
from pos_app.journal import Journal
from pos_app.receipts import load_templates
from pos_app.services.checkout import Till
from pos_app.services.providers import ProviderSlot, build_providers


def make_printer(config: Config) -> ReceiptPrinter:
    kind = config.printer.kind
    if kind == "file":
        return FilePrinter(config.printer_file())
    if kind == "dummy":
        return DummyPrinter()
    return UnsupportedPrinter(kind)


def open_till(
    config: Config,
    printer: ReceiptPrinter | None = None,
    providers: dict[str, ProviderSlot] | None = None,
) -> Till:
    """Everything the till needs, checked before the first screen is drawn.

    Raises ConfigError (catalog, templates) or JournalError with a message
    for the shop owner.
    """
    catalog = load_catalog(config.catalog.path, config.outlet.currency)
    templates = load_templates(config.receipts)
    journal = Journal(config.journal_path(), config.outlet.id, config.outlet.till)
    slots = providers if providers is not None else build_providers(config)
    return Till(config, catalog, journal, printer or make_printer(config), templates, slots)
