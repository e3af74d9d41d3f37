"""Configuration and the command line: bad files exit 2 with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pos_app import __version__
from pos_app.config import DEMO_CONFIG, PROJECT_ROOT, ConfigError, load_catalog, load_config


def pos(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pos_app", *args],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **(env or {})},
    )


def test_help_and_version() -> None:
    result = pos("--help")
    assert result.returncode == 0 and "--config" in result.stdout and "demo" in result.stdout
    result = pos("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"pos {__version__}"


def test_demo_config_and_example_are_valid() -> None:
    demo = load_config(DEMO_CONFIG)
    assert demo.demo and demo.outlet.currency == "CHF"
    assert demo.providers["eguma"].simulated
    assert len(load_catalog(demo.catalog.path, "CHF")) >= 8
    example = load_config(PROJECT_ROOT / "config" / "example.toml")
    assert not example.demo and example.printer.kind == "network"


@pytest.mark.parametrize(
    ("body", "top", "message"),
    [
        ('[outlet]\nid = "x"\n', "", r"not valid TOML: .*twice \(at line"),  # TOML error
        ("", "colour = 1", "colour: unknown key"),
        ('[printer2]\nkind = "x"\n', "", r"\[printer2\]: unknown section — did you mean \[printer\]\?"),
        # a misspelt section is named, not only the "kind is required" it causes
        ('[printr]\nkind = "dummy"\n', "", r"\[printr\]: unknown section — did you mean \[printer\]\?"),
        ('[providers.eguma]\nbase_url = "sim://eguma"\ntimout_s = 3\n', "",
         r"\[providers.eguma\] timout_s: unknown key — did you mean timeout_s\?"),
        ("", 'keys = { cash = "f4" }', "'f4' is bound to both"),
        ("", 'keys = { coffee = "f11" }', "unknown action 'coffee'"),
        ('[providers.eguma]\nbase_url = "sim://eguma"\ntimeout_s = -1\n', "",
         r"\[providers.eguma\] timeout_s: Input should be greater than 0 \(got -1\)"),
        ('[checkout]\nmax_cash_given = "lots"\n', "", r"\[checkout\] max_cash_given: 'lots' is not an amount"),
        ('[checkout]\nmax_cash_given = "1e999999"\n', "",
         r"\[checkout\] max_cash_given: the amount is too large for the till"),  # was a decimal.Overflow traceback
        ('[providers.eguma]\nbase_url = "sim://eguma"\ntimeout_s = 10\nsettle_s = 5\n', "",
         r"\[providers\] eguma: settle_s \(5\) must be longer than timeout_s \(10\)"),
        ('[providers.paypal]\nbase_url = "https://x"\n', "", r"\[providers.paypal\]: unknown provider 'paypal' \(known: celbux, csq, eguma, jtl\)"),
        ('[providers.eguma]\nbase_url = "sim://eguma"\ntimout_s = 30\n', "",
         r"\[providers.eguma\] timout_s: unknown key"),
    ],
)
def test_bad_config_exits_2_with_the_file_and_key(
    write_config: Callable[..., Path], body: str, top: str, message: str
) -> None:
    path = write_config(body, top=top)
    result = pos("--config", str(path))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"pos: {path}")
    import re

    assert re.search(message, lines[0]), lines[0]


@pytest.mark.parametrize(
    ("printer", "message"),
    [
        ('kind = "laser"', "[printer] kind: Input should be 'network', 'usb', 'serial', 'file', 'cups' or 'dummy' (got 'laser')"),
        ('kind = "network"', "outlet.toml: [printer] host: is required for kind = 'network': add the printer's address"),
        ('kind = "dummy"\nwidth = "wide"', "[printer] width: Input should be a valid integer"),
    ],
)
def test_bad_printer_section(write_config: Callable[..., Path], printer: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(printer=printer))
    assert message in str(caught.value)


def test_bad_currency(write_config: Callable[..., Path]) -> None:
    with pytest.raises(ConfigError, match=r"\[outlet\] currency: Value error|\[outlet\] currency: must be one of"):
        load_config(write_config(currency="XYZ"))


def test_missing_config_file(tmp_path: Path) -> None:
    result = pos("--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"pos: {tmp_path / 'nope.toml'}: file not found"


def test_pos_config_environment_variable(tmp_path: Path) -> None:
    result = pos(env={"POS_CONFIG": str(tmp_path / "from-env.toml")})
    assert result.returncode == 2 and "from-env.toml: file not found" in result.stderr


@pytest.mark.parametrize(
    ("catalog", "message"),
    [
        ('[[product]]\nean = "1"\nname = "A"\nprice = "1.005"\nvat = "8.1"\n', "price: '1.005' has more than 2 decimals"),
        ('[[product]]\nean = "1"\nname = "A"\nprice = "1.00"\nvat = "180"\n', "vat: VAT rate '180' must be between"),
        ('[[product]]\nean = "1"\nname = "A"\nprice = "1"\nvat = "0"\n[[product]]\nean = "1"\nname = "B"\nprice = "1"\nvat = "0"\n',
         "ean '1' is listed twice"),
        ('[[product]]\nean = "1"\nprice = "1"\nvat = "0"\n', "product #1: name: Field required"),
        ("", "no [[product]] entries"),
    ],
)
def test_bad_catalog_exits_2(write_config: Callable[..., Path], tmp_path: Path, catalog: str, message: str) -> None:
    cat = tmp_path / "catalog.toml"
    cat.write_text(catalog, encoding="utf-8")
    path = write_config()
    path.write_text(path.read_text().replace(str(PROJECT_ROOT / "config" / "demo_catalog.toml"), "catalog.toml"))
    result = pos("--config", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert message in result.stderr and str(cat) in result.stderr


def test_broken_receipt_template_is_reported_at_start(write_config: Callable[..., Path], tmp_path: Path) -> None:
    folder = tmp_path / "receipts"
    folder.mkdir()
    (folder / "sale.toml").write_text('header = ["{shop_name}"]\nfooter = []\n', encoding="utf-8")
    path = write_config(top=f'receipts = "{folder.as_posix()}"')
    path.write_text(path.read_text().replace(f'receipts = "{(PROJECT_ROOT / "receipts").as_posix()}"', ""))
    result = pos("--config", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "unknown placeholder {shop_name}" in result.stderr


def _without_receipts(path: Path) -> Path:
    text = path.read_text(encoding="utf-8")
    line = f'receipts = "{(PROJECT_ROOT / "receipts").as_posix()}"\n'
    assert line in text
    path.write_text(text.replace(line, ""), encoding="utf-8")
    return path


def test_receipts_not_set_and_not_next_to_the_config(write_config: Callable[..., Path], tmp_path: Path) -> None:
    """A configuration copied to /etc/pos: the default ../receipts is /etc/receipts,
    which is not there. The message names the setting and the fix, not just a file."""
    (tmp_path / "etc" / "pos").mkdir(parents=True)
    path = _without_receipts(write_config(name="etc/pos/shop.toml"))
    result = pos("--config", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    folder = tmp_path / "etc" / "receipts"
    assert lines[0].startswith(f"pos: {path}: receipts: not set, so the receipt templates are looked for in "
                               f"{folder} (\"../receipts\" next to this file), which does not exist; ")
    assert 'receipts = "/path/to/receipts"' in lines[0] and str(PROJECT_ROOT / "receipts") in lines[0]
    # the same folder next to the configuration is found
    (folder).mkdir()
    (folder / "sale.toml").write_text('header = ["{outlet_name}"]\nfooter = []\n', encoding="utf-8")
    assert load_config(path).receipts == folder


@pytest.mark.parametrize(("make", "problem"), [
    (lambda folder: None, "does not exist"),
    (lambda folder: folder.write_text("", encoding="utf-8"), "is not a folder"),
    (lambda folder: folder.mkdir(), "has no sale.toml"),
])
def test_receipts_set_to_a_wrong_folder(write_config: Callable[..., Path], tmp_path: Path,
                                        make: Callable[[Path], None], problem: str) -> None:
    folder = tmp_path / "my-receipts"
    make(folder)
    path = _without_receipts(write_config(top='receipts = "my-receipts"'))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: receipts: {folder} {problem}; point receipts ")
    assert "\n" not in message


@pytest.mark.parametrize("section", [False, True])
def test_a_printer_kind_must_be_given(write_config: Callable[..., Path], section: bool) -> None:
    """No silent "dummy" printer for a real outlet: its receipts would go nowhere
    and be marked printed."""
    path = write_config(printer="")
    if not section:
        path.write_text(path.read_text(encoding="utf-8").replace("[printer]\n", ""), encoding="utf-8")
    result = pos("--config", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"pos: {path}: [printer] kind: is required but missing: ")
    assert 'kind = "network"' in lines[0] and "config/example.toml" in lines[0]


def test_the_demo_prints_to_a_file() -> None:
    assert load_config(DEMO_CONFIG).printer.kind == "file"


def test_scanner_min_length_above_max_length(write_config: Callable[..., Path]) -> None:
    """Refused at start, not when the scan field is first shown."""
    path = write_config()
    path.write_text(path.read_text(encoding="utf-8").replace(
        "max_gap_ms = 0", "max_gap_ms = 0\nmin_length = 20\nmax_length = 10"), encoding="utf-8")
    result = pos("--config", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"pos: {path}: [scanner] max_length: must not be less than min_length (20) (got 10)")


def test_an_outlet_id_error_says_what_is_allowed_not_a_regex(write_config: Callable[..., Path]) -> None:
    path = write_config()
    path.write_text(path.read_text(encoding="utf-8").replace('id = "test-outlet"', 'id = "shop zürich"'),
                    encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "[outlet] id: use letters, digits, '.', '_' and '-' only" in message and "^[" not in message


def test_a_missing_catalog_names_the_setting(write_config: Callable[..., Path], tmp_path: Path) -> None:
    path = write_config()
    path.write_text(path.read_text(encoding="utf-8").replace("demo_catalog.toml", "nope.toml"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: [catalog] path: ") and "does not exist" in str(caught.value)
    assert "(top level)" not in str(caught.value)


def test_a_config_error_comes_in_the_language_the_file_names(tmp_path: Path) -> None:
    """The file says `language = "de"`: its own mistakes are told in German, by `pos`
    itself (a new process, whatever $LANG says)."""
    catalog = PROJECT_ROOT / "config" / "demo_catalog.toml"
    config = tmp_path / "shop.toml"
    config.write_text(f'[outlet]\nid = "shop"\nname = "Shop"\ntill = "1"\ncurrency = "CHF"\nlanguage = "de"\n'
                      f'[catalog]\npath = "{catalog.as_posix()}"\n[printr]\nkind = "dummy"\n', encoding="utf-8")
    done = pos("--config", str(config), env={**os.environ, "LANG": "C.UTF-8", "LC_ALL": ""})
    assert done.returncode == 2
    assert "[printr]: unbekannter Abschnitt — meinten Sie [printer]?" in done.stderr, done.stderr
    with pytest.raises(ConfigError, match=r"\[printr\]: unknown section"):  # the same file, English asked
        config.write_text(config.read_text(encoding="utf-8").replace('language = "de"', 'language = "en"'),
                          encoding="utf-8")
        load_config(config)


def test_language_option_overrides_the_outlet_language_for_one_start(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`pos --language fr` (the demo: `tasks.py demo --language fr`): this start in French,
    the locale from the currency again (fr_CH), the file untouched."""
    from pos_app import cli

    seen: list[tuple[str, str | None]] = []

    def stop(config: object) -> None:
        outlet = config.outlet  # type: ignore[attr-defined]
        seen.append((outlet.language, outlet.locale))
        raise SystemExit(7)

    monkeypatch.setattr(cli, "use_outlet_language", stop)
    monkeypatch.setenv("POS_DATA_DIR", str(tmp_path))
    before = DEMO_CONFIG.read_bytes()
    with pytest.raises(SystemExit):
        cli.main(["--language", "fr", "--config", str(DEMO_CONFIG)])
    assert seen == [("fr", None)] and DEMO_CONFIG.read_bytes() == before
    with pytest.raises(SystemExit):
        cli.main(["--language", "xx"])  # argparse names the choices


def test_every_problem_of_a_file_is_named_not_only_counted(tmp_path: Path) -> None:
    config = tmp_path / "shop.toml"
    config.write_text('[outlet]\nid = "shop"\nname = "Shop"\ntill = "1"\ncurrency = "CHF"\n'
                      '[katalog]\npath = "x.toml"\n[printr]\nkind = "dummy"\n[printer]\nkind = "laser"\n',
                      encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    lines = str(caught.value).splitlines()
    assert lines[0] == f"{config}: [katalog]: unknown section — did you mean [catalog]? (see config/example.toml)"
    assert lines[1] == "  [printr]: unknown section — did you mean [printer]? (see config/example.toml)"
    assert any(line.startswith("  [printer] kind: ") and "'laser'" in line for line in lines[2:])
    assert "more problem" not in str(caught.value)  # all four named


def test_language_option_reaches_the_commands(tmp_path: Path) -> None:
    """`pos --language fr ... keys list` speaks French although the file says German."""
    config = tmp_path / "shop.toml"
    catalog = PROJECT_ROOT / "config" / "demo_catalog.toml"
    config.write_text(f'[outlet]\nid = "shop"\nname = "Shop"\ntill = "1"\ncurrency = "CHF"\nlanguage = "de"\n'
                      f'[catalog]\npath = "{catalog.as_posix()}"\n[printr]\nkind = "dummy"\n', encoding="utf-8")
    done = pos("--language", "fr", "--config", str(config), env={**os.environ, "LANG": "C.UTF-8", "LC_ALL": ""})
    assert done.returncode == 2 and "section inconnue" in done.stderr, done.stderr
    from pos_app import config as config_module

    assert config_module.language_override is None  # nothing left behind in this process
