"""Provider secrets in the OS keyring: service ``pos-app``, user ``<outlet>/<provider>/<field>``.

Secrets never appear in config files, logs, the journal, receipts or
exception messages; the most any caller may show is :func:`mask` (the last
four characters). Every keyring call (finding the backend, get, set, delete)
runs on a daemon thread with a timeout: a locked or hung Secret Service
must not hang the till, neither while it runs nor when it exits.

Backends that cannot keep a secret are refused with a message naming the
fix (one command): keyring's ``fail`` and ``null`` backends (no usable
keyring) always; a plaintext backend (e.g.
``keyrings.alt.file.PlaintextKeyring``) unless the caller passes
``allow_insecure=True`` (the outlet's ``[keyring] allow_insecure = true``);
:func:`insecure_backend_warning` is then the line the status screen shows.

A headless Linux till has no Secret Service: it uses the encrypted file
keyring of ``keyrings.cryptfile`` (the ``headless`` extra; argon2id key
derivation, AES-GCM). keyring chains it with plaintext file backends of the
same package; from such a chain only its encrypted members are used (see
:func:`_narrowed`). Its password is taken, in this order, from the systemd
credential ``pos-keyring`` (``$CREDENTIALS_DIRECTORY``, ``LoadCredential=``
or ``LoadCredentialEncrypted=``), from the file named by
``$POS_KEYRING_PASSWORD_FILE`` (readable by the till's user only), or asked
at the terminal after saying what it is for. The prompt is not timed (a
person types); only the keyring's work is. It is asked on the main thread
only, before the till's screen exists: a reload from the running till
(a worker thread) never prompts, it says how to give the password.
"""

from __future__ import annotations

import concurrent.futures
import getpass
import os
import re
import shlex
import stat
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import keyring
import keyring.backend
import keyring.backends.chainer
import keyring.errors

from pos_app.i18n import N_, _
from pos_app.providers import registry

if TYPE_CHECKING:
    from pos_app.config import Config

SERVICE = "pos-app"
TIMEOUT_S = 5.0  # default for every keyring call; read at call time, so tests may lower it
# An encrypted file keyring derives its key (argon2id, 64 MiB) for every call: about
# 0.4 s on a 2-core x86 VM, several seconds on a small ARM board. It is CPU work, not a
# hung D-Bus service, so its calls get this much longer limit.
FILE_KEYRING_TIMEOUT_S = 60.0

HEADLESS_BACKEND = "keyrings.cryptfile.cryptfile.CryptFileKeyring"
HEADLESS_REQUIREMENT = "keyrings.cryptfile>=1.3.9,<1.4"  # as the `headless` extra of pyproject.toml
CREDENTIAL = "pos-keyring"  # systemd credential with the keyring password ($CREDENTIALS_DIRECTORY)
PASSWORD_FILE_ENV = "POS_KEYRING_PASSWORD_FILE"  # a file with the keyring password (mode 0600)
PASSWORD_ATTEMPTS = 3

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



def install_command() -> str:
    """The one command that installs the encrypted file keyring into this till's environment."""
    return f"{shlex.quote(sys.executable)} -m pip install {shlex.quote(HEADLESS_REQUIREMENT)}"


def no_backend_help() -> str:
    """The fix for "no usable keyring": one command (and the variable to change, if one is set)."""
    if os.environ.get("PYTHON_KEYRING_BACKEND"):
        return _("install the encrypted file keyring with `{command}` and set "
                 "PYTHON_KEYRING_BACKEND={backend} (or unset it)").format(
                     command=install_command(), backend=HEADLESS_BACKEND)
    return _("install the encrypted file keyring with `{command}`").format(command=install_command())


def insecure_help() -> str:
    return _("stores secrets unencrypted on disk, so it is refused: {fix}; "
             "or, if this machine is otherwise protected, accept it with `[keyring] allow_insecure = "
             "true` in the outlet configuration").format(fix=no_backend_help())


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


# The journal server's password ([journal] url) is kept like a provider's key:
# user "<outlet>/journal/password" of the service.
JOURNAL = "journal"
JOURNAL_FIELD = "password"


def fields_of(provider: str) -> tuple[str, ...]:
    """The secret fields of ``provider``; ValueError naming the known providers."""
    if provider == JOURNAL:
        return (JOURNAL_FIELD,)
    try:
        return FIELDS[provider]
    except KeyError:
        known = ", ".join(FIELDS)
        raise ValueError(_("unknown provider {provider} (known: {known})").format(
            provider=repr(provider), known=known)) from None


def check_outlet(outlet: str) -> None:
    """ValueError unless ``outlet`` is a valid outlet id (as in the configuration)."""
    if not _NAME.match(outlet):
        raise ValueError(_("outlet id {outlet} is not valid (letters, digits, '.', '_', '-'; at most 40)").format(
            outlet=repr(outlet)))


def check_names(outlet: str, provider: str, field: str) -> None:
    """ValueError unless ``outlet`` is a valid outlet id and ``field`` one of ``provider``'s."""
    check_outlet(outlet)
    fields = fields_of(provider)
    if field not in fields:
        raise ValueError(_("{provider} has no field {field} (fields: {fields})").format(
            provider=provider, field=repr(field), fields=", ".join(fields)))


def check_secret_text(secret: str) -> None:
    """ValueError (that never quotes the secret) for an empty or malformed secret."""
    if not secret:
        raise ValueError(_("the secret is empty"))
    if len(secret) > MAX_SECRET_LENGTH:
        raise ValueError(_("the secret is longer than {count} characters").format(count=MAX_SECRET_LENGTH))
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in secret):
        raise ValueError(_("the secret contains a line break or another control character"))


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
    return SecretsError(_(
        "the keyring did not answer within {seconds:g} s (locked or hung?); "
        "unlock it and try again (in the till: reload keys from the status screen)"
    ).format(seconds=timeout_s))


def _name_of(backend: keyring.backend.KeyringBackend) -> str:
    return f"{type(backend).__module__}.{type(backend).__name__}"


def _backend(timeout_s: float) -> keyring.backend.KeyringBackend:
    """keyring's backend (detecting it may talk to D-Bus, so it is timed too), narrowed
    to its encrypted members when keyring chained plaintext ones to them."""
    failure: SecretsError | None = None
    chosen = os.environ.get("PYTHON_KEYRING_BACKEND", "")
    try:
        return _narrowed(_in_thread(keyring.get_keyring, timeout_s))
    except concurrent.futures.TimeoutError:
        failure = _hung(timeout_s)
    except (ImportError, AttributeError) as exc:  # PYTHON_KEYRING_BACKEND names no class
        failure = NoBackendError(_(
            "the keyring backend set in PYTHON_KEYRING_BACKEND cannot be loaded ({error}); {fix}"
        ).format(error=f"{type(exc).__name__}: {exc}", fix=no_backend_help()))
    except (RuntimeError, keyring.errors.KeyringError) as exc:  # the chosen backend is not viable
        # e.g. keyrings.alt's EncryptedKeyring without pycryptodome: "pycryptodome/x required"
        failure = NoBackendError(_("the keyring backend {backend} cannot be used ({error}); {fix}").format(
            backend=chosen or _("chosen by keyring"), error=exc, fix=no_backend_help()))
    raise failure  # outside the except block: no chained context


def _narrowed(backend: keyring.backend.KeyringBackend) -> keyring.backend.KeyringBackend:
    """From keyring's chain of backends, the first encrypted one when plaintext ones are chained.

    With keyrings.cryptfile (or keyrings.alt) installed and no Secret Service,
    keyring chains every backend of priority > 0: the encrypted file keyring
    and the plaintext file keyrings next to it. A chain reads from any member,
    so a plaintext file would be read as a fallback, and it writes to the first
    member that takes the key, which is the encrypted one. Using that one alone
    keeps plaintext stores out; a chain without plaintext members is kept.
    """
    if not isinstance(backend, keyring.backends.chainer.ChainerBackend):
        return backend
    members = [m for m in _chained(backend) if not is_unusable(m)]
    if not any(is_plaintext(m) for m in members):
        return backend
    encrypted = [m for m in members if not is_plaintext(m)]
    return encrypted[0] if encrypted else backend


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
        raise NoBackendError(_("no usable keyring backend on this machine (backend in use: {backend}): "
                               "{fix}").format(backend=name, fix=no_backend_help()))
    plain = plaintext_member(backend)
    if plain is not None and not allow_insecure:
        if plain is backend:
            raise NoBackendError(_("the keyring backend {backend} {why}").format(
                backend=_name_of(plain), why=insecure_help()))
        raise NoBackendError(_("the keyring backend {backend} (chained by {chain}) {why}").format(
            backend=_name_of(plain), chain=name, why=insecure_help()))
    return backend


def backend_name(timeout_s: float | None = None) -> str:
    """The backend's class, and for a file keyring its file (e.g. for ``pos keys list``)."""
    backend = _backend(_timeout(timeout_s))
    path = keyring_file(backend)
    if path is None:
        return _name_of(backend)
    return _("{backend} (file {path})").format(backend=_name_of(backend), path=path)


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
    if isinstance(where, str):
        return _("Insecure keyring: {backend} keeps the provider keys unencrypted in {path} "
                 "([keyring] allow_insecure = true)").format(backend=_name_of(plain), path=where)
    return _("Insecure keyring: {backend} keeps the provider keys unencrypted "
             "([keyring] allow_insecure = true)").format(backend=_name_of(plain))


# -- encrypted file keyrings: their password --------------------------------------
_unlocking = threading.Lock()
_declined = False  # the person at the terminal chose to go on without the password


def is_password_keyring(backend: keyring.backend.KeyringBackend) -> bool:
    """An encrypted file keyring that needs a password (keyrings.cryptfile's
    CryptFileKeyring, keyrings.alt's and keyrings.cryptfile's EncryptedKeyring).

    By their shape, as keyring has no flag for it: a ``keyring_key`` property
    (the password; reading it while unset prompts with getpass) and a file.
    """
    return (isinstance(getattr(type(backend), "keyring_key", None), property)
            and hasattr(backend, "_keyring_key") and isinstance(getattr(backend, "file_path", None), str))


def keyring_file(backend: keyring.backend.KeyringBackend) -> str | None:
    """The file of a file keyring (None for other backends)."""
    path = getattr(backend, "file_path", None) if not isinstance(
        backend, keyring.backends.chainer.ChainerBackend) else None
    return path if isinstance(path, str) else None


def _is_locked(backend: keyring.backend.KeyringBackend) -> bool:
    return is_password_keyring(backend) and getattr(backend, "_keyring_key", None) is None


def _lock(backend: keyring.backend.KeyringBackend) -> None:
    backend._keyring_key = None  # type: ignore[attr-defined]  # what the backend's own _lock() does


def _read_password_file(path: Path, *, check_mode: bool) -> str:
    """The password in ``path`` (one trailing newline dropped). SecretsError if the
    file is missing, empty, or (``check_mode``) readable by others than its owner, the till's user."""
    try:
        info = path.stat()
        if check_mode and info.st_mode & 0o077:
            raise SecretsError(_(
                "{path} can be read by other users (mode {mode}): the keyring password must be readable "
                "by the till's user only. Run `chmod 600 {quoted}`").format(
                    path=path, mode=f"{stat.S_IMODE(info.st_mode):03o}", quoted=shlex.quote(str(path))))
        if check_mode and hasattr(os, "getuid") and info.st_uid != os.getuid():
            raise SecretsError(_("{path} belongs to another user than the till's: the keyring password "
                                 "file must be the till user's own (chown it, then chmod 600)").format(path=path))
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SecretsError(_("cannot read the keyring password from {path}: {error}").format(
            path=path, error=exc.strerror or type(exc).__name__)) from None
    except UnicodeDecodeError:
        raise SecretsError(_("{path} is not text: the keyring password file must hold the password "
                             "as text").format(path=path)) from None
    for ending in ("\r\n", "\n"):
        if text.endswith(ending):
            text = text[: -len(ending)]
            break
    if not text:
        raise SecretsError(_("{path} is empty: it must hold the keyring password").format(path=path))
    return text


def unattended_password() -> tuple[str, str] | None:
    """``(where it came from, password)`` given without a person, or None.

    First the systemd credential ``pos-keyring`` (in ``$CREDENTIALS_DIRECTORY``,
    which systemd makes readable by the service only), then the file named by
    ``$POS_KEYRING_PASSWORD_FILE``, which must be the till user's and mode 0600
    (or 0400). The password is never in the configuration.
    """
    folder = os.environ.get("CREDENTIALS_DIRECTORY")
    if folder and (Path(folder) / CREDENTIAL).is_file():
        where = _("the systemd credential {name}").format(name=CREDENTIAL)
        return where, _read_password_file(Path(folder) / CREDENTIAL, check_mode=False)
    named = os.environ.get(PASSWORD_FILE_ENV)
    if named:
        path = Path(named).expanduser()
        return str(path), _read_password_file(path, check_mode=True)
    return None


def _terminal() -> bool:
    """Can a password be asked here: the main thread, with a terminal to ask at."""
    if threading.current_thread() is not threading.main_thread():
        return False  # a reload from the running till: its screen owns the terminal
    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
        return True
    except OSError:
        return bool(sys.stdin and sys.stdin.isatty())


def _tell(text: str) -> None:
    """Say ``text`` before a prompt, folded at word breaks to the terminal's width (the
    terminal would break a long line in the middle of a word)."""
    import shutil
    import textwrap

    width = max(40, shutil.get_terminal_size((80, 24)).columns - 1)
    folded = "\n".join(textwrap.fill(line, width, break_long_words=False, break_on_hyphens=False) or line
                       for line in text.splitlines())
    print(folded, file=sys.stderr, flush=True)


def _try_password(backend: keyring.backend.KeyringBackend, password: str, wait: float) -> bool:
    """Open the keyring with ``password`` (or create its file with it); False if wrong."""
    def use() -> None:
        backend.keyring_key = password  # type: ignore[attr-defined]  # checks it against the file

    wrong = False
    try:
        _in_thread(use, max(wait, FILE_KEYRING_TIMEOUT_S))
    except concurrent.futures.TimeoutError:
        _lock(backend)
        raise _hung(max(wait, FILE_KEYRING_TIMEOUT_S)) from None
    except (ValueError, AssertionError):  # "Incorrect Password", "MAC check failed"
        wrong = True
    except OSError as exc:
        _lock(backend)
        raise SecretsError(_("cannot open the keyring file {path}: {error}").format(
            path=keyring_file(backend), error=exc.strerror or type(exc).__name__)) from None
    if wrong:
        _lock(backend)  # the backend keeps a wrong password otherwise
    return not wrong


def _ask_password(backend: keyring.backend.KeyringBackend, purpose: str, new: bool, wait: float) -> None:
    global _declined
    path = keyring_file(backend)
    if new:
        _tell(_("There is no keyring file yet: choose a password for the new encrypted keyring file {path}. "
                "The till will ask for it at every start, before its screen appears, unless it is given "
                "unattended (README, \"Provider keys\").").format(path=path))
        for _attempt in range(PASSWORD_ATTEMPTS):
            first = getpass.getpass(_("New keyring password (input hidden): "))
            if not first:
                break
            if getpass.getpass(_("The same password again: ")) == first:
                if _try_password(backend, first, wait):
                    return
            _tell(_("The two passwords differ; try again."))
        raise SecretsError(_("no keyring password chosen; nothing stored"))
    _tell(_("The provider keys are kept in an encrypted keyring file ({path}); its password is needed "
            "{purpose}. The till asks for it at every start, before its screen appears, unless it is given "
            "unattended (README, \"Provider keys\").").format(path=path, purpose=purpose))
    for attempt in range(PASSWORD_ATTEMPTS):
        password = getpass.getpass(_("Keyring password (input hidden; Enter alone goes on without the keys): "))
        if not password:
            _declined = True
            raise SecretsError(_("the keyring password was not typed, so the keys in {path} were not read; "
                                 "restart and type it, or give it unattended (README, \"Provider keys\")").format(
                                     path=path))
        if _try_password(backend, password, wait):
            return
        if attempt + 1 < PASSWORD_ATTEMPTS:
            _tell(_("Wrong password for {path}; try again.").format(path=path))
    _declined = True  # not asked again for the next key: the till starts without them
    raise SecretsError(_("the keyring password was wrong {count} times, so the keys in {path} were not "
                         "read").format(count=PASSWORD_ATTEMPTS, path=path))


def unlock(purpose: str, *, create: bool = False, timeout_s: float | None = None,
           allow_insecure: bool = False) -> None:
    """Make sure an encrypted file keyring has its password, asking for it if need be.

    ``purpose`` completes "Its password is needed ..." (e.g. "to read the eguma
    api_key of outlet shop-1"). Nothing to do for other backends, or an
    already opened one. Without a keyring file it is created only if
    ``create`` (a password is chosen); else there is nothing to read and
    nothing is asked. SecretsError when the password cannot be had.
    """
    wait = _timeout(timeout_s)
    backend = check_backend(allow_insecure=allow_insecure, timeout_s=wait)
    _unlock(backend, purpose, create, wait)


def _unlock(backend: keyring.backend.KeyringBackend, purpose: str, create: bool, wait: float) -> bool:
    """True when the keyring can be used; False when it has no file (and ``create`` is not set)."""
    if not _is_locked(backend):
        return True
    with _unlocking:
        if not _is_locked(backend):
            return True
        path = keyring_file(backend) or ""
        new = not os.path.exists(path)
        if new and not create:
            return False
        given = unattended_password()
        if given is not None:
            where, password = given
            if not _try_password(backend, password, wait):
                raise SecretsError(_("the keyring password from {where} does not open {path}").format(
                    where=where, path=path))
            return True
        if _declined:  # Enter alone, or wrong three times: asked once per start
            raise SecretsError(_("the keyring password was not given at start, so the keys in {path} were not "
                                 "read; restart and type it, or give it unattended (README, \"Provider "
                                 "keys\")").format(path=path))
        if not _terminal():
            raise SecretsError(_(
                "the keyring {path} needs its password and there is no terminal to ask for it: give it with "
                "the systemd credential {credential} or in a file named by {variable} (README, \"Provider "
                "keys\")").format(path=path, credential=CREDENTIAL, variable=PASSWORD_FILE_ENV))
        try:
            _ask_password(backend, purpose, new, wait)
        except (EOFError, KeyboardInterrupt):
            _tell("")
            raise SecretsError(_("the keyring password was not given")) from None
        return True


# -- running one operation ----------------------------------------------------------
_FAILURES = {
    "read": (N_("the keyring is locked: unlock it and try again (reading {name})"),
             N_("the keyring refused to read {name}: {error}"),
             N_("the keyring could not read {name}: {error}"),
             N_("the keyring entry {name} does not decrypt (a damaged file, or another password)")),
    "store": (N_("the keyring is locked: unlock it and try again (storing {name})"),
              N_("the keyring refused to store {name}: {error}"),
              N_("the keyring could not store {name}: {error}"),
              N_("the keyring could not store {name}: its file does not decrypt (damaged?)")),
    "delete": (N_("the keyring is locked: unlock it and try again (deleting {name})"),
               N_("the keyring refused to delete {name}: {error}"),
               N_("the keyring could not delete {name}: {error}"),
               N_("the keyring could not delete {name}: its file does not decrypt (damaged?)")),
}


def _purpose(action: str, name: str) -> str:
    if action == "store":
        return _("to store {name}").format(name=name)
    if action == "delete":
        return _("to delete {name}").format(name=name)
    return _("to read the provider key {name}").format(name=name)


def _call(
    action: str, name: str, call: Callable[[keyring.backend.KeyringBackend], T],
    timeout_s: float | None, allow_insecure: bool, *, missing: T,
) -> T:
    """Run one keyring operation on the checked backend, every failure a SecretsError.

    ``missing``: the answer when an encrypted file keyring has no file yet (read, delete).
    """
    wait = _timeout(timeout_s)
    backend = check_backend(allow_insecure=allow_insecure, timeout_s=wait)
    if not _unlock(backend, _purpose(action, name), action == "store", wait):
        return missing
    if is_password_keyring(backend):
        wait = max(wait, FILE_KEYRING_TIMEOUT_S)
    locked, refused, failed, undecryptable = (_(text) for text in _FAILURES[action])
    failure: SecretsError | None = None
    try:
        return _in_thread(lambda: call(backend), wait)
    except concurrent.futures.TimeoutError:
        failure = _hung(wait)
    except keyring.errors.KeyringLocked:
        failure = SecretsError(locked.format(name=name))
    except keyring.errors.KeyringError as exc:
        failure = SecretsError(refused.format(name=name, error=type(exc).__name__))
    except OSError as exc:  # file-based backends
        failure = SecretsError(failed.format(name=name, error=f"{type(exc).__name__} "
                                                             f"({exc.strerror or _('I/O error')})"))
    except (ValueError, AssertionError):  # an encrypted file: "MAC check failed"
        failure = SecretsError(undecryptable.format(name=name))
    raise failure  # outside the except block: no chained context that could hold a secret


# -- the API ---------------------------------------------------------------------
def get_secret(
    outlet: str, provider: str, field: str, timeout_s: float | None = None, *, allow_insecure: bool = False,
) -> str | None:
    """The stored secret, or None when none is set. Raises SecretsError (NoBackendError)."""
    check_names(outlet, provider, field)
    name = user_name(outlet, provider, field)
    secret = _call("read", name, lambda b: b.get_password(SERVICE, name), timeout_s, allow_insecure,
                   missing=None)
    return secret or None


def set_secret(
    outlet: str, provider: str, field: str, secret: str, timeout_s: float | None = None, *,
    allow_insecure: bool = False,
) -> None:
    """Store (or replace) a secret. ValueError for a bad name or secret; SecretsError."""
    check_names(outlet, provider, field)
    check_secret_text(secret)
    name = user_name(outlet, provider, field)
    _call("store", name, lambda b: b.set_password(SERVICE, name, secret), timeout_s, allow_insecure,
          missing=None)


def delete_secret(
    outlet: str, provider: str, field: str, timeout_s: float | None = None, *, allow_insecure: bool = True,
) -> bool:
    """Remove a secret; False when none was set. Raises SecretsError.

    Deleting is allowed from a plaintext backend by default: removing a
    secret from an insecure store is what one wants to be able to do.
    """
    check_names(outlet, provider, field)
    name = user_name(outlet, provider, field)
    if not _call("read", name, lambda b: b.get_password(SERVICE, name), timeout_s, allow_insecure,
                 missing=None):
        return False
    _call("delete", name, lambda b: b.delete_password(SERVICE, name), timeout_s, allow_insecure,
          missing=None)
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
    "CREDENTIAL",
    "FIELDS",
    "HEADLESS_BACKEND",
    "HEADLESS_REQUIREMENT",
    "PASSWORD_FILE_ENV",
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
    "install_command",
    "is_password_keyring",
    "keyring_file",
    "no_backend_help",
    "unattended_password",
    "unlock",
    "list_secrets",
    "mask",
    "set_command",
    "set_key_command",
    "set_secret",
    "user_name",
]
