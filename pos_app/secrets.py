"""Provider secrets in the OS keyring: service ``pos-app``, user ``<outlet>/<provider>/<field>``.

Secrets never appear in config files, logs, the journal, receipts or
exception messages; the most any caller may show is :func:`mask` (the last
four characters). Every keyring call (finding the backend, get, set, delete)
runs on a daemon thread with a timeout: a locked or hung Secret Service
must not hang the till, neither while it runs nor when it exits.

Backends that cannot keep a secret are refused with a message naming the
fix: keyring's ``fail`` and ``null`` backends (no usable keyring) always;
a plaintext backend (e.g. ``keyrings.alt.file.PlaintextKeyring``) unless the
caller passes ``allow_insecure=True`` (the outlet's ``[keyring]
allow_insecure = true``); :func:`insecure_backend_warning` is then the line
the status screen shows.
"""

from __future__ import annotations

import concurrent.futures
import re
import shlex
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import keyring
import keyring.backend
import keyring.backends.chainer
import keyring.errors

from pos_app.providers import registry

if TYPE_CHECKING:
    from pos_app.config import Config

SERVICE = "pos-app"
TIMEOUT_S = 5.0  # default for every keyring call; read at call time, so tests may lower it

class _ProviderFields(Mapping[str, tuple[str, ...]]):
    """The secret fields each provider needs (providers/*.md, "Transport and
    auth"), read from the providers' descriptors in the registry when asked."""

    def __getitem__(self, provider: str) -> tuple[str, ...]:
        try:
            return registry.descriptor(provider).secret_fields
        except registry.UnknownProvider:
            raise KeyError(provider) from None

    def __iter__(self) -> Iterator[str]:
        return iter(registry.names())

    def __len__(self) -> int:
        return len(registry.names())


FIELDS: Mapping[str, tuple[str, ...]] = _ProviderFields()

MAX_SECRET_LENGTH = 4096
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,40}$")  # as an outlet id in the config: no "/" in a name
_UNUSABLE_MODULES = ("keyring.backends.fail", "keyring.backends.null")

NO_BACKEND_HELP = (
    "no usable keyring backend on this machine. Options: run the till in a desktop session "
    "with a Secret Service (GNOME Keyring, KWallet); or `pip install keyrings.alt` and set "
    "PYTHON_KEYRING_BACKEND=keyrings.alt.file.EncryptedKeyring; or choose a backend with "
    "PYTHON_KEYRING_BACKEND"
)
INSECURE_HELP = (
    "stores secrets unencrypted on disk, so it is refused. Use a Secret Service (a desktop "
    "session) or PYTHON_KEYRING_BACKEND=keyrings.alt.file.EncryptedKeyring; or, if this "
    "machine is otherwise protected, accept it with `[keyring] allow_insecure = true` in the "
    "outlet configuration"
)

T = TypeVar("T")


class SecretsError(RuntimeError):
    """The keyring cannot be used; the message says what to do (never holds a secret)."""


class NoBackendError(SecretsError):
    """No backend that may hold secrets: none at all, or a refused plaintext one."""


@dataclass(frozen=True, slots=True)
class SecretStatus:
    """Whether one secret is set, and its last four characters (never the secret)."""

    outlet: str
    provider: str
    field: str
    is_set: bool
    hint: str  # "…ab12", "" when not set

    @property
    def user(self) -> str:
        return user_name(self.outlet, self.provider, self.field)


# -- names ---------------------------------------------------------------------
def user_name(outlet: str, provider: str, field: str) -> str:
    return f"{outlet}/{provider}/{field}"


def set_command(provider: str, field: str, outlet: str) -> str:
    """``pos keys set`` for an outlet, without naming a configuration.

    Run as printed, ``pos keys`` reads $POS_CONFIG or else the demo
    configuration, which need not be the outlet's: messages for the shop
    owner use :func:`set_key_command` instead.
    """
    return f"pos keys set --provider {provider} --field {field} --outlet {outlet}"


def set_key_command(config: Config, provider: str, field: str, outlet: str | None = None) -> str:
    """The whole ``pos ... keys set`` command that stores ``provider``'s ``field``
    for the till that runs with ``config``, ready to copy into a shell.

    It names the configuration (``pos --config PATH``) unless that is the
    built-in demo's, which ``pos`` reads by default: without it the command
    would read $POS_CONFIG or the demo, not necessarily the outlet's
    configuration. ``--outlet`` appears only for another outlet than the
    configuration's ``[outlet] id``.
    """
    words = ["pos"]
    if not config.is_builtin_demo:
        words += ["--config", shlex.quote(str(config.source))]
    words += ["keys", "set", "--provider", provider, "--field", field]
    if outlet is not None and outlet != config.outlet.id:
        words += ["--outlet", shlex.quote(outlet)]
    return " ".join(words)


def fields_of(provider: str) -> tuple[str, ...]:
    """The secret fields of ``provider``; ValueError naming the known providers."""
    try:
        return FIELDS[provider]
    except KeyError:
        known = ", ".join(FIELDS)
        raise ValueError(f"unknown provider {provider!r} (known: {known})") from None


def check_outlet(outlet: str) -> None:
    """ValueError unless ``outlet`` is a valid outlet id (as in the configuration)."""
    if not _NAME.match(outlet):
        raise ValueError(f"outlet id {outlet!r} is not valid (letters, digits, '.', '_', '-'; at most 40)")


def check_names(outlet: str, provider: str, field: str) -> None:
    """ValueError unless ``outlet`` is a valid outlet id and ``field`` one of ``provider``'s."""
    check_outlet(outlet)
    fields = fields_of(provider)
    if field not in fields:
        raise ValueError(f"{provider} has no field {field!r} (fields: {', '.join(fields)})")


def check_secret_text(secret: str) -> None:
    """ValueError (that never quotes the secret) for an empty or malformed secret."""
    if not secret:
        raise ValueError("the secret is empty")
    if len(secret) > MAX_SECRET_LENGTH:
        raise ValueError(f"the secret is longer than {MAX_SECRET_LENGTH} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in secret):
        raise ValueError("the secret contains a line break or another control character")


def mask(secret: str | None) -> str:
    """What may be shown of a secret: ``…`` and its last four characters.

    A secret shorter than 8 characters shows nothing but ``…`` (four
    characters would be half of it or more).
    """
    if not secret:
        return ""
    return "…" + secret[-4:] if len(secret) >= 8 else "…"


# -- running keyring calls with a timeout ----------------------------------------
def _timeout(timeout_s: float | None) -> float:
    return TIMEOUT_S if timeout_s is None else timeout_s


def _in_thread(call: Callable[[], T], timeout_s: float) -> T:
    """``call()`` on a daemon thread; its result or exception, or TimeoutError.

    A daemon thread, not a ThreadPoolExecutor: the executor's workers are
    joined when the interpreter exits, so a hung keyring would hang the exit.
    """
    future: concurrent.futures.Future[T] = concurrent.futures.Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            result = call()
        except BaseException as exc:  # handed to the caller's future.result(), as ThreadPoolExecutor does
            future.set_exception(exc)
        else:
            future.set_result(result)

    threading.Thread(target=run, name="keyring", daemon=True).start()
    return future.result(timeout=timeout_s)


def _hung(timeout_s: float) -> SecretsError:
    return SecretsError(
        f"the keyring did not answer within {timeout_s:g} s (locked or hung?); "
        "unlock it and try again (in the till: reload keys from the status screen)"
    )


def _name_of(backend: keyring.backend.KeyringBackend) -> str:
    return f"{type(backend).__module__}.{type(backend).__name__}"


def _backend(timeout_s: float) -> keyring.backend.KeyringBackend:
    """keyring's backend (detecting it may talk to D-Bus, so it is timed too)."""
    failure: SecretsError | None = None
    try:
        return _in_thread(keyring.get_keyring, timeout_s)
    except concurrent.futures.TimeoutError:
        failure = _hung(timeout_s)
    except (ImportError, AttributeError) as exc:  # PYTHON_KEYRING_BACKEND names no class
        failure = NoBackendError(f"the keyring backend set in PYTHON_KEYRING_BACKEND cannot be loaded "
                                 f"({type(exc).__name__}: {exc}); {NO_BACKEND_HELP}")
    except (RuntimeError, keyring.errors.KeyringError) as exc:  # the chosen backend is not viable
        failure = NoBackendError(f"the keyring backend cannot be used ({exc}); {NO_BACKEND_HELP}")
    raise failure  # outside the except block: no chained context


def _chained(backend: keyring.backend.KeyringBackend) -> list[keyring.backend.KeyringBackend]:
    if isinstance(backend, keyring.backends.chainer.ChainerBackend):
        return list(backend.backends)
    return [backend]


def is_unusable(backend: keyring.backend.KeyringBackend) -> bool:
    """keyring's ``fail``/``null`` backends, or a chainer with nothing to chain."""
    members = _chained(backend)
    return not members or all(type(b).__module__.startswith(_UNUSABLE_MODULES) for b in members)


def plaintext_member(backend: keyring.backend.KeyringBackend) -> keyring.backend.KeyringBackend | None:
    """The backend (or chained backend) that keeps secrets unencrypted, if any.

    By name, as keyring itself offers no flag for it: ``keyrings.alt``'s
    ``PlaintextKeyring`` (file and pyfs) and any class named like it.
    """
    for member in _chained(backend):
        for cls in type(member).__mro__:
            if "plaintext" in cls.__name__.lower() or "plaintext" in cls.__module__.lower():
                return member
    return None


def is_plaintext(backend: keyring.backend.KeyringBackend) -> bool:
    return plaintext_member(backend) is not None


def check_backend(*, allow_insecure: bool = False, timeout_s: float | None = None) -> keyring.backend.KeyringBackend:
    """The keyring backend, if it may hold secrets; NoBackendError saying why not."""
    backend = _backend(_timeout(timeout_s))
    name = _name_of(backend)
    if is_unusable(backend):
        raise NoBackendError(f"{NO_BACKEND_HELP} (backend in use: {name})")
    plain = plaintext_member(backend)
    if plain is not None and not allow_insecure:
        via = "" if plain is backend else f" (chained by {name})"
        raise NoBackendError(f"the keyring backend {_name_of(plain)}{via} {INSECURE_HELP}")
    return backend


def backend_name(timeout_s: float | None = None) -> str:
    return _name_of(_backend(_timeout(timeout_s)))


def insecure_backend_warning(timeout_s: float | None = None) -> str | None:
    """One line for the status screen when the backend keeps secrets in plaintext."""
    try:
        backend = _backend(_timeout(timeout_s))
    except SecretsError:
        return None  # get_secret reports an unusable keyring itself
    plain = plaintext_member(backend)
    if is_unusable(backend) or plain is None:
        return None
    where = getattr(plain, "file_path", None)
    place = f" in {where}" if isinstance(where, str) else ""
    return (f"Insecure keyring: {_name_of(plain)} keeps the provider keys unencrypted{place} "
            "([keyring] allow_insecure = true)")


def _call(
    action: str, name: str, call: Callable[[keyring.backend.KeyringBackend], T],
    timeout_s: float | None, allow_insecure: bool,
) -> T:
    """Run one keyring operation on the checked backend, every failure a SecretsError."""
    wait = _timeout(timeout_s)
    backend = check_backend(allow_insecure=allow_insecure, timeout_s=wait)
    failure: SecretsError | None = None
    try:
        return _in_thread(lambda: call(backend), wait)
    except concurrent.futures.TimeoutError:
        failure = _hung(wait)
    except keyring.errors.KeyringLocked:
        failure = SecretsError(f"the keyring is locked: unlock it and try again ({action} {name})")
    except keyring.errors.KeyringError as exc:
        failure = SecretsError(f"the keyring refused to {action} {name}: {type(exc).__name__}")
    except OSError as exc:  # file-based backends
        failure = SecretsError(f"the keyring could not {action} {name}: {type(exc).__name__} "
                               f"({exc.strerror or 'I/O error'})")
    raise failure  # outside the except block: no chained context that could hold a secret


# -- the API ---------------------------------------------------------------------
def get_secret(
    outlet: str, provider: str, field: str, timeout_s: float | None = None, *, allow_insecure: bool = False,
) -> str | None:
    """The stored secret, or None when none is set. Raises SecretsError (NoBackendError)."""
    check_names(outlet, provider, field)
    name = user_name(outlet, provider, field)
    secret = _call("read", name, lambda b: b.get_password(SERVICE, name), timeout_s, allow_insecure)
    return secret or None


def set_secret(
    outlet: str, provider: str, field: str, secret: str, timeout_s: float | None = None, *,
    allow_insecure: bool = False,
) -> None:
    """Store (or replace) a secret. ValueError for a bad name or secret; SecretsError."""
    check_names(outlet, provider, field)
    check_secret_text(secret)
    name = user_name(outlet, provider, field)
    _call("store", name, lambda b: b.set_password(SERVICE, name, secret), timeout_s, allow_insecure)


def delete_secret(
    outlet: str, provider: str, field: str, timeout_s: float | None = None, *, allow_insecure: bool = True,
) -> bool:
    """Remove a secret; False when none was set. Raises SecretsError.

    Deleting is allowed from a plaintext backend by default: removing a
    secret from an insecure store is what one wants to be able to do.
    """
    check_names(outlet, provider, field)
    name = user_name(outlet, provider, field)
    if not _call("read", name, lambda b: b.get_password(SERVICE, name), timeout_s, allow_insecure):
        return False
    _call("delete", name, lambda b: b.delete_password(SERVICE, name), timeout_s, allow_insecure)
    return True


def list_secrets(
    outlet: str, providers: Iterable[str], timeout_s: float | None = None, *, allow_insecure: bool = False,
) -> list[SecretStatus]:
    """Each field of each provider for ``outlet``: set or not, and its last four characters."""
    rows = []
    for provider in providers:
        for field in fields_of(provider):
            secret = get_secret(outlet, provider, field, timeout_s, allow_insecure=allow_insecure)
            rows.append(SecretStatus(outlet, provider, field, secret is not None, mask(secret)))
    return rows


__all__ = [
    "FIELDS",
    "NO_BACKEND_HELP",
    "SERVICE",
    "NoBackendError",
    "SecretStatus",
    "SecretsError",
    "backend_name",
    "check_backend",
    "check_names",
    "check_outlet",
    "check_secret_text",
    "delete_secret",
    "get_secret",
    "insecure_backend_warning",
    "list_secrets",
    "mask",
    "set_command",
    "set_key_command",
    "set_secret",
    "user_name",
]
