"""Shared fixtures: an isolated data folder, outlet configs, tills and the app."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keyring
import keyring.backend
import keyring.errors
import pytest

from pos_app.config import PROJECT_ROOT, Config, load_config
from pos_app.services.checkout import Till
from pos_app.services.setup import open_till

DEMO_CATALOG = PROJECT_ROOT / "config" / "demo_catalog.toml"

# Demo catalog barcodes used throughout the tests.
ESPRESSO = "7610000000011"  # 14.90, 2.6 %
CROISSANT = "7610000000028"  # 2.50, 2.6 %
MERLOT = "7610000000035"  # 38.00, 8.1 %
CHOCOLATE = "7610000000042"  # 3.95, 2.6 %


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    """Each test starts in English (the source texts) and leaves no language behind."""
    from pos_app import i18n

    i18n.use("en")
    yield
    i18n.use("en")


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own data folder: no test touches a real journal."""
    folder = tmp_path / "data"
    monkeypatch.setenv("POS_DATA_DIR", str(folder))
    monkeypatch.delenv("POS_CONFIG", raising=False)
    return folder


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    def write(body: str = "", *, printer: str = 'kind = "dummy"', currency: str = "CHF",
              name: str = "outlet.toml", top: str = "") -> Path:
        """An outlet config in tmp_path; ``body`` is appended (more tables)."""
        path = tmp_path / name
        text = textwrap.dedent(
            f"""\
            receipts = "{(PROJECT_ROOT / 'receipts').as_posix()}"
            {top}

            [outlet]
            id = "test-outlet"
            name = "Test Shop Zürich"
            till = "1"
            currency = "{currency}"

            [catalog]
            path = "{DEMO_CATALOG.as_posix()}"

            [scanner]
            # Pilot presses keys faster than any scanner: timing is tested on its
            # own (test_ui_scanning.py); elsewhere the Enter suffix alone decides.
            max_gap_ms = 0

            [printer]
            {printer}
            """
        )
        path.write_text(text + textwrap.dedent(body), encoding="utf-8")
        return path

    return write


@pytest.fixture
def config(write_config: Callable[..., Path], request: pytest.FixtureRequest) -> Config:
    """The outlet's configuration. POS_TEST_JOURNAL=forward runs the tests that use it with
    the journal forwarded to a PostgreSQL server (a new database each; issue 18)."""
    if os.environ.get("POS_TEST_JOURNAL", "sqlite") == "forward":
        url = request.getfixturevalue("pg_url")
        return load_config(write_config(f'\n[journal]\nurl = "{url}"\n'))
    return load_config(write_config())


def forwarded(*tills: Till, timeout_s: float = 20) -> None:
    """Wait until each till's journal is on the server (its forwarder woken); a
    forwarding error fails at once, with the forwarder's status."""
    import time

    deadline = time.monotonic() + timeout_s
    for till in tills:
        forwarder = till.journal.forwarder
        forwarder.wake()
        while till.journal.backlog():
            assert time.monotonic() < deadline and forwarder.error is None and forwarder.conflict is None, \
                forwarder.status()
            time.sleep(0.05)


def server_till(config: Config) -> Till:
    """A till whose store is the journal server itself (PgJournal, no local journal): the
    journal suite's PostgreSQL backend under a whole till. The app never runs so (it
    journals locally and forwards); tests use it to put sales on the server directly."""
    from pos_app.config import load_catalog
    from pos_app.journal.postgres import PgJournal
    from pos_app.receipts import load_templates
    from pos_app.services.providers import build_providers
    from pos_app.services.setup import make_printer

    assert config.journal.url
    journal = PgJournal(config.journal.url, config.outlet.id, config.outlet.till)
    templates = load_templates(config.receipts, config.printer.width, config.printer.codepage)
    return Till(config, load_catalog(config.catalog.path, config.outlet.currency), journal,
                make_printer(config), templates, build_providers(config))


@pytest.fixture
def till_factory(config: Config) -> Iterator[Callable[..., Till]]:
    opened: list[Till] = []

    def make(cfg: Config | None = None) -> Till:
        till = open_till(cfg or config)
        opened.append(till)
        return till

    yield make
    for till in opened:
        till.journal.close()


@pytest.fixture
def till(till_factory: Callable[..., Till]) -> Till:
    return till_factory()


SIM_EGUMA = """
[providers.eguma]
base_url = "sim://eguma"
timeout_s = {timeout}
"""

# A short settle window, so tests can see "did not happen" decided: the
# deadline is the send plus settle_s plus timeout_s (1.5 s here).
SIM_EGUMA_QUICK = SIM_EGUMA + "settle_s = 1.0\n"


@pytest.fixture
def eguma_till(write_config: Callable[..., Path], till_factory: Callable[..., Till]) -> Till:
    """A till whose E-GUMA provider is the in-process simulator (as in the demo),
    with a 0.5 s timeout and a 1 s settle window."""
    return till_factory(load_config(write_config(SIM_EGUMA_QUICK.format(timeout=0.5))))


def sim_of(till: Till) -> Any:
    """The E-GUMA simulator behind a till built with ``sim://eguma``."""
    return till.providers["eguma"].simulator


class MemoryKeyring(keyring.backend.KeyringBackend):
    """An in-memory keyring backend for tests (headless Linux has none)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.store[(service, username)]
        except KeyError:
            raise keyring.errors.PasswordDeleteError(username) from None


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


# -- a South African till on the Celbux simulator (issue 16) ----------------------------
CELBUX_SECTION = """
[providers.celbux]
base_url = "sim://celbux"
community = "demo-za"
store_id = "Store1"
timeout_s = 1
settle_s = 3
"""


@pytest.fixture
def za_till(write_config: Callable[..., Path], till_factory: Callable[..., Till]) -> Till:
    catalog = PROJECT_ROOT / "config" / "demo_catalog_za.toml"
    path = write_config(CELBUX_SECTION, currency="ZAR")
    text = path.read_text(encoding="utf-8")
    start = text.index("[catalog]")
    end = text.index("\n\n", start)
    path.write_text(text[:start] + f'[catalog]\npath = "{catalog.as_posix()}"' + text[end:], encoding="utf-8")
    return till_factory(load_config(path))


# -- a real PostgreSQL server (tests/pgserver.py), for the server journal -------------
@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    """One PostgreSQL server for the whole run, started from the machine's binaries
    (skipped, naming the package to install, where there are none)."""
    from tests.pgserver import SKIP_REASON, find_bindir, running_server

    if find_bindir() is None:
        pytest.skip(SKIP_REASON)
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[test]'")
    with running_server() as server:
        yield server


@pytest.fixture
def pg_url(pg_server: Any) -> str:
    """A new, empty database on the test server: its URL."""
    return str(pg_server.create_db())
