"""``pos keys set|list|delete``: an outlet's provider secrets in the OS keyring.

* ``pos keys set --provider eguma [--field api_key] [--outlet ID] [--no-check]``
  reads the secret without echo (getpass) from a terminal, or from stdin
  for scripts (one trailing newline is dropped), checks it with the
  provider where it can be checked (E-GUMA: one Balance call on a dummy
  code; 401 means a wrong key) and stores it. An unreachable provider
  stores nothing unless ``--no-check`` is given.
* ``pos keys list [--outlet ID]`` shows, per provider and field, whether a
  secret is set and its last four characters, and the keyring backend.
* ``pos keys delete --provider P [--field F] [--outlet ID]`` removes one.

The outlet defaults to ``[outlet] id`` of the configuration (``--config``,
else ``$POS_CONFIG``, else the demo). ``set`` for a provider the
configuration serves with the built-in simulator stores nothing (no key is
needed) and names the configuration; when that is the demo's only because
none was given, it exits 2: that is almost always a missing ``--config``.
A secret is never printed; at most its last four characters are.

With the encrypted file keyring of a headless till (keyrings.cryptfile),
``set`` opens it before asking for the secret: its password comes from
the systemd credential or the file the till would use unattended, or is
asked at the terminal after saying what it is for (the first ``set``
creates the keyring file and asks for a new password, twice).

Exit codes: 0 done; 1 refused or failed (wrong key, provider not
reachable, nothing to delete, keyring locked or not answering); 2 usage or
setup problem (bad arguments or configuration, no configuration given for
``set`` of a provider the demo simulates, no usable keyring backend,
a plaintext backend that is not allowed); 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import enum
import getpass
import os
import shlex
import sys
from pathlib import Path
from typing import Any, TextIO

from pos_app.config import Config, ConfigError, default_config_path, load_config, use_outlet_language
from pos_app.i18n import _
from pos_app.providers import (
    AuthenticationError,
    ClientSpec,
    ProviderDescriptor,
    ProviderError,
    ProviderSettings,
    RefusedError,
    registry,
)
from pos_app.secrets import (
    FIELDS,
    JOURNAL,
    JOURNAL_FIELD,
    MAX_SECRET_LENGTH,
    NoBackendError,
    SecretsError,
    backend_name,
    check_backend,
    check_names,
    check_outlet,
    check_secret_text,
    delete_secret,
    get_secret,
    insecure_backend_warning,
    list_secrets,
    mask,
    set_key_command,
    set_secret,
    unlock,
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_SETUP = 2
EXIT_INTERRUPTED = 130

# A syntactically valid E-GUMA code no voucher has: the provider answers
# 401 for a wrong key, 400 "not found" (or 200) for a good one.
CHECK_TIMEOUT_S = 10.0  # at most, per HTTP phase; the provider's own timeout_s if lower


class _Stop(Exception):
    """Ends a command with a message and an exit code (raised and caught in this module only)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class Verdict(enum.Enum):
    ACCEPTED = "accepted"  # the provider took the credentials
    REJECTED = "rejected"  # the provider refused them (401)
    UNREACHABLE = "unreachable"  # no usable answer: not known
    UNCHECKABLE = "uncheckable"  # this till has no way to check them


# -- argparse ------------------------------------------------------------------
def add_keys_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``keys`` (with ``set``, ``list``, ``delete``) on ``pos``'s subparsers."""
    keys = subparsers.add_parser(
        "keys", help=_("set, list or delete the outlet's provider keys (OS keyring)"),
        description=_("Provider credentials of an outlet, kept in the OS keyring (service "
                      "'pos-app', user '<outlet>/<provider>/<field>'). Secrets are read without echo, "
                      "or from stdin when it is not a terminal; only their last 4 characters are ever "
                      "shown."),
    )
    actions = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--outlet", metavar="ID", help=_("outlet id (default: [outlet] id of the configuration)"))
    # SUPPRESS: `pos --config X keys ...` keeps working (a None default would overwrite it).
    common.add_argument("--config", "-c", type=Path, metavar="PATH", default=argparse.SUPPRESS,
                        help=_("outlet configuration (default: $POS_CONFIG, else the demo)"))
    fields = "; ".join(f"{p}: {', '.join(f)}" for p, f in FIELDS.items())

    set_ = actions.add_parser(
        "set", parents=[common], help=_("store (or replace) a secret"),
        description=_("Store or replace a provider secret. Reads it without echo from the terminal, "
                      "or from stdin (one trailing newline dropped). E-GUMA keys are checked with the "
                      "provider first; a rejected key is not stored."),
        epilog=_("Fields: {fields}.").format(fields=fields),
    )
    which = set_.add_mutually_exclusive_group(required=True)
    which.add_argument("--provider", choices=list(FIELDS))
    which.add_argument("--journal", action="store_true",
                       help=_("the password of the journal server ([journal] url), checked by connecting"))
    set_.add_argument("--field", help=_("which secret (default: the provider's only field)"))
    set_.add_argument("--no-check", action="store_true",
                      help=_("store the secret even when the provider cannot be reached to check it"))

    actions.add_parser("list", parents=[common], help=_("show which secrets are set (last 4 characters)"),
                       description=_("Show, per provider and field, whether a secret is set for the "
                                     "outlet, its last 4 characters, and the keyring backend in use."))

    delete = actions.add_parser("delete", parents=[common], help=_("remove a secret"),
                                description=_("Remove one provider secret of the outlet."),
                                epilog=_("Fields: {fields}.").format(fields=fields))
    which = delete.add_mutually_exclusive_group(required=True)
    which.add_argument("--provider", choices=list(FIELDS))
    which.add_argument("--journal", action="store_true", help=_("the password of the journal server"))
    delete.add_argument("--field", help=_("which secret (default: the provider's only field)"))
    return keys


# -- the commands ----------------------------------------------------------------
def run_keys(args: argparse.Namespace) -> int:
    """Run a parsed ``pos keys ...`` command; the exit code."""
    try:
        config = load_config(getattr(args, "config", None) or default_config_path())
        use_outlet_language(config)
        outlet = args.outlet or config.outlet.id
        allow = allow_insecure(config)
        if args.keys_command == "set" and getattr(args, "journal", False):
            return _set_journal(args, config, outlet, allow)
        if args.keys_command == "set":
            chosen = getattr(args, "config", None) is not None or bool(os.environ.get("POS_CONFIG"))
            return _set(args, config, outlet, allow, chosen)
        if args.keys_command == "list":
            return _list(config, outlet, allow)
        return _delete(args, outlet)
    except ConfigError as exc:
        return _say_error(str(exc), EXIT_SETUP)
    except _Stop as stop:
        return _say_error(str(stop), stop.code)
    except NoBackendError as exc:
        return _say_error(str(exc), EXIT_SETUP)
    except SecretsError as exc:
        return _say_error(str(exc), EXIT_FAILED)


def allow_insecure(config: Config) -> bool:
    """``[keyring] allow_insecure`` of the configuration (False while the key does not exist)."""
    section = getattr(config, "keyring", None)
    return getattr(section, "allow_insecure", False) is True


def _say_error(message: str, code: int) -> int:
    print(_("pos keys: {message}").format(message=message), file=sys.stderr)
    return code


def _field(provider: str, given: str | None) -> str:
    fields = FIELDS[provider]
    if given is None:
        if len(fields) > 1:
            raise _Stop(_("{provider} has several secrets; choose one with --field ({fields})").format(
                provider=provider, fields=", ".join(fields)), EXIT_SETUP)
        return fields[0]
    if given not in fields:
        raise _Stop(_("{provider} has no field {field}; its fields: {fields}").format(
            provider=provider, field=repr(given), fields=", ".join(fields)), EXIT_SETUP)
    return given


def _names(args: argparse.Namespace, outlet: str) -> tuple[str, str]:
    if getattr(args, "journal", False):
        if args.field not in (None, JOURNAL_FIELD):
            raise _Stop(_("the journal server has one secret, its {field}").format(field=JOURNAL_FIELD), EXIT_SETUP)
        try:
            check_outlet(outlet)
        except ValueError as exc:
            raise _Stop(str(exc), EXIT_SETUP) from None
        return JOURNAL, JOURNAL_FIELD
    field = _field(args.provider, args.field)
    try:
        check_names(outlet, args.provider, field)
    except ValueError as exc:
        raise _Stop(str(exc), EXIT_SETUP) from None
    return args.provider, field


def _set(args: argparse.Namespace, config: Config, outlet: str, allow: bool, chosen: bool) -> int:
    """``chosen``: the configuration came from --config or $POS_CONFIG, not by default."""
    provider, field = _names(args, outlet)
    settings = config.providers.get(provider)
    if settings is not None and settings.simulated:
        if config.is_builtin_demo and not chosen:
            raise _Stop(_("no configuration given, so the demo's was read — {source} uses the built-in "
                          "simulator ({url}) for {provider}: no key is needed and nothing was stored. Pass "
                          "your outlet's configuration: pos --config /path/to/outlet.toml keys set "
                          "--provider {provider} (or set POS_CONFIG)").format(
                              source=config.source, url=settings.base_url, provider=provider), EXIT_SETUP)
        print(_("{source} uses the built-in simulator ({url}) for {provider}: no key is needed, nothing "
                "stored.").format(source=config.source, url=settings.base_url, provider=provider))
        return EXIT_OK
    check_backend(allow_insecure=allow)  # before asking for the secret
    # An encrypted file keyring is opened (or created) first: a wrong keyring password
    # must not cost a typed key. Its prompt says what the password is for; it is not timed.
    unlock(_("to store the {provider} {field} of outlet {outlet}").format(
        provider=provider, field=field, outlet=outlet), create=True, allow_insecure=allow)
    secret = read_secret(_("{provider} {field} for outlet {outlet} (input hidden): ").format(
        provider=provider, field=field, outlet=outlet), sys.stdin)
    try:
        check_secret_text(secret)
    except ValueError as exc:
        raise _Stop(_("{problem}; nothing stored").format(problem=exc), EXIT_FAILED) from None

    # A provider with several fields (JTL: client_id and client_secret) is checked as a
    # pair when the other fields are stored already.
    others = _stored_others(outlet, provider, field, allow)
    verdict, detail = check_credentials(provider, field, secret, config, settings, others=others)
    paired = bool(others)
    if verdict is Verdict.REJECTED and not (paired and args.no_check):
        if paired:
            raise _Stop(_("{detail} The {field} was NOT stored. Replacing all of them? Run again with "
                          "--no-check, then set {others}{connect}.").format(
                              detail=detail, field=field, others=", ".join(others),
                              connect=_connect_hint(config, provider)), EXIT_FAILED)
        raise _Stop(_("{detail} The {field} was NOT stored.").format(detail=detail, field=field), EXIT_FAILED)
    if verdict is Verdict.UNREACHABLE and not args.no_check:
        raise _Stop(_("the {field} could not be checked: {detail} Nothing was stored. Check the network and "
                      "[providers.{provider}] base_url in {source}, or run again with --no-check to store "
                      "it unchecked.").format(field=field, detail=detail, provider=provider,
                                              source=config.source), EXIT_FAILED)

    previous = get_secret(outlet, provider, field, allow_insecure=allow)
    set_secret(outlet, provider, field, secret, allow_insecure=allow)
    words = dict(provider=provider, field=field, new=mask(secret), old=mask(previous), outlet=outlet,
                 backend=backend_name())
    if previous:
        print(_("Replaced {old} with {provider} {field} {new} for outlet {outlet} in {backend}.").format(**words))
    else:
        print(_("Stored {provider} {field} {new} for outlet {outlet} in {backend}.").format(**words))
    if verdict is Verdict.ACCEPTED:
        print(_("Checked: {detail}").format(detail=detail))
    elif verdict is Verdict.REJECTED:  # a pair, stored as asked (--no-check)
        print(_("Warning: {detail} Stored anyway (--no-check).").format(detail=detail), file=sys.stderr)
    else:
        print(_("Not checked: {detail}").format(detail=detail))
    warning = insecure_backend_warning()
    if warning:
        print(_("Warning: {warning}").format(warning=warning), file=sys.stderr)
    return EXIT_OK


def _set_journal(args: argparse.Namespace, config: Config, outlet: str, allow: bool) -> int:
    """``pos keys set --journal``: the journal server's password, checked by connecting
    to ``[journal] url`` (unless --no-check), then kept in the keyring."""
    provider, field = _names(args, outlet)
    check_backend(allow_insecure=allow)
    unlock(_("to store the journal server's password of outlet {outlet}").format(outlet=outlet), create=True,
           allow_insecure=allow)
    secret = read_secret(_("journal server password for outlet {outlet} (input hidden): ").format(outlet=outlet),
                         sys.stdin)
    try:
        check_secret_text(secret)
    except ValueError as exc:
        raise _Stop(_("{problem}; nothing stored").format(problem=exc), EXIT_FAILED) from None
    verdict, detail = check_journal_password(config, secret)
    if verdict is Verdict.REJECTED or (verdict is Verdict.UNREACHABLE and not args.no_check):
        raise _Stop(_("{detail} The password was NOT stored.").format(detail=detail), EXIT_FAILED)
    previous = get_secret(outlet, provider, field, allow_insecure=allow)
    set_secret(outlet, provider, field, secret, allow_insecure=allow)
    words = {"new": mask(secret), "old": mask(previous), "outlet": outlet, "backend": backend_name()}
    if previous:
        print(_("Replaced the journal server password {old} with {new} for outlet {outlet} in {backend}.").format(
            **words))
    else:
        print(_("Stored the journal server password {new} for outlet {outlet} in {backend}.").format(**words))
    print((_("Checked: {detail}") if verdict is Verdict.ACCEPTED else _("Not checked: {detail}")).format(
        detail=detail))
    return EXIT_OK


def check_journal_password(config: Config, secret: str) -> tuple[Verdict, str]:
    """Connect to ``[journal] url`` with ``secret``; never raises for it."""
    url = config.journal.url
    if not url:
        return Verdict.UNCHECKABLE, _("{source} has no [journal] url to check it against.").format(
            source=config.source)
    try:
        import psycopg
    except ImportError:
        return Verdict.UNCHECKABLE, _("the PostgreSQL driver is not installed (the `postgres` extra).")
    from pos_app.journal.postgres import shown_url

    try:
        with psycopg.connect(url, password=secret, connect_timeout=max(1, round(config.journal.connect_timeout_s))):
            pass
    except psycopg.OperationalError as exc:
        text = str(exc).strip().splitlines()[0] if str(exc) else type(exc).__name__
        if "password authentication failed" in text or "authentication failed" in text:
            return Verdict.REJECTED, _("the server {url} refused the password.").format(url=shown_url(url))
        return Verdict.UNREACHABLE, _("the server {url} cannot be reached ({problem}).").format(
            url=shown_url(url), problem=text)
    return Verdict.ACCEPTED, _("the server {url} accepted it.").format(url=shown_url(url))


def _list(config: Config, outlet: str, allow: bool) -> int:
    try:
        check_outlet(outlet)
    except ValueError as exc:
        raise _Stop(str(exc), EXIT_SETUP) from None
    providers = [*FIELDS, JOURNAL] if config.journal.url else list(FIELDS)
    rows = list_secrets(outlet, providers, allow_insecure=allow)
    print(_("Keyring backend: {backend}").format(backend=backend_name()))
    warning = insecure_backend_warning()
    if warning:
        print(_("Warning: {warning}").format(warning=warning))
    print(_("Outlet {outlet} (configuration {source}):").format(outlet=outlet, source=config.source))
    for row in rows:
        state = _("set {hint}").format(hint=row.hint) if row.is_set else _("not set")
        settings = config.providers.get(row.provider)
        if settings is None:
            note = ""
        elif settings.simulated:
            note = "  " + _("({url}: simulator, no key needed)").format(url=settings.base_url)
        elif not row.is_set:
            note = "  " + _("(configured: run `{command}`)").format(
                command=set_key_command(config, row.provider, row.field, outlet))
        else:
            note = "  " + _("(configured)")
        print(f"  {row.provider:<8} {row.field:<14} {state:<12}{note}")
    return EXIT_OK


def _delete(args: argparse.Namespace, outlet: str) -> int:
    provider, field = _names(args, outlet)
    if not delete_secret(outlet, provider, field):
        raise _Stop(_("no {provider} {field} is set for outlet {outlet}; nothing deleted").format(
            provider=provider, field=field, outlet=outlet), EXIT_FAILED)
    print(_("Deleted {provider} {field} of outlet {outlet} from {backend}.").format(
        provider=provider, field=field, outlet=outlet, backend=backend_name()))
    return EXIT_OK


# -- reading and checking a secret ---------------------------------------------------
def read_secret(prompt: str, stream: TextIO) -> str:
    """Without echo from a terminal; else all of ``stream`` minus one trailing newline."""
    try:
        if stream.isatty():
            return getpass.getpass(prompt)
        text = stream.read(MAX_SECRET_LENGTH + 3)
    except EOFError:
        raise _Stop(_("no secret given; nothing stored"), EXIT_FAILED) from None
    except KeyboardInterrupt:
        raise _Stop(_("interrupted; nothing stored"), EXIT_INTERRUPTED) from None
    for ending in ("\r\n", "\n"):
        if text.endswith(ending):
            return text[: -len(ending)]
    return text


def _stored_others(outlet: str, provider: str, field: str, allow: bool) -> dict[str, str]:
    """The provider's other fields, when every one of them is stored (else none)."""
    others: dict[str, str] = {}
    for other in FIELDS[provider]:
        if other != field:
            value = get_secret(outlet, provider, other, allow_insecure=allow)
            if not value:
                return {}
            others[other] = value
    return others


def _connect_hint(config: Config, provider: str) -> str:
    """``; or connect with a new pin: pos ... providers connect jtl --pin PIN`` for a provider
    that connects with a pin (else nothing)."""
    if registry.descriptor(provider).connect is None:
        return ""
    words = "pos" if config.is_builtin_demo else f"pos --config {shlex.quote(str(config.source))}"
    return _("; or connect with a new pin: {command}").format(
        command=f"{words} providers connect {provider} --pin PIN")


def check_credentials(
    provider: str, field: str, secret: str, config: Config, settings: ProviderSettings | None,
    *, others: dict[str, str] | None = None,
) -> tuple[Verdict, str]:
    """Ask the provider whether ``secret`` is good, where this till can; never raises for it.

    A provider with several fields is asked only with ``others`` (the other fields, as
    stored): the pair is checked together."""
    desc = registry.descriptor(provider)
    paired = len(desc.secret_fields) > 1
    if desc.check_key is None or (paired and settings is None):
        return Verdict.UNCHECKABLE, _("this version of the till cannot check {provider} credentials.").format(
            provider=desc.display_name)
    if paired and not others:
        return Verdict.UNCHECKABLE, _("{provider} credentials are checked together, once {missing} is stored "
                                      "too.").format(provider=desc.display_name, missing=", ".join(
                                          f for f in desc.secret_fields if f != field))
    if settings is None:
        return Verdict.UNREACHABLE, _("[providers.{provider}] is not in {source}, so there is no base_url to "
                                      "check it against.").format(provider=provider, source=config.source)
    timeout_s = min(settings.timeout_s, CHECK_TIMEOUT_S)
    checked = settings.model_copy(update={"timeout_s": timeout_s})
    secrets = {**(others or {}), field: secret} if paired else {desc.secret_fields[0]: secret}
    return asyncio.run(_check(desc, secrets, checked, config.outlet.currency, field if paired else None))


async def _check(desc: ProviderDescriptor, secrets: dict[str, str], settings: ProviderSettings,
                 currency: str, paired: str | None = None) -> tuple[Verdict, str]:
    """``paired``: the field being set, when the others come from the keyring."""
    import httpx  # only when checking

    assert desc.check_key is not None
    who, where = desc.display_name, settings.base_url
    failure: ProviderError | None = None
    async with httpx.AsyncClient() as http:
        client = desc.make_client(ClientSpec(settings, secrets, http, currency))
        try:
            await desc.check_key(client)
        except AuthenticationError:
            if paired is not None:
                return Verdict.REJECTED, _(
                    "{provider} at {url} rejected this {field} together with the stored {others} (HTTP 401): one "
                    "of them is wrong, or they belong to different clients.").format(
                        provider=who, url=where, field=paired,
                        others=", ".join(f"{name} {mask(value)}" for name, value in secrets.items()
                                         if name != paired))
            return Verdict.REJECTED, _("{provider} at {url} rejected this API key (HTTP 401).").format(
                provider=who, url=where)
        except RefusedError:  # "voucher not found": the key got us past authentication
            pass
        except ProviderError as exc:
            failure = exc
        finally:
            await client.aclose()
    if failure is not None:
        return Verdict.UNREACHABLE, _("no usable answer from {provider} at {url}: {problem}").format(
            provider=who, url=where, problem=failure.message)
    if paired is not None:
        return Verdict.ACCEPTED, _("{provider} at {url} accepted the credentials ({fields}).").format(
            provider=who, url=where, fields=", ".join(secrets))
    return Verdict.ACCEPTED, _("{provider} at {url} accepted the API key.").format(provider=who, url=where)


def main(argv: list[str] | None = None) -> int:
    """``python -m pos_app.keys_cli ACTION ...`` is ``pos keys ACTION ...``."""
    parser = argparse.ArgumentParser(prog="pos")
    add_keys_parser(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    args = parser.parse_args(["keys", *(sys.argv[1:] if argv is None else argv)])
    return run_keys(args)


if __name__ == "__main__":
    sys.exit(main())
