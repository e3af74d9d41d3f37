"""Command line: ``pos`` starts the till; ``pos --config PATH`` picks an outlet."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pos_app import __version__
from pos_app.config import DEMO_CONFIG, ConfigError, default_config_path, load_config
from pos_app.journal import JournalError
from pos_app.keys_cli import add_keys_parser, run_keys

EXIT_CONFIG = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pos",
        description="Voucher-aware point-of-sale till. With no configuration it starts "
        "in demo mode against the built-in voucher simulators.",
        epilog=f"Configuration: --config PATH, else $POS_CONFIG, else the demo ({DEMO_CONFIG}). "
        "Data (journal, receipts) lives in the user data folder; $POS_DATA_DIR overrides it.",
    )
    parser.add_argument("--version", action="version", version=f"pos {__version__}")
    parser.add_argument("--config", "-c", type=Path, metavar="PATH",
                        help="outlet configuration (TOML); see config/example.toml")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    sim = commands.add_parser(
        "simulate", help="serve a provider simulator over HTTP (for tests and training)",
        description="Serve a voucher provider's simulator over real HTTP. Point a test "
        "outlet's [providers.<name>] base_url at it (http://127.0.0.1:PORT).",
    )
    sim.add_argument("provider", choices=["eguma"])
    sim.add_argument("--port", type=int, default=8765)
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--data", type=Path, metavar="FILE",
                     help="seed data (TOML); default: the demo vouchers")
    add_keys_parser(commands)
    return parser


def fail(message: str) -> int:
    print(f"pos: {message}", file=sys.stderr)
    return EXIT_CONFIG


def run_app(config_path: Path) -> int:
    # Imported here so `pos --help` and config errors stay fast and Textual-free.
    from pos_app.services.setup import open_till
    from pos_app.ui.app import PosApp

    try:
        config = load_config(config_path)
        till = open_till(config)
    except (ConfigError, JournalError) as exc:
        return fail(str(exc))
    try:
        PosApp(till).run()
    finally:
        till.journal.close()
    return 0


def simulate(provider: str, host: str, port: int, data: Path | None) -> int:
    from pos_app.providers.eguma import simulator

    try:
        simulator.load_data(data)  # a broken data file is reported here, not by uvicorn
    except simulator.SimulatorDataError as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"{data}: {exc.strerror or exc}")
    print(f"E-GUMA simulator on http://{host}:{port} (Ctrl+C stops it)", file=sys.stderr)
    try:
        simulator.run(host, port, data)
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "simulate":
        return simulate(args.provider, args.host, args.port, args.data)
    if args.command == "keys":
        return run_keys(args)
    config_path = args.config or default_config_path()
    return run_app(config_path)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
