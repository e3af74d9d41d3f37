"""Configuration: TOML files validated by pydantic models.

Nothing here touches the disk at import time. ``load_config`` reads one
file, resolves relative paths against the file's folder and raises
``ConfigError`` with one sentence naming the file, the key and the problem.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import platformdirs
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pos_app import i18n
from pos_app.domain.catalog import Catalog, Product
from pos_app.domain.money import EXPONENTS, Money, MoneyError
from pos_app.domain.vat import VatError, parse_rate
from pos_app.i18n import N_, _, ngettext
from pos_app.providers import registry
from pos_app.providers.base import ProviderSettings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEMO_CONFIG = PROJECT_ROOT / "config" / "demo.toml"
SHIPPED_RECEIPTS = PROJECT_ROOT / "receipts"  # the templates that come with the till (a sample shop)
APP_NAME = "pos-app"


class ConfigError(Exception):
    """A configuration or catalog problem, said in one line for the shop owner."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Ident = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40,
                                         pattern=r"^[A-Za-z0-9._-]+$")]


class OutletConfig(_Section):
    id: Ident
    name: str = Field(min_length=1)
    till: Ident = "1"
    currency: str = "CHF"
    # The language of the till's screens, messages and receipts (en, de, fr, it).
    language: str = "en"
    # Numbers and amounts (1'234.50 or 1.234,50); None: the language in the
    # country of the currency (i18n.default_locale: de + CHF -> de_CH).
    locale: str | None = None

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in EXPONENTS:
            raise ValueError(_("must be one of {names}").format(names=", ".join(sorted(EXPONENTS))))
        return value

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        value = value.strip()
        if value.lower() in i18n.LANGUAGES:
            return value.lower()  # "DE" is "de"
        if value == i18n.PSEUDO:  # tests only, not offered
            return value
        language, _sep, country = value.replace("-", "_").partition("_")
        if language.lower() in i18n.LANGUAGES and country:  # "de_CH": a locale, not a language
            raise ValueError(_('"{value}" is a language and a country: write language = "{language}" and '
                               'locale = "{locale}"').format(value=value, language=language.lower(),
                                                             locale=f"{language.lower()}_{country.upper()}"))
        raise ValueError(_("unknown language; use one of {names}").format(
            names=", ".join(f'"{code}" ({name})' for code, name in i18n.LANGUAGES.items())))

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().replace("-", "_")
        from babel import Locale, UnknownLocaleError

        try:
            Locale.parse(value)
        except (UnknownLocaleError, ValueError):
            raise ValueError(_('unknown locale; write language_COUNTRY, e.g. "de_CH", "fr_CH", '
                               '"de_DE" (or leave it out for the language in the country of the '
                               'currency)')) from None
        return value

    def number_locale(self) -> str:
        """The locale for numbers: the configured one, else the language in the
        country of the currency."""
        return self.locale or i18n.default_locale(self.language, self.currency)


class CatalogConfig(_Section):
    path: Path


ProviderConfig = ProviderSettings  # the common part of every [providers.<name>] section


def provider_section(name: str, section: Any) -> ProviderSettings:
    """``[providers.<name>]`` validated by the provider's own settings model
    (its descriptor gives the defaults: settle_s, code_pattern)."""
    if isinstance(section, ProviderSettings):
        return section
    try:
        model = registry.descriptor(name).settings_model
    except registry.UnknownProvider as exc:
        raise ValueError(str(exc)) from None
    return model.model_validate(section)


Parity = Literal["N", "E", "O", "M", "S"]


class PrinterConfig(_Section):
    # No default: a till that silently printed to "dummy" would mark receipts
    # printed that never were. The demo and the tests say which printer they use.
    kind: Literal["network", "usb", "serial", "file", "cups", "dummy"]
    width: int = Field(default=42, ge=32, le=64)
    profile: str = "default"
    codepage: str = "CP858"  # has ä ö ü é à ç and € (0xD5)
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    status_timeout_s: float = Field(default=1.0, gt=0, le=10)
    # Ask the paper sensor after every receipt (network, usb, serial): paper out or no
    # answer keeps the receipt for F7. False for a printer that never answers.
    check_paper: bool = True
    path: Path | None = None  # file
    host: str | None = None  # network
    port: int = Field(default=9100, ge=1, le=65535)
    vendor_id: int | None = None  # usb
    product_id: int | None = None
    in_ep: int = 0x82
    out_ep: int = 0x01
    interface: int = 0
    device: str | None = None  # serial
    baudrate: int = 19200
    bytesize: Literal[5, 6, 7, 8] = 8
    parity: Parity = "N"
    stopbits: Literal[1, 1.5, 2] = 1
    rtscts: bool = False
    dsrdtr: bool = False
    xonxoff: bool = False
    queue: str | None = None  # cups
    cups_host: str | None = None


class ScannerConfig(_Section):
    kind: Literal["keyboard", "serial"] = "keyboard"
    suffix: str = Field(default="\r", min_length=1)
    prefix: str = ""
    max_gap_ms: int = Field(default=50, ge=0, le=1000)  # 0: no timing, the suffix alone decides
    min_length: int = Field(default=4, ge=1, le=64)
    max_length: int = Field(default=128, ge=4, le=1024)
    detect_azerty: bool = True
    port: str | None = None  # serial
    baudrate: int = 9600
    bytesize: Literal[5, 6, 7, 8] = 8
    parity: Parity = "N"
    stopbits: Literal[1, 1.5, 2] = 1

    @field_validator("max_length")
    @classmethod
    def _not_below_min_length(cls, value: int, info: ValidationInfo) -> int:
        least = info.data.get("min_length")
        if least is not None and value < least:
            raise ValueError(_("must not be less than min_length ({least})").format(least=least))
        return value


class DrawerConfig(_Section):
    enabled: bool = False
    pin: Literal[2, 5] = 2
    on_ms: int = Field(default=100, ge=2, le=510)
    off_ms: int = Field(default=100, ge=2, le=510)


class JournalConfig(_Section):
    # SQLite (the default, one till): the file; with ``url`` the local journal the
    # till keeps while the server cannot be reached.
    path: Path | None = None
    # Every till of the shop on one PostgreSQL server: "postgresql://user@host:5432/db".
    # The password is never written here: `pos keys set --journal` keeps it in the keyring.
    url: str | None = None
    # The till journals every step locally first and forwards it to the server: it keeps
    # selling while the server is away and never waits on it. "forward" is the only mode
    # (a "direct" mode, every write on the server, was dropped: the screen waited on the
    # network for each step and the till stopped without the server).
    mode: Literal["forward"] = "forward"
    connect_timeout_s: float = Field(default=3.0, gt=0, le=60)
    statement_timeout_s: float = Field(default=5.0, gt=0, le=300)

    @field_validator("mode", mode="before")
    @classmethod
    def _only_forward(cls, mode: object) -> object:
        if mode == "direct":
            raise ValueError(_('mode = "direct" is no longer offered: the till journals every step locally and '
                               'forwards it to the server, so a slow or absent server never stops or freezes '
                               'it. Remove the line (the till goes on from its order numbers on the server)'))
        return mode

    @field_validator("url")
    @classmethod
    def _server_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        from urllib.parse import urlsplit

        parts = urlsplit(url.strip())
        if parts.scheme not in ("postgresql", "postgres") or not parts.path.strip("/"):
            raise ValueError(_('url: {url!r} is not a PostgreSQL address; write e.g. '
                               'url = "postgresql://pos@db.shop.lan:5432/pos"').format(url=url))
        if parts.password is not None or "password=" in parts.query:
            raise ValueError(_("url: the password must not be written in the configuration: remove it from "
                               "the url and store it in the keyring with `pos keys set --journal`"))
        return url.strip()


class KeyringConfig(_Section):
    # A plaintext keyring backend (keyrings.alt) keeps keys readable on disk:
    # refused unless the shop owner says so here (then the status screen warns).
    allow_insecure: bool = False


class CheckoutConfig(_Section):
    max_cash_given: str = "5000.00"
    max_gift_voucher: str = "1000.00"


# Action name -> default key. Remap in [keys], e.g. cash = "f11".
DEFAULT_KEYS: dict[str, str] = {
    "digital": "f1",
    "voucher": "f2",
    "cash": "f3",
    "card": "f4",
    "sell_voucher": "f5",
    "balance": "f6",
    "reprint": "f7",
    "void": "f8",
    "cancel": "f9",
    "reports": "f10",
    "top_up": "f11",
    "status": "f12",
}


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    demo: bool = False
    outlet: OutletConfig
    catalog: CatalogConfig
    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    # Validated even when [printer] is missing, so that says "[printer] kind: is required".
    printer: PrinterConfig = Field(default_factory=dict, validate_default=True)
    scanner: ScannerConfig = ScannerConfig()
    drawer: DrawerConfig = DrawerConfig()
    journal: JournalConfig = JournalConfig()
    checkout: CheckoutConfig = CheckoutConfig()
    keyring: KeyringConfig = KeyringConfig()
    keys: dict[str, str] = Field(default_factory=dict)
    # The receipt templates' folder. Not set: "../receipts" next to the file, as
    # in this repository. No fallback to SHIPPED_RECEIPTS: they carry a sample
    # address and VAT number that must not appear on a real shop's receipts.
    receipts: Path = Path("../receipts")

    source: Path = Path(".")  # set by load_config, not by the file

    @field_validator("providers", mode="before")
    @classmethod
    def _provider_models(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {name: provider_section(name, section) for name, section in value.items()}

    @field_validator("keys")
    @classmethod
    def _known_actions(cls, value: dict[str, str]) -> dict[str, str]:
        for action, key in value.items():
            if action not in DEFAULT_KEYS:
                raise ValueError(_("unknown action {action!r} (known: {names})").format(
                    action=action, names=", ".join(DEFAULT_KEYS)))
            if not key.strip():
                raise ValueError(_("no key given for {action!r}").format(action=action))
        taken: dict[str, str] = {}
        for action, key in {**DEFAULT_KEYS, **value}.items():
            if key in taken:
                raise ValueError(_("{key!r} is bound to both {first!r} and {second!r}").format(
                    key=key, first=taken[key], second=action))
            taken[key] = action
        return value

    @model_validator(mode="after")
    def _provider_currencies(self) -> Config:
        for name, settings in self.providers.items():
            wanted = registry.descriptor(name).currencies
            if settings.enabled and wanted and self.outlet.currency not in wanted:
                raise ValueError(_("[providers.{name}]: {provider} takes {currencies} only, this outlet's currency is "
                                   "{currency}: set [outlet] currency or disable [providers.{name}]").format(
                    name=name, provider=registry.descriptor(name).display_name,
                    currencies=", ".join(sorted(wanted)), currency=self.outlet.currency))
        return self

    @model_validator(mode="after")
    def _printer_parameters(self) -> Config:
        # These messages name their own section and key: explain() shows them as they are.
        p = self.printer
        needed = {"network": ("host", _('[printer] host: is required for kind = \'network\': add the '
                                        'printer\'s address, e.g. host = "192.168.1.50"')),
                  "serial": ("device", _('[printer] device: is required for kind = \'serial\': add the '
                                         'serial port, e.g. device = "/dev/ttyUSB0"')),
                  "cups": ("queue", _('[printer] queue: is required for kind = \'cups\': add the CUPS '
                                      'queue, e.g. queue = "receipts"'))}
        if p.kind in needed and getattr(p, needed[p.kind][0]) is None:
            raise ValueError(needed[p.kind][1])
        if p.kind == "usb" and (p.vendor_id is None or p.product_id is None):
            raise ValueError(_("[printer] vendor_id and product_id: are required for kind = 'usb': add the "
                               "printer's USB ids, e.g. vendor_id = 0x04b8 and product_id = 0x0202 (lsusb "
                               "shows them)"))
        if self.scanner.kind == "serial" and not self.scanner.port:
            raise ValueError(_('[scanner] port: is required for kind = \'serial\': add e.g. '
                               'port = "/dev/ttyACM0"'))
        return self

    # -- derived settings ---------------------------------------------------
    @property
    def is_builtin_demo(self) -> bool:
        """Loaded from the till's own config/demo.toml (what ``pos`` reads by default)."""
        return self.source == DEMO_CONFIG

    @property
    def key_map(self) -> dict[str, str]:
        return {**DEFAULT_KEYS, **self.keys}

    def data_dir(self) -> Path:
        """Where this outlet's journal and receipts live; the demo has its own."""
        base = os.environ.get("POS_DATA_DIR")
        root = Path(base) if base else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
        if not self.demo:
            return root / self.outlet.id
        # The demos keep apart: "demo" (CHF), "demo-za" (the ZAR demo with Celbux).
        return root / ("demo" if self.outlet.id == "demo" else f"demo-{self.outlet.id}")

    def journal_path(self) -> Path:
        return self.journal.path or self.data_dir() / f"journal-till-{self.outlet.till}.sqlite"

    def printer_file(self) -> Path:
        return self.printer.path or self.data_dir() / "printer.bin"

    def money(self, text: str) -> Money:
        """An amount written in the configuration (``"5000.00"``; the plain form, whatever
        the outlet's locale)."""
        return Money.parse_plain(text, self.outlet.currency)

    def use_language(self) -> None:
        """Speak the outlet's language (and its number format) from now on."""
        use_outlet_language(self)


# `pos --language LANG`: this process speaks LANG whatever the configuration says.
language_override: str | None = None


def _speak_outlet_language(raw: dict[str, Any]) -> None:
    """Use the language the file asks for, if it names one the till has, before the
    file is checked: its errors then come in that language. A wrong language (or
    locale) is left for the check to report."""
    outlet = raw.get("outlet")
    language = outlet.get("language") if isinstance(outlet, dict) else None
    if language_override is not None:
        i18n.use(language_override)
        return
    if not isinstance(language, str):
        return
    language = language.strip().lower().replace("-", "_").partition("_")[0]  # "DE", "de_CH": German
    if language not in i18n.LANGUAGES:
        return
    currency = outlet.get("currency") if isinstance(outlet.get("currency"), str) else None
    locale = outlet.get("locale") if isinstance(outlet.get("locale"), str) else None
    try:
        i18n.use(language, locale, currency=currency)
    except ValueError:
        i18n.use(language, currency=currency)


def use_outlet_language(config: Config) -> None:
    """``i18n.use`` with the outlet's language and locale: called where a till or a
    command builds on a configuration, before it says anything."""
    o = config.outlet
    if language_override is not None and language_override != o.language:
        i18n.use(language_override, currency=o.currency)
        return
    i18n.use(o.language, o.locale, currency=o.currency)


def _resolve(base: Path, path: Path) -> Path:
    path = path.expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def _loc(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if not str(p).startswith("function-")]
    if not parts:
        return _("(top level)")
    if len(parts) == 1:
        return parts[0]
    return f"[{'.'.join(parts[:-1])}] {parts[-1]}"


# What to add when a required setting is missing, by its location.
MISSING_HINTS: dict[tuple[str, ...], str] = {
    ("printer", "kind"): N_('where receipts print: kind = "network" (or "usb", "serial", "cups", "file"; '
                            '"dummy" prints nothing and marks receipts printed, for tests) in [printer], '
                            "with its settings as in config/example.toml"),
}


# What a pattern error means, by its location (pydantic would show the raw regex).
PATTERN_HINTS: dict[tuple[str, ...], str] = {
    ("outlet", "id"): N_("use letters, digits, '.', '_' and '-' only (at most 40), e.g. id = \"zurich-1\""),
    ("outlet", "till"): N_("use letters, digits, '.', '_' and '-' only (at most 40), e.g. till = \"1\""),
}


def _known_names(loc: tuple[str, ...]) -> list[str]:
    """The sections or keys that may stand at ``loc`` (for "did you mean")."""
    model: Any = Config
    for part in loc:
        if model is ProviderSettings and part in registry.names():  # [providers.<name>]
            model = registry.descriptor(part).settings_model
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else (
            ProviderSettings if part == "providers" else None)
        if model is None:
            return []
    return sorted(getattr(model, "model_fields", {}))


def _unknown(loc: tuple[str, ...], section: bool) -> str:
    """An unknown section or key, with the name it is probably a misspelling of."""
    known = [n for n in _known_names(loc[:-1]) if n != "source"]
    close = difflib.get_close_matches(loc[-1], known, n=1, cutoff=0.6)
    if close:
        if section:
            return _("unknown section — did you mean [{name}]? (see config/example.toml)").format(name=close[0])
        return _("unknown key — did you mean {name}? (see config/example.toml)").format(name=close[0])
    if section:
        return _("unknown section (check the spelling against config/example.toml)")
    return _("unknown key (check the spelling against config/example.toml)")


def _more(count: int) -> str:
    """``"; and 2 more problems"`` after the problems of a file that are named."""
    if not count:
        return ""
    return ngettext("; and {count} more problem", "; and {count} more problems", count).format(count=count)


# How many problems of one file are named, one per line (the rest are counted).
SHOWN_PROBLEMS = 4


def explain(error: ValidationError, source: Path, prefix: tuple[str, ...] = ()) -> str:
    """The problems of a file, the first (a misspelt name first: it is usually why
    something else is "missing") after the file's name, the next ones each on a line."""
    errors = sorted(error.errors(), key=lambda e: e["type"] != "extra_forbidden")
    problems = [_problem(e, prefix) for e in errors]
    text = _("{file}: {problem}").format(file=source, problem=problems[0])
    for problem in problems[1:SHOWN_PROBLEMS]:
        text += "\n  " + problem
    return text + _more(len(problems) - min(len(problems), SHOWN_PROBLEMS))


_QUERY_PASSWORD = re.compile(r"(password=)[^&]*", re.IGNORECASE)


def shown_url(url: str) -> str:
    """A URL as messages and screens show it: without a password (``user:pw@`` becomes
    ``user@``, ``password=…`` in the query ``password=***``)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        netloc = f"{userinfo.split(':', 1)[0]}@{host}"
    return urlunsplit(parts._replace(netloc=netloc, query=_QUERY_PASSWORD.sub(r"\1***", parts.query)))


def _problem(first: Any, prefix: tuple[str, ...]) -> str:
    """One problem of a file: ``[section] key: what is wrong (got …)``."""
    loc = tuple(str(p) for p in (*prefix, *first["loc"]))
    where = _loc((*prefix, *first["loc"]))
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        section = isinstance(first.get("input"), dict)
        message = _unknown(loc, section)
        if section:
            where = f"[{'.'.join(loc)}]"
    elif first["type"] == "string_pattern_mismatch" and loc in PATTERN_HINTS:
        message = _(PATTERN_HINTS[loc])
    elif not first["loc"] and message.startswith("["):  # names its own section and key
        return message
    elif first["type"] == "missing":
        hint = MISSING_HINTS.get(tuple(str(part) for part in first["loc"]))
        message = _("is required but missing: {hint}").format(hint=_(hint)) if hint else \
            _("is required but missing")
    got = first.get("input")
    if isinstance(got, str) and "://" in got:  # a URL refused for its password does not repeat it
        got = shown_url(got)
    if first["type"] not in ("missing", "extra_forbidden") and not isinstance(got, dict):
        message = _("{problem} (got {value!r})").format(problem=message, value=got)
    return _("{where}: {problem}").format(where=where, problem=message)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(_("{file}: file not found").format(file=path)) from None
    except IsADirectoryError:
        raise ConfigError(_("{file}: is a folder, not a file").format(file=path)) from None
    except PermissionError:
        raise ConfigError(_("{file}: cannot be read (permission denied)").format(file=path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_("{file}: not valid TOML: {problem}").format(file=path, problem=exc)) from None
    except UnicodeDecodeError:
        raise ConfigError(_("{file}: not valid TOML: the file is not UTF-8 text").format(file=path)) from None


def load_config(path: Path) -> Config:
    path = path.expanduser().resolve()
    raw = read_toml(path)
    raw.pop("source", None)
    _speak_outlet_language(raw)  # so that a mistake further down is told in the shop's language
    sections = raw.get("providers")
    if isinstance(sections, dict):  # each by its provider's model, so errors name the key
        for name, section in sections.items():
            if not isinstance(section, dict):
                continue
            try:
                sections[name] = provider_section(name, section)
            except ValidationError as exc:
                raise ConfigError(explain(exc, path, ("providers", name))) from None
            except ValueError as exc:
                raise ConfigError(_("{file}: [providers.{name}]: {problem}").format(
                    file=path, name=name, problem=exc)) from None
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(explain(exc, path)) from None
    for key in ("max_cash_given", "max_gift_voucher"):
        limit = decimal_setting(getattr(config.checkout, key), config.outlet.currency, key, path)
        if not limit.is_positive:
            raise ConfigError(_("{file}: [checkout] {key}: must be more than zero").format(file=path, key=key))
    base = path.parent
    catalog = _resolve(base, config.catalog.path)
    if not catalog.is_file():
        text = _("{file}: [catalog] path: {catalog} is a folder, not a file: point it at your product list, "
                 "a TOML file of [[product]] entries like config/demo_catalog.toml (a relative path is read "
                 "from this file's folder)") if catalog.is_dir() else \
            _("{file}: [catalog] path: {catalog} does not exist: point it at your product list, a TOML "
              "file of [[product]] entries like config/demo_catalog.toml (a relative path is read "
              "from this file's folder)")
        raise ConfigError(text.format(file=path, catalog=catalog))
    receipts = _resolve(base, config.receipts)
    _check_receipts(path, receipts, given="receipts" in raw)
    updates: dict[str, Any] = {
        "source": path,
        "catalog": config.catalog.model_copy(update={"path": catalog}),
        "receipts": receipts,
    }
    if config.journal.path is not None:
        updates["journal"] = config.journal.model_copy(update={"path": _resolve(base, config.journal.path)})
    if config.printer.path is not None:
        updates["printer"] = config.printer.model_copy(
            update={"path": _resolve(base, config.printer.path)}
        )
    return config.model_copy(update=updates)


def _check_receipts(source: Path, folder: Path, *, given: bool) -> None:
    """ConfigError naming the ``receipts`` setting and its fix unless ``folder``
    holds sale.toml (the one template without built-in defaults). The
    templates themselves are read and checked by ``pos_app.receipts``."""
    if not folder.exists():
        problem, which = _("{folder} does not exist"), _("which does not exist")
    elif not folder.is_dir():
        problem, which = _("{folder} is not a folder"), _("which is not a folder")
    elif not (folder / "sale.toml").is_file():
        problem, which = _("{folder} has no sale.toml"), _("which has no sale.toml")
    else:
        return
    copy = _("a copy of the till's {shipped} with your shop's address and VAT number").format(
        shipped=SHIPPED_RECEIPTS)
    if given:
        raise ConfigError(_("{file}: receipts: {problem}; point receipts (at the top of this file) at the "
                            "folder with your receipt templates ({copy})").format(
            file=source, problem=problem.format(folder=folder), copy=copy))
    raise ConfigError(_(
        '{file}: receipts: not set, so the receipt templates are looked for in {folder} ("../receipts" '
        'next to this file), {which}; add receipts = "/path/to/receipts" at the top of this file '
        "(before the first [section]), pointing at {copy}").format(file=source, folder=folder, which=which,
                                                                    copy=copy))


class _ProductRow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ean: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    price: str
    vat: str


def load_catalog(path: Path, currency: str) -> Catalog:
    raw = read_toml(path)
    unknown = set(raw) - {"product"}
    if unknown:
        raise ConfigError(_("{file}: unknown table {name!r}; products go in [[product]]").format(
            file=path, name=sorted(unknown)[0]))
    rows = raw.get("product", [])
    if not isinstance(rows, list) or not rows:
        raise ConfigError(_("{file}: no [[product]] entries").format(file=path))
    products: dict[str, Product] = {}
    for index, row in enumerate(rows, start=1):
        try:
            item = _ProductRow.model_validate(row)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigError(_("{file}: product #{index}: {key}: {problem}").format(
                file=path, index=index, key=_loc(first["loc"]), problem=first["msg"])) from None

        def problem(key: str, text: object) -> ConfigError:
            return ConfigError(_("{file}: product #{index} ({name}): {key}: {problem}").format(
                file=path, index=index, name=item.name, key=key, problem=text))

        try:
            price = Money.parse_plain(item.price, currency)
        except MoneyError as exc:
            raise problem("price", exc) from None
        if not price.is_positive:
            raise problem("price", _("must be more than zero"))
        try:
            rate = parse_rate(item.vat)
        except VatError as exc:
            raise problem("vat", exc) from None
        if item.ean in products:
            raise ConfigError(_("{file}: product #{index} ({name}): ean {ean!r} is listed twice").format(
                file=path, index=index, name=item.name, ean=item.ean))
        products[item.ean] = Product(item.ean, item.name, price, rate)
    return Catalog(products)


def default_config_path() -> Path:
    env = os.environ.get("POS_CONFIG")
    return Path(env) if env else DEMO_CONFIG


def decimal_setting(text: str, currency: str, key: str, source: Path) -> Money:
    try:
        return Money.parse_plain(text, currency)
    except MoneyError as exc:
        raise ConfigError(_("{file}: [checkout] {key}: {problem}").format(file=source, key=key, problem=exc)) from None


__all__ = [
    "Config",
    "ConfigError",
    "DEFAULT_KEYS",
    "load_catalog",
    "load_config",
]
