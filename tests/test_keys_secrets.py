"""pos_app.secrets: the keyring API, its timeouts and the backends it refuses."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import keyring
import keyring.backend
import keyring.backends.fail
import keyring.backends.null
import keyring.errors
import pytest

from pos_app import secrets
from pos_app.config import DEMO_CONFIG, load_config
from pos_app.secrets import NoBackendError, SecretsError, SecretStatus
from pos_app.services.providers import build_providers
from tests.fakepay.fixtures import fakepay  # noqa: F401  (a second provider, with two secret fields)
from tests.conftest import MemoryKeyring
from tests.keyring_backend import FILE_ENV, BrokenKeyring, HangingKeyring, PlaintextJsonKeyring

SECRET = "k3y-for-the-tests-ab12"


@pytest.fixture
def use_backend() -> Iterator[Callable[[keyring.backend.KeyringBackend], None]]:
    previous = keyring.get_keyring()
    yield keyring.set_keyring
    keyring.set_keyring(previous)


@pytest.fixture
def plaintext(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
              use_backend: Callable[[keyring.backend.KeyringBackend], None]) -> PlaintextJsonKeyring:
    monkeypatch.setenv(FILE_ENV, str(tmp_path / "plain.json"))
    backend = PlaintextJsonKeyring()
    use_backend(backend)
    return backend


@pytest.fixture
def hanging(use_backend: Callable[[keyring.backend.KeyringBackend], None]) -> Iterator[HangingKeyring]:
    backend = HangingKeyring()
    use_backend(backend)
    yield backend
    backend.release.set()


pytestmark = pytest.mark.usefixtures("fakepay")


# -- with a working backend -------------------------------------------------------
def test_set_get_list_delete_round_trip(memory_keyring: MemoryKeyring) -> None:
    assert secrets.get_secret("shop-1", "eguma", "api_key") is None
    secrets.set_secret("shop-1", "eguma", "api_key", SECRET)
    assert memory_keyring.store == {("pos-app", "shop-1/eguma/api_key"): SECRET}
    assert secrets.get_secret("shop-1", "eguma", "api_key") == SECRET
    secrets.set_secret("shop-1", "fakepay", "client_secret", "fp-client-secret-9z9z")

    rows = secrets.list_secrets("shop-1", ["eguma", "fakepay"])
    assert rows == [
        SecretStatus("shop-1", "eguma", "api_key", True, "…ab12"),
        SecretStatus("shop-1", "fakepay", "client_id", False, ""),
        SecretStatus("shop-1", "fakepay", "client_secret", True, "…9z9z"),
    ]
    assert rows[0].user == "shop-1/eguma/api_key"
    assert SECRET not in repr(rows)
    assert secrets.list_secrets("other-shop", ["eguma"])[0].is_set is False  # keys are per outlet

    assert secrets.delete_secret("shop-1", "eguma", "api_key") is True
    assert secrets.get_secret("shop-1", "eguma", "api_key") is None
    assert secrets.delete_secret("shop-1", "eguma", "api_key") is False


def test_the_set_key_command_names_the_configuration(write_config: Callable[..., Path]) -> None:
    """What the till tells the shop owner to run must read the till's own
    configuration: `pos keys` without --config falls back to the demo."""
    shop = load_config(write_config(name="shop 2.toml"))  # a space: quoted for the shell
    assert secrets.set_key_command(shop, "eguma", "api_key") == (
        f"pos --config '{shop.source}' keys set --provider eguma --field api_key")
    assert secrets.set_key_command(shop, "eguma", "api_key", outlet="test-outlet") == (
        f"pos --config '{shop.source}' keys set --provider eguma --field api_key")
    assert secrets.set_key_command(shop, "fakepay", "client_id", outlet="other").endswith(
        "keys set --provider fakepay --field client_id --outlet other")
    # the demo is what `pos` reads anyway: no --config to type
    demo = load_config(DEMO_CONFIG)
    assert demo.is_builtin_demo and not shop.is_builtin_demo
    assert secrets.set_key_command(demo, "eguma", "api_key") == "pos keys set --provider eguma --field api_key"


def test_mask_shows_at_most_the_last_four() -> None:
    assert secrets.mask("abcdefgh1234") == "…1234"
    assert secrets.mask("short12") == "…"  # 4 of 7 characters would be too much
    assert secrets.mask(None) == secrets.mask("") == ""


@pytest.mark.parametrize(("outlet", "provider", "field", "problem"), [
    ("shop/1", "eguma", "api_key", "outlet id"),
    ("", "eguma", "api_key", "outlet id"),
    ("shop-1", "paypal", "api_key", "unknown provider 'paypal' (known: celbux, csq, eguma, fakepay, jtl)"),
    ("shop-1", "fakepay", "api_key", "fakepay has no field 'api_key' (fields: client_id, client_secret)"),
])
def test_names_are_checked(memory_keyring: MemoryKeyring, outlet: str, provider: str, field: str,
                           problem: str) -> None:
    with pytest.raises(ValueError, match="^" + problem.replace("(", r"\(").replace(")", r"\)")):
        secrets.set_secret(outlet, provider, field, SECRET)
    assert memory_keyring.store == {}


@pytest.mark.parametrize("bad", ["", "two\nlines", "tab\there", "x" * 5000])
def test_malformed_secrets_are_refused_without_being_quoted(memory_keyring: MemoryKeyring, bad: str) -> None:
    with pytest.raises(ValueError) as caught:
        secrets.set_secret("shop-1", "eguma", "api_key", bad)
    assert (bad not in str(caught.value)) or not bad
    assert memory_keyring.store == {}


# -- no usable backend -------------------------------------------------------------
@pytest.mark.parametrize("backend", [keyring.backends.fail.Keyring, keyring.backends.null.Keyring])
def test_fail_and_null_backends_name_the_options(
    use_backend: Callable[[keyring.backend.KeyringBackend], None], backend: type,
) -> None:
    use_backend(backend())
    for call in (lambda: secrets.get_secret("shop-1", "eguma", "api_key"),
                 lambda: secrets.set_secret("shop-1", "eguma", "api_key", SECRET),
                 lambda: secrets.delete_secret("shop-1", "eguma", "api_key")):
        with pytest.raises(NoBackendError) as caught:
            call()
        message = str(caught.value)
        assert backend.__module__ in message
        # one fix, the exact command, said once
        assert f"`{secrets.install_command()}`" in message and message.count("pip install") == 1
        assert "keyrings.alt" not in message  # alone it cannot be used ("pycryptodome/x required")
    assert secrets.insecure_backend_warning() is None


def test_a_backend_that_cannot_be_loaded_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> keyring.backend.KeyringBackend:
        raise ModuleNotFoundError("No module named 'nope'")

    monkeypatch.setattr(keyring, "get_keyring", broken)
    with pytest.raises(NoBackendError, match="PYTHON_KEYRING_BACKEND cannot be loaded .*nope"):
        secrets.get_secret("shop-1", "eguma", "api_key")


def test_a_missing_keyring_disables_the_provider_with_the_fix(
    use_backend: Callable[[keyring.backend.KeyringBackend], None], write_config: Callable[..., Path],
) -> None:
    use_backend(keyring.backends.fail.Keyring())
    config = load_config(write_config('[providers.eguma]\nbase_url = "http://127.0.0.1:1"\n'))
    slot = build_providers(config)["eguma"]
    assert slot.client is None and slot.problem is not None
    assert "no usable keyring backend" in slot.problem and secrets.install_command() in slot.problem
    assert slot.problem.count("pip install") == 1


# -- timeouts ------------------------------------------------------------------------
@pytest.mark.parametrize("action", ["get", "set", "delete", "list"])
def test_a_hung_keyring_gives_up_within_the_timeout(hanging: HangingKeyring, action: str) -> None:
    calls = {
        "get": lambda: secrets.get_secret("shop-1", "eguma", "api_key", 0.2),
        "set": lambda: secrets.set_secret("shop-1", "eguma", "api_key", SECRET, 0.2),
        "delete": lambda: secrets.delete_secret("shop-1", "eguma", "api_key", 0.2),
        "list": lambda: secrets.list_secrets("shop-1", ["eguma", "fakepay"], 0.2),
    }
    started = time.monotonic()
    with pytest.raises(SecretsError, match=r"did not answer within 0.2 s \(locked or hung\?\)") as caught:
        calls[action]()
    assert time.monotonic() - started < 10  # the keyring would hang for 30 s
    assert hanging.calls == 1
    assert caught.value.__context__ is None and caught.value.__cause__ is None


def test_the_default_timeout_is_read_at_call_time(hanging: HangingKeyring,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "TIMEOUT_S", 0.1)
    started = time.monotonic()
    with pytest.raises(SecretsError, match="within 0.1 s"):
        secrets.get_secret("shop-1", "eguma", "api_key")
    assert time.monotonic() - started < 10  # the keyring would hang for 30 s


def test_a_hung_backend_detection_is_timed_too(monkeypatch: pytest.MonkeyPatch) -> None:
    release = __import__("threading").Event()

    def slow() -> keyring.backend.KeyringBackend:
        release.wait(30)
        return keyring.backends.fail.Keyring()

    monkeypatch.setattr(keyring, "get_keyring", slow)
    try:
        with pytest.raises(SecretsError, match="did not answer"):
            secrets.get_secret("shop-1", "eguma", "api_key", 0.1)
        assert secrets.insecure_backend_warning(0.1) is None
    finally:
        release.set()


# -- errors from the backend ----------------------------------------------------------
def test_backend_errors_become_secrets_errors_without_the_secret(
    use_backend: Callable[[keyring.backend.KeyringBackend], None],
) -> None:
    use_backend(BrokenKeyring())
    with pytest.raises(SecretsError, match="the keyring is locked: unlock it"):
        secrets.get_secret("shop-1", "eguma", "api_key")
    with pytest.raises(SecretsError, match="refused to store shop-1/eguma/api_key: PasswordSetError") as caught:
        secrets.set_secret("shop-1", "eguma", "api_key", SECRET)
    # raised outside the except block: no chained exception keeps the secret
    assert SECRET not in str(caught.value)
    assert caught.value.__context__ is None and caught.value.__cause__ is None


def test_io_errors_of_file_backends_become_secrets_errors(
    memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unreadable(service: str, username: str) -> str | None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(memory_keyring, "get_password", unreadable)
    with pytest.raises(SecretsError, match=r"could not read shop-1/eguma/api_key: PermissionError \(Permission denied\)"):
        secrets.get_secret("shop-1", "eguma", "api_key")


# -- plaintext backends ---------------------------------------------------------------
def test_a_plaintext_backend_is_refused_unless_allowed(plaintext: PlaintextJsonKeyring) -> None:
    with pytest.raises(NoBackendError) as caught:
        secrets.set_secret("shop-1", "eguma", "api_key", SECRET)
    message = str(caught.value)
    assert "tests.keyring_backend.PlaintextJsonKeyring stores secrets unencrypted" in message
    assert "[keyring] allow_insecure = true" in message and secrets.install_command() in message
    with pytest.raises(NoBackendError):
        secrets.get_secret("shop-1", "eguma", "api_key")
    with pytest.raises(NoBackendError):
        secrets.list_secrets("shop-1", ["eguma"])
    assert not plaintext.path().exists()

    secrets.set_secret("shop-1", "eguma", "api_key", SECRET, allow_insecure=True)
    assert secrets.get_secret("shop-1", "eguma", "api_key", allow_insecure=True) == SECRET
    assert secrets.list_secrets("shop-1", ["eguma"], allow_insecure=True)[0].hint == "…ab12"
    warning = secrets.insecure_backend_warning()
    assert warning is not None and "unencrypted" in warning and str(plaintext.path()) in warning
    assert SECRET not in warning
    # removing a secret from an insecure store is always allowed
    assert secrets.delete_secret("shop-1", "eguma", "api_key") is True


def test_a_plaintext_keyring_disables_the_provider_until_allowed(
    plaintext: PlaintextJsonKeyring, write_config: Callable[..., Path],
) -> None:
    secrets.set_secret("test-outlet", "eguma", "api_key", SECRET, allow_insecure=True)
    config = load_config(write_config('[providers.eguma]\nbase_url = "http://127.0.0.1:1"\n'))
    slot = build_providers(config)["eguma"]
    assert slot.client is None and slot.problem is not None and "unencrypted" in slot.problem


def test_no_warning_for_a_proper_backend(memory_keyring: MemoryKeyring) -> None:
    assert secrets.insecure_backend_warning() is None
    assert secrets.backend_name() == "tests.conftest.MemoryKeyring"
