"""Command line: ``pos`` starts the till; ``pos --config PATH`` picks an outlet.

Starting the till imports only what it needs to draw the checkout: ``pos
keys``, ``pos journal``, ``pos providers`` and ``pos report`` (their modules, the keyring
tools) are imported only for those commands, ``--version`` reads the package metadata only when
asked, and httpx's own command line client is kept out (see
:func:`without_httpx_cli`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import platformdirs

from pos_app import config as config_module
from pos_app import i18n
from pos_app.config import DEMO_CONFIG, ConfigError, default_config_path, load_config, use_outlet_language
from pos_app.files import PRIVATE_UMASK, setup_log_file, tighten
from pos_app.i18n import LANGUAGES, _
from pos_app.journal import JournalError
from pos_app.providers import registry
from pos_app.providers.base import clean_log_text

EXIT_CONFIG = 2


# Commands whose modules the till's start does not need (imported when one is named).
TOOLS = ("keys", "journal", "providers", "report")


class _Version(argparse.Action):
    """``--version``: the version is read from the package metadata only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help=_("show the till's version and exit"))

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        from pos_app import __version__

        print(_("pos {version}").format(version=__version__))
        parser.exit()


def build_parser(tools: bool = True) -> argparse.ArgumentParser:
    """``pos``'s parser. ``tools=False``: ``keys`` and ``journal`` are known as names only,
    for a command line that names neither and asks for no help (a start of the till)."""
    parser = argparse.ArgumentParser(
        prog="pos",
        description=_("Voucher-aware point-of-sale till. With no configuration it starts "
                      "in demo mode against the built-in voucher simulators."),
        epilog=_("Configuration: --config PATH, else $POS_CONFIG, else the demo ({demo}). "
                 "Data (journal, receipts) lives in the user data folder; $POS_DATA_DIR overrides it.").format(
            demo=DEMO_CONFIG),
    )
    parser.add_argument("--version", action=_Version)
    parser.add_argument("--language", choices=sorted(LANGUAGES), metavar="LANG",
                        help=_("start the till in this language (en, de, fr, it) instead of the "
                               "configuration's [outlet] language"))
    parser.add_argument("--config", "-c", type=Path, metavar="PATH",
                        help=_("outlet configuration (TOML); see config/example.toml"))
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    sim = commands.add_parser(
        "simulate", help=_("serve a provider simulator over HTTP (for tests and training)"),
        description=_("Serve a voucher provider's simulator over real HTTP. Point a test "
                      "outlet's [providers.<name>] base_url at it (http://127.0.0.1:PORT)."),
    )
    sim.add_argument("provider", choices=registry.names())
    sim.add_argument("--port", type=int, default=8765)
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--data", type=Path, metavar="FILE",
                     help=_("seed data (TOML); default: the demo vouchers"))
    if tools:
        from pos_app.journal_cli import add_journal_parser
        from pos_app.keys_cli import add_keys_parser
        from pos_app.providers_cli import add_providers_parser
        from pos_app.report_cli import add_report_parser

        add_keys_parser(commands)
        add_journal_parser(commands)
        add_providers_parser(commands)
        add_report_parser(commands)
    else:
        for name in TOOLS:  # so that a mistyped command still lists them
            commands.add_parser(name, add_help=False)
    scanner = commands.add_parser("scanner", help=_("scanner tools")).add_subparsers(dest="action", required=True)
    scanner.add_parser("test", help=_("show each scan as received (raw and normalised); Ctrl+C ends it"))
    printer = commands.add_parser("printer", help=_("printer tools")).add_subparsers(dest="action", required=True)
    printer.add_parser("test", help=_("print a test page (code page characters and a barcode)"))
    return parser


def fail(message: str) -> int:
    print(_("pos: {message}").format(message=message), file=sys.stderr)
    return EXIT_CONFIG


def environment_language(environ: dict[str, str] | None = None) -> tuple[str, str | None]:
    """The language (and locale) of ``$LC_ALL``, ``$LC_MESSAGES`` or ``$LANG`` (the
    first one set, as the C library reads them) when it is one of the till's:
    ``de_CH.UTF-8`` -> ``("de", "de_CH")``; else English. For what ``pos`` says
    before it has read the outlet's configuration (e.g. that the file is broken)."""
    env = os.environ if environ is None else environ
    value = next((env[name] for name in ("LC_ALL", "LC_MESSAGES", "LANG") if env.get(name)), "")
    name = value.split(".", 1)[0].split("@", 1)[0]
    language = name.split("_", 1)[0].lower()
    if language not in i18n.LANGUAGES:
        return i18n.SOURCE_LANGUAGE, None
    if "_" in name:
        from babel import Locale, UnknownLocaleError

        try:
            Locale.parse(name)
            return language, name
        except (UnknownLocaleError, ValueError):
            pass
    return language, None


def use_environment_language() -> None:
    language, locale = environment_language()
    i18n.use(language, locale)


def prepare_runtime(log_dir: Path) -> None:
    """Before python-escpos is imported: it would install a stderr log handler
    (which corrupts the screen) and unpack its printer database into a new
    temporary folder in every process. Logs go to a file instead.

    The till's files are private whatever the umask: files 0600, folders 0700
    (``pos_app.files``). The log is redacted (keys, voucher codes in URLs); one
    that cannot be written is said once here, and the till runs without it."""
    os.umask(PRIVATE_UMASK)
    cache = Path(os.environ.setdefault("ESCPOS_CAPABILITIES_PICKLE_DIR",
                                       platformdirs.user_cache_dir("pos-app", appauthor=False)))
    cache.mkdir(parents=True, exist_ok=True)
    problem = setup_log_file(log_dir, clean=clean_log_text)
    if problem is not None:
        print(_("pos: {message}").format(message=problem), file=sys.stderr)


def without_httpx_cli() -> None:
    """Keep httpx's command line client out of the till.

    ``import httpx`` imports ``httpx._main``, its ``httpx`` command, which
    imports click, pygments and rich's console whenever they are installed
    (click and pygments come with the development tools): about 40 ms of the
    till's start for a command the till never runs. A module set to None in
    ``sys.modules`` cannot be imported, and httpx falls back to a stub that
    only says the command line client is not installed; nothing else in
    httpx uses it. Only before httpx is first imported, and only in the till's
    own process (``pos`` started as the till)."""
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def run_app(config_path: Path, language: str | None = None) -> int:
    # Imported here so `pos --help` and config errors stay fast and Textual-free.
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        return fail(str(exc))
    if language is not None:  # `pos --language de`: this start only, the file unchanged
        config = config.model_copy(update={"outlet": config.outlet.model_copy(
            update={"language": language, "locale": None})})
    use_outlet_language(config)
    prepare_runtime(config.data_dir())
    without_httpx_cli()
    if config.printer.path is None:
        tighten(config.printer_file())  # printer.bin of a till from before files were private
    from pos_app.journal.store import check_writable
    from pos_app.services.setup import open_till
    from pos_app.tilllock import TillBusy, TillLock
    from pos_app.ui.app import NoTerminal, PosApp

    try:
        check_writable(config.journal_path())  # a read-only folder: said so, not "cannot lock"
    except JournalError as exc:
        return fail(str(exc))
    lock = TillLock(config.journal_path())  # one till per journal, before the journal is opened
    try:
        lock.acquire()
    except TillBusy as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(_("{path}: cannot lock the journal: {problem}").format(path=lock.path,
                                                                          problem=exc.strerror or exc))
    try:
        till = open_till(config)
    except (ConfigError, JournalError) as exc:
        lock.release()
        return fail(str(exc))
    app = PosApp(till)
    try:
        app.run()
    except NoTerminal as exc:
        return fail(str(exc))
    finally:
        till.journal.close()
        lock.release()
    # A crash (an exception Textual caught and printed) is never exit code 0.
    return app.return_code or 0


def simulate(provider: str, host: str, port: int, data: Path | None) -> int:
    desc = registry.descriptor(provider)
    simulator = desc.simulator()

    try:
        simulator.load_data(data)  # a broken data file is reported here, not by uvicorn
    except simulator.SimulatorDataError as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(_("{path}: {problem}").format(path=data, problem=exc.strerror or exc))
    print(_("{provider} simulator on http://{host}:{port} (Ctrl+C stops it)").format(
        provider=desc.display_name, host=host, port=port), file=sys.stderr)
    try:
        simulator.run(host, port, data)
    except KeyboardInterrupt:
        pass
    return 0


def hardware_test(device: str, config_path: Path) -> int:
    """`pos scanner test` / `pos printer test` with the outlet's configured hardware."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        return fail(str(exc))
    use_outlet_language(config)
    prepare_runtime(config.data_dir())
    if device == "scanner":
        from drivers.scanner.cli import scanner_test

        s = config.scanner
        print(_("Scanner test ({kind}): scan codes; Ctrl+C ends it.").format(kind=s.kind), file=sys.stderr)
        if s.kind == "serial":
            return scanner_test("serial", port=s.port, baudrate=s.baudrate, bytesize=s.bytesize,
                                parity=s.parity, stopbits=s.stopbits, suffix=s.suffix, prefix=s.prefix)
        return scanner_test("keyboard", suffix=s.suffix, prefix=s.prefix,
                            max_gap_s=s.max_gap_ms / 1000 or None, min_length=s.min_length,
                            detect_azerty=s.detect_azerty)
    from drivers.printer.test_page import printer_test
    from pos_app.services.setup import make_printer

    try:
        printer = make_printer(config)
    except ConfigError as exc:
        return fail(str(exc))
    p = config.printer
    return printer_test(printer, p.width, p.profile, codepage=p.codepage)


def main(argv: list[str] | None = None) -> int:
    use_environment_language()  # until the outlet's configuration says otherwise
    words = set(sys.argv[1:] if argv is None else argv)
    args = build_parser(tools=not words.isdisjoint((*TOOLS, "-h", "--help"))).parse_args(argv)
    if args.language is None:
        return _run(args)
    config_module.language_override = args.language  # every command of this run, not only the till
    i18n.use(args.language)
    try:
        return _run(args)
    finally:
        config_module.language_override = None


def _run(args: argparse.Namespace) -> int:
    if args.command == "simulate":
        return simulate(args.provider, args.host, args.port, args.data)
    if args.command == "keys":
        from pos_app.keys_cli import run_keys

        return run_keys(args)
    if args.command == "journal":
        from pos_app.journal_cli import run_journal

        return run_journal(args)
    if args.command == "report":
        from pos_app.report_cli import run_report

        return run_report(args)
    if args.command == "providers":
        from pos_app.providers_cli import run_providers

        return run_providers(args)
    config_path = args.config or default_config_path()
    if args.command in ("scanner", "printer"):
        return hardware_test(args.command, config_path)
    return run_app(config_path, args.language)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
