"""``pos keys set|list|delete``: in-process for the branches, and as a subprocess
(stdin, a file-backed test keyring) against the E-GUMA simulator over real HTTP."""

from __future__ import annotations

import argparse
import io
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import keyring
import keyring.backends.fail
import pytest

from pos_app import keys_cli, secrets
from pos_app.config import DEMO_CONFIG, PROJECT_ROOT
from pos_app.providers.eguma import simulator
from tests.conftest import MemoryKeyring
from tests.fakepay.fixtures import fakepay  # noqa: F401  (a second provider, with two secret fields)
from tests.keyring_backend import FILE_ENV, HangingKeyring, PlaintextJsonKeyring

pytestmark = pytest.mark.usefixtures("fakepay")

GOOD_KEY = "good-outlet-key-7f3a"
BAD_KEY = "wrong-outlet-key-0b0b"


@pytest.fixture(scope="module")
def sim_server() -> Iterator[tuple[str, simulator.EgumaSimulator]]:
    """The E-GUMA simulator over real HTTP; its only outlet key is GOOD_KEY."""
    data = simulator.load_data()
    data.outlets = {GOOD_KEY: "Test Shop Zürich"}
    app, sim = simulator.build_app(data=data)
    with simulator.ServerThread(app) as server:
        yield server.url, sim


@pytest.fixture
def sim(sim_server: tuple[str, simulator.EgumaSimulator]) -> simulator.EgumaSimulator:
    sim_server[1].reset()
    sim_server[1].clear_faults()
    return sim_server[1]


@pytest.fixture
def outlet_config(write_config: Callable[..., Path], sim_server: tuple[str, simulator.EgumaSimulator]) -> Path:
    return write_config(f'[providers.eguma]\nbase_url = "{sim_server[0]}"\ntimeout_s = 2\n')


def run(argv: list[str], stdin: str = "") -> int:
    """``pos keys ARGV`` in this process, with ``stdin`` piped in (not a terminal)."""
    sys.stdin = io.StringIO(stdin)
    try:
        return keys_cli.main(argv)
    finally:
        sys.stdin = sys.__stdin__


# -- set -------------------------------------------------------------------------------
def test_set_checks_the_key_and_stores_it(
    memory_keyring: MemoryKeyring, outlet_config: Path, sim: simulator.EgumaSimulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["set", "--provider", "eguma", "--config", str(outlet_config)], GOOD_KEY + "\n") == 0
    assert memory_keyring.store == {("pos-app", "test-outlet/eguma/api_key"): GOOD_KEY}
    out, err = capsys.readouterr()
    assert "Stored eguma api_key …7f3a for outlet test-outlet in tests.conftest.MemoryKeyring." in out
    assert "Checked: E-GUMA at http://127.0.0.1:" in out and "accepted the API key" in out
    assert GOOD_KEY not in out + err
    paths = [r["path"] for r in sim.snapshot()["requests"]]
    assert paths == ["/v1/vouchers/AAAAAAAAAAAA/balance.json"]  # exactly one Balance call

    # rotating: the old key is named by its last four only
    rotated_key = "rotated-outlet-key-c0de"
    sim.state.outlets[rotated_key] = "Test Shop Zürich"
    assert run(["set", "--provider", "eguma", "--field", "api_key", "--config", str(outlet_config)],
               rotated_key) == 0
    out, _ = capsys.readouterr()
    assert "Replaced …7f3a with eguma api_key …c0de" in out
    assert memory_keyring.store[("pos-app", "test-outlet/eguma/api_key")] == rotated_key


def test_a_rejected_key_is_not_stored(
    memory_keyring: MemoryKeyring, outlet_config: Path, sim: simulator.EgumaSimulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["set", "--provider", "eguma", "--config", str(outlet_config)], BAD_KEY) == 1
    out, err = capsys.readouterr()
    assert "rejected this API key (HTTP 401)" in err and "NOT stored" in err
    assert memory_keyring.store == {}
    assert BAD_KEY not in out + err


@pytest.mark.parametrize("status", [500, 503])
def test_an_unavailable_provider_stores_only_with_no_check(
    memory_keyring: MemoryKeyring, outlet_config: Path, sim: simulator.EgumaSimulator,
    capsys: pytest.CaptureFixture[str], status: int,
) -> None:
    sim.fail_next(2, status)
    assert run(["set", "--provider", "eguma", "--config", str(outlet_config)], GOOD_KEY) == 1
    _, err = capsys.readouterr()
    assert "could not be checked: no usable answer from E-GUMA at http://127.0.0.1:" in err
    assert f"(HTTP {status})" in err and "Nothing was stored" in err and "--no-check" in err
    assert memory_keyring.store == {}

    assert run(["set", "--provider", "eguma", "--no-check", "--config", str(outlet_config)], GOOD_KEY) == 0
    out, err = capsys.readouterr()
    assert "Stored eguma api_key …7f3a" in out and "Not checked: no usable answer" in out
    assert memory_keyring.store == {("pos-app", "test-outlet/eguma/api_key"): GOOD_KEY}
    assert GOOD_KEY not in out + err


def test_an_unreachable_provider(memory_keyring: MemoryKeyring, write_config: Callable[..., Path],
                                 capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config('[providers.eguma]\nbase_url = "http://127.0.0.1:1"\ntimeout_s = 2\n')
    assert run(["set", "--provider", "eguma", "--config", str(config)], GOOD_KEY) == 1
    assert "could not be reached" in capsys.readouterr().err
    assert memory_keyring.store == {}
    assert run(["set", "--provider", "eguma", "--no-check", "--config", str(config)], GOOD_KEY) == 0
    assert memory_keyring.store == {("pos-app", "test-outlet/eguma/api_key"): GOOD_KEY}


def test_eguma_not_configured_cannot_be_checked(memory_keyring: MemoryKeyring, write_config: Callable[..., Path],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config()
    assert run(["set", "--provider", "eguma", "--outlet", "shop-2", "--config", str(config)], GOOD_KEY) == 1
    assert "[providers.eguma] is not in" in capsys.readouterr().err
    assert run(["set", "--provider", "eguma", "--outlet", "shop-2", "--no-check", "--config", str(config)],
               GOOD_KEY) == 0
    assert memory_keyring.store == {("pos-app", "shop-2/eguma/api_key"): GOOD_KEY}


def test_a_simulated_provider_needs_no_key(memory_keyring: MemoryKeyring, write_config: Callable[..., Path],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config('[providers.eguma]\nbase_url = "sim://eguma"\n')
    sys.stdin = None  # type: ignore[assignment]  # reading the secret would fail loudly
    try:
        assert keys_cli.main(["set", "--provider", "eguma", "--config", str(config)]) == 0
    finally:
        sys.stdin = sys.__stdin__
    assert capsys.readouterr().out == (
        f"{config} uses the built-in simulator (sim://eguma) for eguma: no key is needed, nothing stored.\n")
    assert memory_keyring.store == {}


@pytest.mark.parametrize("outlet", [[], ["--outlet", "shop2"]])
def test_without_a_configuration_the_demo_is_read_and_named(
    memory_keyring: MemoryKeyring, capsys: pytest.CaptureFixture[str], outlet: list[str],
) -> None:
    """`pos keys set` as the till used to print it (no --config): the demo config is
    read, which simulates E-GUMA. That is a mistake to say, not a success to report."""
    assert run(["set", "--provider", "eguma", "--field", "api_key", *outlet], GOOD_KEY) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("pos keys: no configuration given, so the demo's was read — "
                          f"{DEMO_CONFIG} uses the built-in simulator (sim://eguma) for eguma: "
                          "no key is needed and nothing was stored.")
    assert "pos --config /path/to/outlet.toml keys set --provider eguma" in err and "POS_CONFIG" in err
    assert memory_keyring.store == {}


def test_the_demo_chosen_on_purpose_needs_no_key(memory_keyring: MemoryKeyring,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["set", "--provider", "eguma", "--config", str(DEMO_CONFIG)]) == 0
    out = capsys.readouterr().out
    assert out == f"{DEMO_CONFIG} uses the built-in simulator (sim://eguma) for eguma: no key is needed, nothing stored.\n"
    assert memory_keyring.store == {}


def test_pos_config_env_is_used(memory_keyring: MemoryKeyring, outlet_config: Path,
                                monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("POS_CONFIG", str(outlet_config))
    assert run(["list"]) == 0
    assert f"Outlet test-outlet (configuration {outlet_config})" in capsys.readouterr().out


def test_providers_with_several_fields_need_field(
    memory_keyring: MemoryKeyring, write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str],
) -> None:
    config = str(write_config())
    assert run(["set", "--provider", "fakepay", "--config", config], "x-client-id-1") == 2
    assert "fakepay has several secrets; choose one with --field (client_id, client_secret)" in capsys.readouterr().err
    assert run(["set", "--provider", "fakepay", "--field", "token", "--config", config], "whatever1") == 2
    assert "fakepay has no field 'token'; its fields: client_id, client_secret" in capsys.readouterr().err
    assert memory_keyring.store == {}

    assert run(["set", "--provider", "fakepay", "--field", "client_secret", "--config", config],
               "fp-client-secret-9z9z\n") == 0
    out, _ = capsys.readouterr()
    assert "Stored fakepay client_secret …9z9z" in out
    assert "Not checked: this version of the till cannot check FakePay credentials." in out
    assert memory_keyring.store == {("pos-app", "test-outlet/fakepay/client_secret"): "fp-client-secret-9z9z"}


@pytest.mark.parametrize(("stdin", "problem"), [
    ("", "the secret is empty; nothing stored"),
    ("\n", "the secret is empty; nothing stored"),
    ("two\nlines\n", "line break or another control character; nothing stored"),
])
def test_bad_input_stores_nothing(memory_keyring: MemoryKeyring, write_config: Callable[..., Path],
                                  capsys: pytest.CaptureFixture[str], stdin: str, problem: str) -> None:
    assert run(["set", "--provider", "eguma", "--config", str(write_config())], stdin) == 1
    assert problem in capsys.readouterr().err
    assert memory_keyring.store == {}


def test_only_one_trailing_newline_is_dropped(memory_keyring: MemoryKeyring,
                                              write_config: Callable[..., Path]) -> None:
    config = str(write_config())
    assert run(["set", "--provider", "fakepay", "--field", "client_id", "--config", config],
               "fp-client-id-1234\r\n") == 0
    assert memory_keyring.store[("pos-app", "test-outlet/fakepay/client_id")] == "fp-client-id-1234"
    assert run(["set", "--provider", "fakepay", "--field", "client_secret", "--config", config],
               "pass word  \n") == 0
    assert memory_keyring.store[("pos-app", "test-outlet/fakepay/client_secret")] == "pass word  "


def test_a_terminal_gets_a_prompt_without_echo(
    memory_keyring: MemoryKeyring, write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    prompts: list[str] = []

    def getpass(prompt: str) -> str:
        prompts.append(prompt)
        return "fp-client-id-42"

    monkeypatch.setattr(keys_cli.getpass, "getpass", getpass)
    monkeypatch.setattr(sys, "stdin", Terminal("not this"))
    assert keys_cli.main(["set", "--provider", "fakepay", "--field", "client_id", "--outlet", "shop-9",
                          "--config", str(write_config())]) == 0
    assert prompts == ["fakepay client_id for outlet shop-9 (input hidden): "]
    assert memory_keyring.store == {("pos-app", "shop-9/fakepay/client_id"): "fp-client-id-42"}
    assert "fp-client-id-42" not in "".join(capsys.readouterr())


def test_an_interrupted_prompt_stores_nothing(
    memory_keyring: MemoryKeyring, write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def interrupted(prompt: str) -> str:
        raise KeyboardInterrupt

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(keys_cli.getpass, "getpass", interrupted)
    monkeypatch.setattr(sys, "stdin", Terminal())
    assert keys_cli.main(["set", "--provider", "eguma", "--config", str(write_config())]) == 130
    assert "interrupted; nothing stored" in capsys.readouterr().err
    assert memory_keyring.store == {}


@pytest.mark.parametrize("argv", [["list", "--outlet", "a/b"], ["delete", "--provider", "eguma", "--outlet", "a/b"]])
def test_a_bad_outlet_id_is_refused(memory_keyring: MemoryKeyring, capsys: pytest.CaptureFixture[str],
                                    argv: list[str]) -> None:
    assert run(argv) == 2
    assert "outlet id 'a/b' is not valid" in capsys.readouterr().err


def test_a_broken_config_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["list", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "missing.toml: file not found" in capsys.readouterr().err


# -- list and delete ---------------------------------------------------------------------
def test_list_shows_the_last_four_only(memory_keyring: MemoryKeyring, outlet_config: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    memory_keyring.set_password("pos-app", "test-outlet/eguma/api_key", GOOD_KEY)
    memory_keyring.set_password("pos-app", "test-outlet/fakepay/client_secret", "fp-secret-5e5e")
    memory_keyring.set_password("pos-app", "other/fakepay/client_id", "other-outlet-id-1111")
    assert run(["list", "--config", str(outlet_config)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == "Keyring backend: tests.conftest.MemoryKeyring"
    assert lines[1].startswith("Outlet test-outlet (configuration ")
    rows = {tuple(line.split()[:2]): line for line in lines[2:]}
    assert list(rows) == [("celbux", "token"), ("csq", "username"), ("csq", "password"), ("eguma", "api_key"),
                          ("fakepay", "client_id"),
                          ("fakepay", "client_secret"), ("jtl", "client_id"), ("jtl", "client_secret")]
    assert "set …7f3a" in rows["eguma", "api_key"] and "(configured)" in rows["eguma", "api_key"]
    assert "set …5e5e" in rows["fakepay", "client_secret"]
    assert "not set" in rows["fakepay", "client_id"]  # another outlet's key is not this one's
    for secret in (GOOD_KEY, "fp-secret-5e5e", "other-outlet-id-1111"):
        assert secret not in out + err

    assert run(["list", "--outlet", "other", "--config", str(outlet_config)]) == 0
    out, _ = capsys.readouterr()
    assert "Outlet other " in out and "set …1111" in out
    assert ("not set       (configured: run "
            f"`pos --config {outlet_config} keys set --provider eguma --field api_key --outlet other`)") in out


def test_delete(memory_keyring: MemoryKeyring, write_config: Callable[..., Path],
                capsys: pytest.CaptureFixture[str]) -> None:
    config = str(write_config())
    memory_keyring.set_password("pos-app", "test-outlet/fakepay/client_id", "fp-client-id-2a2a")
    assert run(["delete", "--provider", "fakepay", "--config", config]) == 2  # which field?
    assert run(["delete", "--provider", "fakepay", "--field", "client_id", "--config", config]) == 0
    assert memory_keyring.store == {}
    assert "Deleted fakepay client_id of outlet test-outlet" in capsys.readouterr().out
    assert run(["delete", "--provider", "fakepay", "--field", "client_id", "--config", config]) == 1
    assert "no fakepay client_id is set for outlet test-outlet; nothing deleted" in capsys.readouterr().err


# -- backends -----------------------------------------------------------------------------
@pytest.fixture
def backend_swap() -> Iterator[Callable[[keyring.backend.KeyringBackend], None]]:
    previous = keyring.get_keyring()
    yield keyring.set_keyring
    keyring.set_keyring(previous)


@pytest.mark.parametrize("argv", [["list"], ["set", "--provider", "eguma"], ["delete", "--provider", "eguma"]])
def test_no_backend_exits_2_with_the_options(
    backend_swap: Callable[[keyring.backend.KeyringBackend], None], write_config: Callable[..., Path],
    capsys: pytest.CaptureFixture[str], argv: list[str],
) -> None:
    backend_swap(keyring.backends.fail.Keyring())
    sys.stdin = None  # type: ignore[assignment]  # the secret is not asked for
    try:
        assert keys_cli.main([*argv, "--config", str(write_config())]) == 2
    finally:
        sys.stdin = sys.__stdin__
    err = capsys.readouterr().err
    assert err.startswith("pos keys: no usable keyring backend")
    assert f"`{secrets.install_command()}`" in err and err.count("pip install") == 1
    assert err.count("\n") == 1 and "Traceback" not in err  # said once


def test_plaintext_backend_refused_then_allowed(
    backend_swap: Callable[[keyring.backend.KeyringBackend], None], write_config: Callable[..., Path],
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(FILE_ENV, str(tmp_path / "plain.json"))
    backend_swap(PlaintextJsonKeyring())
    config = str(write_config())
    assert run(["set", "--provider", "fakepay", "--field", "client_id", "--config", config], "fp-client-1234") == 2
    assert "stores secrets unencrypted" in capsys.readouterr().err
    assert PlaintextJsonKeyring.load() == {}

    monkeypatch.setattr(keys_cli, "allow_insecure", lambda config: True)  # [keyring] allow_insecure = true
    assert run(["set", "--provider", "fakepay", "--field", "client_id", "--config", config], "fp-client-1234") == 0
    out, err = capsys.readouterr()
    assert "Stored fakepay client_id …1234" in out and "Warning: Insecure keyring" in err
    assert PlaintextJsonKeyring.load() == {"pos-app test-outlet/fakepay/client_id": "fp-client-1234"}
    assert run(["list", "--config", config]) == 0
    assert "Warning: Insecure keyring" in capsys.readouterr().out


def test_allow_insecure_reads_the_keyring_section() -> None:
    assert keys_cli.allow_insecure(argparse.Namespace()) is False  # type: ignore[arg-type]
    on = argparse.Namespace(keyring=argparse.Namespace(allow_insecure=True))
    assert keys_cli.allow_insecure(on) is True  # type: ignore[arg-type]


def test_a_hung_keyring_fails_fast(
    backend_swap: Callable[[keyring.backend.KeyringBackend], None], write_config: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    hanging = HangingKeyring()
    backend_swap(hanging)
    monkeypatch.setattr(secrets, "TIMEOUT_S", 0.2)
    started = time.monotonic()
    try:
        assert run(["list", "--config", str(write_config())]) == 1
    finally:
        hanging.release.set()
    assert time.monotonic() - started < 10  # the keyring would hang for 30 s
    assert "did not answer within 0.2 s" in capsys.readouterr().err


def test_pos_config_before_keys_is_kept(tmp_path: Path) -> None:
    """As `pos --config X keys list` once cli.py registers the subcommand."""
    parser = argparse.ArgumentParser(prog="pos")
    parser.add_argument("--config", "-c", type=Path)
    keys_cli.add_keys_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["--config", "a.toml", "keys", "list"])
    assert (args.command, args.keys_command, args.config) == ("keys", "list", Path("a.toml"))
    args = parser.parse_args(["keys", "delete", "--provider", "eguma", "-c", "b.toml"])
    assert args.config == Path("b.toml")


# -- as a program: stdin, a file keyring, real HTTP ----------------------------------------
@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "keyring.json"


def pos_keys(store: Path, *argv: str, stdin: str = "",
             backend: str = "tests.keyring_backend.JsonFileKeyring") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "PYTHON_KEYRING_BACKEND": backend,
           FILE_ENV: str(store)}
    return subprocess.run([sys.executable, "-m", "pos_app.keys_cli", *argv], input=stdin,
                          capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=60)


def stored(store: Path) -> dict[str, str]:
    return json.loads(store.read_text(encoding="utf-8")) if store.exists() else {}


def test_program_set_list_delete(store: Path, outlet_config: Path, sim: simulator.EgumaSimulator) -> None:
    config = ["--config", str(outlet_config)]
    bad = pos_keys(store, "set", "--provider", "eguma", *config, stdin=BAD_KEY + "\n")
    assert bad.returncode == 1, bad.stderr
    assert "rejected this API key (HTTP 401)" in bad.stderr and "Traceback" not in bad.stderr
    assert stored(store) == {}

    good = pos_keys(store, "set", "--provider", "eguma", *config, stdin=GOOD_KEY + "\n")
    assert good.returncode == 0, good.stderr
    assert "Stored eguma api_key …7f3a for outlet test-outlet in tests.keyring_backend.JsonFileKeyring." in good.stdout
    assert stored(store) == {"pos-app test-outlet/eguma/api_key": GOOD_KEY}
    assert len(sim.snapshot()["requests"]) == 2  # one Balance call per attempt

    listed = pos_keys(store, "list", *config)
    assert listed.returncode == 0, listed.stderr
    assert "Keyring backend: tests.keyring_backend.JsonFileKeyring" in listed.stdout
    assert "set …7f3a" in listed.stdout

    deleted = pos_keys(store, "delete", "--provider", "eguma", *config)
    assert deleted.returncode == 0, deleted.stderr
    assert stored(store) == {}
    again = pos_keys(store, "delete", "--provider", "eguma", *config)
    assert again.returncode == 1 and "nothing deleted" in again.stderr

    for result in (bad, good, listed, deleted, again):
        assert GOOD_KEY not in result.stdout + result.stderr
        assert BAD_KEY not in result.stdout + result.stderr


def test_program_without_a_keyring_exits_2(store: Path, outlet_config: Path) -> None:
    result = pos_keys(store, "set", "--provider", "eguma", "--config", str(outlet_config),
                      stdin=GOOD_KEY, backend="keyring.backends.fail.Keyring")
    assert result.returncode == 2
    assert result.stderr.startswith("pos keys: no usable keyring backend") and "Traceback" not in result.stderr
    result = pos_keys(store, "list", backend="no.such.Backend")
    assert result.returncode == 2
    assert "PYTHON_KEYRING_BACKEND cannot be loaded" in result.stderr and "Traceback" not in result.stderr


def test_program_the_printed_command_sets_the_key_of_the_right_outlet(
    store: Path, outlet_config: Path, sim: simulator.EgumaSimulator, tmp_path: Path,
) -> None:
    """The command `keys list` prints, run as shown from another folder and without
    $POS_CONFIG, reads the outlet's configuration (not the demo) and stores the key."""
    listed = pos_keys(store, "list", "--config", str(outlet_config))
    assert listed.returncode == 0, listed.stderr
    command = listed.stdout.split("run `", 1)[1].split("`", 1)[0]
    assert command == f"pos --config {outlet_config} keys set --provider eguma --field api_key"
    words = shlex.split(command)
    env = {k: v for k, v in os.environ.items() if k != "POS_CONFIG"}
    env.update({"PYTHONPATH": str(PROJECT_ROOT), "PYTHON_KEYRING_BACKEND": "tests.keyring_backend.JsonFileKeyring",
                FILE_ENV: str(store)})
    result = subprocess.run([sys.executable, "-m", "pos_app", *words[1:]], input=GOOD_KEY + "\n",
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Stored eguma api_key …7f3a for outlet test-outlet" in result.stdout
    assert stored(store) == {"pos-app test-outlet/eguma/api_key": GOOD_KEY}


def test_every_line_a_person_reads_is_translated(
    memory_keyring: MemoryKeyring, outlet_config: Path, sim: simulator.EgumaSimulator,
    backend_swap: Callable[[keyring.backend.KeyringBackend], None], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In the test-only pseudo language every translated text comes back as ⟦text⟧:
    a line without the marks was not marked for translation."""
    from pos_app import i18n

    i18n.use(i18n.PSEUDO)
    monkeypatch.setattr(keys_cli, "use_outlet_language", lambda config: None)  # stay in the pseudo language
    assert run(["set", "--provider", "eguma", "--config", str(outlet_config)], GOOD_KEY + "\n") == 0
    assert run(["list", "--config", str(outlet_config)]) == 0
    assert run(["delete", "--provider", "eguma", "--config", str(outlet_config)]) == 0
    assert run(["delete", "--provider", "eguma", "--config", str(outlet_config)]) == 1
    backend_swap(keyring.backends.fail.Keyring())
    assert run(["list", "--config", str(outlet_config)]) == 2
    out, err = capsys.readouterr()
    lines = [line for line in (out + err).splitlines() if line.strip()]
    assert len(lines) >= 7
    assert [line for line in lines if i18n.PSEUDO_OPEN not in line] == []
    assert GOOD_KEY not in out + err
