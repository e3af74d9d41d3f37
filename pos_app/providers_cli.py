"""``pos providers connect NAME --pin PIN``: connect this till to a provider with a pin.

Some providers (JTL-Voucher Cloud) give a till its credentials for a
one-time pin shown in their admin UI instead of a key to type. This command
exchanges the pin with the provider at ``[providers.NAME] base_url`` of the
configuration (``--config``, else ``$POS_CONFIG``, else the demo) and stores
every credential it returns in the OS keyring for the outlet (``--outlet``,
default ``[outlet] id``), as ``pos keys set`` would. Only the last four
characters of a stored value are ever shown.

The keyring is checked (and an encrypted file keyring opened) *before* the
pin is sent: a pin is good once, so credentials that could not be stored
would be lost with it. A ``sim://NAME`` base URL is served by the built-in
simulator in this process (the demo's pin works there).

Exit codes, as ``pos keys``: 0 connected and stored; 1 refused or failed
(pin refused, provider not reachable, keyring locked or failing); 2 usage or
setup problem (bad pin, unknown provider, one without pin connection,
``[providers.NAME]`` missing, no usable keyring); 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pos_app.config import Config, ConfigError, default_config_path, load_config, use_outlet_language
from pos_app.i18n import _
from pos_app.providers import ProviderDescriptor, ProviderError, ProviderSettings, registry
from pos_app.secrets import (
    NoBackendError,
    SecretsError,
    backend_name,
    check_backend,
    check_names,
    delete_secret,
    get_secret,
    insecure_backend_warning,
    mask,
    set_key_command,
    set_secret,
    unlock,
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_SETUP = 2
EXIT_INTERRUPTED = 130

SIM_HOST = "http://{name}.sim"  # where an in-process simulator answers (as the till's demo)
MAX_PIN = 64


class _Stop(Exception):
    """Ends a command with a message and an exit code (raised and caught in this module only)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


# -- argparse ------------------------------------------------------------------
def add_providers_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``providers`` (with ``connect``) on ``pos``'s subparsers."""
    providers = subparsers.add_parser(
        "providers", help=_("connect the till to a voucher provider with a pin from its admin UI"),
        description=_("Voucher provider tools. `connect` exchanges a one-time pin from the provider's "
                      "admin UI for this till's credentials and stores them in the OS keyring (as "
                      "`pos keys set` does)."),
    )
    actions = providers.add_subparsers(dest="providers_command", metavar="ACTION", required=True)
    connect = actions.add_parser(
        "connect", help=_("exchange a pin for the till's credentials and store them in the keyring"),
        description=_("Send the pin to the provider at [providers.NAME] base_url of the configuration, "
                      "and store the credentials it answers with in the OS keyring for the outlet. A pin "
                      "is good once; only the last 4 characters of what was stored are shown."),
        epilog=_("Example: pos --config /etc/pos/outlet.toml providers connect jtl --pin 123456"),
    )
    connect.add_argument("provider", metavar="NAME", help=_("the provider, e.g. jtl"))
    connect.add_argument("--pin", required=True, help=_("the pin the provider's admin UI shows"))
    connect.add_argument("--outlet", metavar="ID", help=_("outlet id (default: [outlet] id of the configuration)"))
    # SUPPRESS: `pos --config X providers connect ...` keeps working (a None default would overwrite it).
    connect.add_argument("--config", "-c", type=Path, metavar="PATH", default=argparse.SUPPRESS,
                         help=_("outlet configuration (default: $POS_CONFIG, else the demo)"))
    return providers


# -- the command -----------------------------------------------------------------
def run_providers(args: argparse.Namespace) -> int:
    """Run a parsed ``pos providers ...`` command; the exit code."""
    try:
        config = load_config(getattr(args, "config", None) or default_config_path())
        use_outlet_language(config)
        return _connect(args, config)
    except ConfigError as exc:
        return _say_error(str(exc), EXIT_SETUP)
    except _Stop as stop:
        return _say_error(str(stop), stop.code)
    except NoBackendError as exc:
        return _say_error(str(exc), EXIT_SETUP)
    except SecretsError as exc:
        return _say_error(str(exc), EXIT_FAILED)


def _say_error(message: str, code: int) -> int:
    print(_("pos providers: {message}").format(message=message), file=sys.stderr)
    return code


def _allow_insecure(config: Config) -> bool:
    section = getattr(config, "keyring", None)
    return getattr(section, "allow_insecure", False) is True


def _descriptor(name: str) -> ProviderDescriptor:
    try:
        return registry.descriptor(name)
    except registry.UnknownProvider as exc:
        raise _Stop(str(exc), EXIT_SETUP) from None


def _connect(args: argparse.Namespace, config: Config) -> int:
    name = args.provider
    desc = _descriptor(name)
    outlet = args.outlet or config.outlet.id
    if desc.connect is None:
        commands = "; ".join(set_key_command(config, name, field, outlet) for field in desc.secret_fields)
        raise _Stop(_("{provider} has no pin connection: set its keys with pos keys set ({commands})").format(
            provider=desc.display_name, commands=commands), EXIT_SETUP)
    settings = config.providers.get(name)
    if settings is None:
        default = desc.settings_model.model_fields["base_url"].default
        example = f'[providers.{name}]\nbase_url = "{default}"' if isinstance(default, str) else \
            f"[providers.{name}]\nbase_url = ..."
        raise _Stop(_("[providers.{name}] is not in {source}: add it, then connect again. The pin is sent to "
                      "its base_url, e.g.\n{example}").format(name=name, source=config.source, example=example),
                    EXIT_SETUP)
    for field in desc.secret_fields:
        try:
            check_names(outlet, name, field)
        except ValueError as exc:
            raise _Stop(str(exc), EXIT_SETUP) from None
    pin = _check_pin(args.pin)

    allow = _allow_insecure(config)
    # Before the pin is used: credentials that cannot be stored would be lost with it.
    check_backend(allow_insecure=allow)
    unlock(_("to store the {provider} credentials of outlet {outlet}").format(provider=name, outlet=outlet),
           create=True, allow_insecure=allow)
    previous = {field: get_secret(outlet, name, field, allow_insecure=allow) for field in desc.secret_fields}

    where = settings.base_url
    try:
        received = asyncio.run(_exchange(desc, settings, pin))
    except KeyboardInterrupt:
        raise _Stop(_("interrupted; nothing stored. If the pin was already sent it may be used: create a new "
                      "one if the next try is refused"), EXIT_INTERRUPTED) from None
    if isinstance(received, ValueError):  # the provider's package refused the pin's form: not sent
        raise _Stop(str(received), EXIT_SETUP)
    if isinstance(received, ProviderError):
        hint = f"\n{received.hint}" if received.hint else ""
        raise _Stop(_("{problem}{hint}\nNothing was stored.").format(problem=received.message, hint=hint),
                    EXIT_FAILED)

    missing = [field for field in desc.secret_fields if not received.get(field)]
    if missing:
        raise _Stop(_("{provider} at {url} did not give {fields}; nothing was stored. Create a new pin and try "
                      "again; if this happens again, call support.").format(
                          provider=desc.display_name, url=where, fields=", ".join(missing)), EXIT_FAILED)
    _store(name, outlet, {field: received[field] for field in desc.secret_fields}, previous, allow)

    words = dict(provider=name, outlet=outlet, backend=backend_name())
    for field in desc.secret_fields:
        new, old = mask(received[field]), mask(previous[field])
        if previous[field] and previous[field] != received[field]:
            print(_("Replaced {old} with {provider} {field} {new} for outlet {outlet} in {backend}.").format(
                field=field, new=new, old=old, **words))
        else:
            print(_("Stored {provider} {field} {new} for outlet {outlet} in {backend}.").format(
                field=field, new=new, **words))
    print(_("Connected: {provider} at {url} gave this till its credentials for the pin.").format(
        provider=desc.display_name, url=where))
    if settings.simulated:
        print(_("{url} is the built-in simulator: the till uses the simulator's own credentials and does not "
                "need these. Connect again once base_url is {provider}'s real address.").format(
                    url=where, provider=desc.display_name))
    else:
        print(_("Restart the till to use them."))
    warning = insecure_backend_warning()
    if warning:
        print(_("Warning: {warning}").format(warning=warning), file=sys.stderr)
    return EXIT_OK


def _check_pin(pin: str) -> str:
    """What every provider's pin is: a short line of visible characters. The provider's
    own rules (JTL: 4 to 12 digits) are checked by its ``connect`` before it sends."""
    pin = pin.strip()
    if not pin or len(pin) > MAX_PIN or not pin.isprintable():
        raise _Stop(_("--pin must be the pin the provider's admin UI shows (at most {limit} characters); "
                      "nothing was sent").format(limit=MAX_PIN), EXIT_SETUP)
    return pin


def _store(provider: str, outlet: str, values: dict[str, str], previous: dict[str, str | None],
           allow: bool) -> None:
    """Store every field, or none: a field that cannot be stored puts the ones before it back."""
    done: list[str] = []
    failure: SecretsError | ValueError | None = None
    for field, value in values.items():
        try:
            set_secret(outlet, provider, field, value, allow_insecure=allow)
        except (SecretsError, ValueError) as exc:
            failure = exc
            break
        done.append(field)
    if failure is None:
        return
    for field in done:  # best effort: the pair must not be half new, half old
        try:
            old = previous[field]
            if old:
                set_secret(outlet, provider, field, old, allow_insecure=allow)
            else:
                delete_secret(outlet, provider, field, allow_insecure=allow)
        except (SecretsError, ValueError):
            pass
    raise _Stop(_("{problem}. Nothing was stored; the pin is used now: create a new one and connect again "
                  "once the keyring works").format(problem=str(failure).rstrip(".")), EXIT_FAILED)


async def _exchange(desc: ProviderDescriptor, settings: ProviderSettings,
                    pin: str) -> dict[str, str] | ProviderError | ValueError:
    """The provider's answer to the pin: its credentials, or the typed error (returned, not
    raised); a ValueError when the provider's package refuses the pin before sending it."""
    import httpx  # only for this command

    assert desc.connect is not None
    kwargs: dict[str, Any] = {}
    if settings.simulated:
        simulator = desc.simulator()
        app, _sim = simulator.build_app()
        kwargs["transport"] = simulator.in_process_transport(app)
        settings = settings.model_copy(update={"base_url": _simulated_url(desc)})
    async with httpx.AsyncClient(**kwargs) as http:
        try:
            return await desc.connect(settings, pin, http)
        except (ProviderError, ValueError) as exc:
            return exc


def _simulated_url(desc: ProviderDescriptor) -> str:
    """The in-process simulator's address with the path of the provider's real base URL
    (JTL: ``http://jtl.sim/v1``)."""
    default = desc.settings_model.model_fields["base_url"].default
    path = urlsplit(default).path.rstrip("/") if isinstance(default, str) else ""
    return SIM_HOST.format(name=desc.name) + path


def main(argv: list[str] | None = None) -> int:
    """``python -m pos_app.providers_cli ACTION ...`` is ``pos providers ACTION ...``."""
    parser = argparse.ArgumentParser(prog="pos")
    add_providers_parser(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    args = parser.parse_args(["providers", *(sys.argv[1:] if argv is None else argv)])
    return run_providers(args)


if __name__ == "__main__":
    sys.exit(main())
