"""Build a till from a configuration: catalog, journal, printer, templates."""

from __future__ import annotations

import logging
from typing import Any

from drivers.printer import ReceiptPrinter
from drivers.printer.codepage import codepage_number
from drivers.printer.factory import open_printer
from pos_app.config import Config, ConfigError, load_catalog, use_outlet_language
from pos_app.i18n import _
from pos_app.journal import Journal, JournalError, JournalStore
from pos_app.receipts import load_templates
from pos_app.services.checkout import Till
from pos_app.services.providers import ProviderSlot, build_providers

_log = logging.getLogger(__name__)


def make_printer(config: Config) -> ReceiptPrinter:
    """The configured printer backend (nothing is opened until the first receipt)."""
    p = config.printer
    try:
        codepage_number(p.codepage, p.profile)
        return open_printer(
            p.kind, path=config.printer_file(), host=p.host, port=p.port, vendor_id=p.vendor_id,
            product_id=p.product_id, in_ep=p.in_ep, out_ep=p.out_ep, interface=p.interface,
            device=p.device, baudrate=p.baudrate, bytesize=p.bytesize, parity=p.parity,
            stopbits=p.stopbits, rtscts=p.rtscts, dsrdtr=p.dsrdtr, xonxoff=p.xonxoff, queue=p.queue,
            cups_host=p.cups_host, timeout_s=p.timeout_s, status_timeout_s=p.status_timeout_s,
        )
    except ValueError as exc:
        raise ConfigError(_("{file}: [printer] {problem}").format(file=config.source, problem=exc)) from None


def open_journal(config: Config) -> JournalStore:
    """The outlet's journal: SQLite (the default, one till); with ``[journal] url`` the
    till's own SQLite journal that forwards every change to the shop's PostgreSQL
    server (its password, if any, from the keyring). The till never writes to the
    server in its event loop: a slow or absent server cannot freeze the screen."""
    if not config.journal.url:
        return Journal(config.journal_path(), config.outlet.id, config.outlet.till)
    j = config.journal
    outlet, till = config.outlet.id, config.outlet.till
    password = journal_password(config)
    from pos_app.journal.forward import Forwarder, ForwardingJournal, replay_store

    url = j.url

    def connect() -> Any:
        return replay_store(url, outlet, till, password=password, connect_timeout_s=j.connect_timeout_s,
                            statement_timeout_s=j.statement_timeout_s)

    local = ForwardingJournal(config.journal_path(), outlet, till)
    try:
        if local.is_new():  # the first start here: go on from the till's numbers on the server
            try:
                server = connect()
            except JournalError as exc:
                raise JournalError(_("this till starts a new local journal for the journal server, and needs the "
                                     "server once for that (to go on from this till's order numbers there): "
                                     "{problem}").format(problem=exc)) from None
            try:
                local.take_over_counters(server)
            finally:
                server.close()
    except BaseException:
        local.close()
        raise
    local.forwarder = Forwarder(local, connect)
    local.forwarder.start()
    return local


def journal_password(config: Config) -> str | None:
    """The journal server's password from the keyring (None: none stored, or no
    keyring: the server may trust the till, else it says the password is missing)."""
    from pos_app.secrets import JOURNAL, JOURNAL_FIELD, SecretsError, get_secret

    try:
        return get_secret(config.outlet.id, JOURNAL, JOURNAL_FIELD, allow_insecure=config.keyring.allow_insecure)
    except SecretsError as exc:
        _log.warning("the journal server's password cannot be read from the keyring: %s", exc)
        return None


def open_till(
    config: Config,
    printer: ReceiptPrinter | None = None,
    providers: dict[str, ProviderSlot] | None = None,
) -> Till:
    """Everything the till needs, checked before the first screen is drawn.

    Raises ConfigError (catalog, templates) or JournalError with a message
    for the shop owner. The till speaks the outlet's language from here on.
    """
    use_outlet_language(config)
    catalog = load_catalog(config.catalog.path, config.outlet.currency)
    templates = load_templates(config.receipts, config.printer.width, config.printer.codepage)
    printer = printer or make_printer(config)
    journal = open_journal(config)
    slots = providers if providers is not None else build_providers(config)
    return Till(config, catalog, journal, printer, templates, slots)
