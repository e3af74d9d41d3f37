"""Provider secrets in the OS keyring: service ``pos-app``, user ``<outlet>/<provider>/<field>``.

Secrets never appear in config files, logs, the journal, receipts or
exception messages. Every keyring call runs with a timeout: a locked or
hung Secret Service must not hang the till.
"""

from __future__ import annotations

import concurrent.futures

import keyring
import keyring.backend
import keyring.errors

SERVICE = "pos-app"
TIMEOUT_S = 5.0

# The secret fields each provider needs.
FIELDS: dict[str, tuple[str, ...]] = {
    "eguma": ("api_key",),
    "jtl": ("client_id", "client_secret"),
    "csq": ("username", "password"),
    "celbux": ("token",),
}

NO_BACKEND_HELP = (
    "no usable keyring backend on this machine. Options: run the till in a desktop session "
    "with a Secret Service (GNOME Keyring, KWallet); or `pip install keyrings.alt` and set "
    "PYTHON_KEYRING_BACKEND=keyrings.alt.file.EncryptedKeyring; or choose a backend with "
    "PYTHON_KEYRING_BACKEND"
)


class SecretsError(RuntimeError):
    """The keyring cannot be used; the message says what to do (never holds a secret)."""


def user_name(outlet: str, provider: str, field: str) -> str:
    return f"{outlet}/{provider}/{field}"


def set_command(provider: str, field: str, outlet: str) -> str:
    return f"pos keys set --provider {provider} --field {field} --outlet {outlet}"


def backend_name() -> str:
    backend = keyring.get_keyring()
    return f"{type(backend).__module__}.{type(backend).__name__}"


def _check_backend() -> keyring.backend.KeyringBackend:
    backend = keyring.get_keyring()
    module = type(backend).__module__
    if module.startswith(("keyring.backends.fail", "keyring.backends.null")):
        raise SecretsError(NO_BACKEND_HELP)
    return backend


def get_secret(outlet: str, provider: str, field: str, timeout_s: float = TIMEOUT_S) -> str | None:
    """The stored secret, or None when none is set. Raises SecretsError."""
    backend = _check_backend()
    name = user_name(outlet, provider, field)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="keyring")
    try:
        future = pool.submit(backend.get_password, SERVICE, name)
        return future.result(timeout=timeout_s)
    except concurrent.futures.TimeoutError:
        raise SecretsError(
            f"the keyring did not answer within {timeout_s:.0f} s (locked or hung?); "
            "unlock it and reload keys from the status screen"
        ) from None
    except keyring.errors.KeyringError as exc:
        raise SecretsError(f"the keyring refused to read {name}: {type(exc).__name__}") from None
    finally:
        pool.shutdown(wait=False)
