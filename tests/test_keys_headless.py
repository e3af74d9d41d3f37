"""A headless Linux till: the encrypted file keyring of keyrings.cryptfile, for real.

Each test runs ``pos keys ...`` or the till's start in a subprocess with its
own data folder (``XDG_DATA_HOME``), no D-Bus session (so no Secret Service)
and no PYTHON_KEYRING_BACKEND: keyring's own choice is used, as on a fresh
till with ``pip install 'pos-app[headless]'``. The keyring password comes
from a file (``POS_KEYRING_PASSWORD_FILE``), from a systemd credential
(``$CREDENTIALS_DIRECTORY``), or is typed on a pseudo-terminal.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import keyring
import pytest

from pos_app import secrets
from pos_app.config import PROJECT_ROOT, load_config
from pos_app.services.providers import build_providers

pytest.importorskip("keyrings.cryptfile", reason="the headless extra (keyrings.cryptfile) is not installed: "
                    "pip install -e '.[headless]'")

API_KEY = "headless-api-key-5e7b"
PASSWORD = "till-keyring-pw-42"
KEYRING_FILE = ("python_keyring", "cryptfile_pass.cfg")


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """An outlet whose E-GUMA cannot be reached (keys are stored with --no-check)."""
    config = tmp_path / "shop.toml"
    config.write_text(textwrap.dedent(f"""\
        receipts = "{(PROJECT_ROOT / 'receipts').as_posix()}"
        [outlet]
        id = "shop-1"
        name = "Shop"
        till = "1"
        currency = "CHF"
        [catalog]
        path = "{(PROJECT_ROOT / 'config' / 'demo_catalog.toml').as_posix()}"
        [printer]
        kind = "dummy"
        [providers.eguma]
        base_url = "http://127.0.0.1:9"
        timeout_s = 1
        """), encoding="utf-8")
    return config


def child_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHON_KEYRING_BACKEND", secrets.PASSWORD_FILE_ENV, "CREDENTIALS_DIRECTORY", "POS_CONFIG")}
    env.update({"PYTHONPATH": str(PROJECT_ROOT), "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
                "XDG_CONFIG_HOME": str(tmp_path / "config"),  # no keyringrc.cfg of the developer
                "DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent",  # no Secret Service, as on a till
                "POS_DATA_DIR": str(tmp_path / "pos"), "TERM": "xterm-256color",
                "COLUMNS": "500"})  # explanations on one line each, as the assertions read them
    env.update(extra)
    return env


def test_an_explanation_is_folded_at_word_breaks_to_the_terminal(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A terminal breaks a long line mid-word ("u m", "Sta rt"): the till folds it first."""
    monkeypatch.setenv("COLUMNS", "60")
    path = "/home/till/.local/share/python_keyring/cryptfile_pass.cfg"
    secrets._tell(f"The provider keys are kept in an encrypted keyring file ({path}); its password is "
                  "needed to read the provider key shop-1/eguma/api_key at every start.")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) > 1 and all(len(line) <= 59 or path in line for line in lines)
    assert " ".join(lines).count("every start.") == 1 and f"({path});" in lines[1]


def password_file(tmp_path: Path, text: str = PASSWORD + "\n", mode: int = 0o600) -> Path:
    path = tmp_path / "keyring-password"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def pos(env: dict[str, str], *argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``pos ARGV`` without a terminal (a new session: no controlling terminal either)."""
    return subprocess.run([sys.executable, "-m", "pos_app", *argv], input=stdin, capture_output=True, text=True,
                          env=env, cwd=PROJECT_ROOT, timeout=120, start_new_session=True)


def keyring_path(tmp_path: Path) -> Path:
    return tmp_path.joinpath("data", *KEYRING_FILE)


def on_terminal(argv: list[str], env: dict[str, str], steps: list[tuple[str, str, float]],
                timeout: float = 60) -> tuple[int, str]:
    """Run ARGV on a pseudo-terminal: for each (text, answer, wait), wait until the
    output shows ``text`` (after what the step before waited for), then ``wait``
    seconds, then type ``answer``. The exit code and everything the terminal showed."""
    main, terminal = pty.openpty()
    proc = subprocess.Popen(argv, stdin=terminal, stdout=terminal, stderr=terminal, env=env, cwd=PROJECT_ROOT,
                            start_new_session=True)  # no controlling terminal of the test runner's
    os.close(terminal)
    shown = b""
    start = 0  # where the next text is looked for

    def read(until: str | None) -> None:
        nonlocal shown, start
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            at = shown.find(until.encode(), start) if until is not None else -1
            if at >= 0:
                start = at + len(until.encode())  # type: ignore[union-attr]
                return
            ready, _, _ = select.select([main], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(main, 4096)
                except OSError:  # the child closed the terminal
                    chunk = b""
                if not chunk:
                    break
                shown += chunk
        if until is not None:
            proc.kill()
            raise AssertionError(f"{until!r} not shown; the terminal showed: {shown.decode(errors='replace')}")

    try:
        for text, answer, wait in steps:
            read(text)
            time.sleep(wait)
            os.write(main, answer.encode())
        read(None)
        code = proc.wait(timeout=timeout)
    finally:
        os.close(main)
        if proc.poll() is None:
            proc.kill()
    return code, shown.decode(errors="replace").replace("\r\n", "\n")


def stored_key(tmp_path: Path, config: Path) -> None:
    """Store API_KEY with the password file, as a script would."""
    env = child_env(tmp_path, **{secrets.PASSWORD_FILE_ENV: str(password_file(tmp_path))})
    done = pos(env, "--config", str(config), "keys", "set", "--provider", "eguma", "--no-check",
               stdin=API_KEY + "\n")
    assert done.returncode == 0, done.stderr


# -- unattended: a password file, a systemd credential --------------------------------------
def test_set_and_list_with_a_password_file_keep_the_key_encrypted(tmp_path: Path, shop: Path) -> None:
    env = child_env(tmp_path, **{secrets.PASSWORD_FILE_ENV: str(password_file(tmp_path))})
    done = pos(env, "--config", str(shop), "keys", "set", "--provider", "eguma", "--no-check",
               stdin=API_KEY + "\n")
    assert done.returncode == 0, done.stderr
    path = keyring_path(tmp_path)
    assert f"Stored eguma api_key …5e7b for outlet shop-1 in {secrets.HEADLESS_BACKEND} (file {path})." in done.stdout
    # encrypted at rest, readable by the till's user only
    data = path.read_bytes()
    assert b"[Argon2] AES128.GCM" in data
    assert API_KEY.encode() not in data and PASSWORD.encode() not in data and b"5e7b" not in data
    assert path.stat().st_mode & 0o077 == 0

    listed = pos(env, "--config", str(shop), "keys", "list")
    assert listed.returncode == 0, listed.stderr
    assert f"Keyring backend: {secrets.HEADLESS_BACKEND} (file {path})" in listed.stdout
    assert "set …5e7b" in listed.stdout
    for result in (done, listed):
        assert API_KEY not in result.stdout + result.stderr and PASSWORD not in result.stdout + result.stderr
        assert "password" not in result.stderr.lower()  # nothing was asked


def test_the_till_reads_the_key_with_a_systemd_credential(tmp_path: Path, shop: Path) -> None:
    stored_key(tmp_path, shop)
    credentials = tmp_path / "credentials"  # what systemd makes of LoadCredential(Encrypted)=pos-keyring:...
    credentials.mkdir(mode=0o700)
    (credentials / secrets.CREDENTIAL).write_text(PASSWORD, encoding="utf-8")  # systemd-creds: no newline
    script = ("import pathlib, sys; from pos_app.config import load_config; "
              "from pos_app.services.providers import build_providers; "
              "slot = build_providers(load_config(pathlib.Path(sys.argv[1])))['eguma']; "
              "print('ready' if slot.client is not None else slot.problem)")
    done = subprocess.run([sys.executable, "-c", script, str(shop)], capture_output=True, text=True, timeout=120,
                          env=child_env(tmp_path, CREDENTIALS_DIRECTORY=str(credentials)), cwd=PROJECT_ROOT,
                          start_new_session=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ready"
    assert done.stderr == ""  # no prompt, no explanation: nobody is there
    assert PASSWORD not in done.stdout + done.stderr and API_KEY not in done.stdout + done.stderr


def test_a_password_file_others_can_read_is_refused_with_the_fix(tmp_path: Path, shop: Path) -> None:
    stored_key(tmp_path, shop)
    loose = password_file(tmp_path, mode=0o644)
    done = pos(child_env(tmp_path, **{secrets.PASSWORD_FILE_ENV: str(loose)}), "--config", str(shop), "keys", "list")
    assert done.returncode == 1
    assert done.stderr == (f"pos keys: {loose} can be read by other users (mode 644): the keyring password must be "
                           f"readable by the till's user only. Run `chmod 600 {loose}`\n")


def test_a_wrong_password_in_the_file_is_said_without_it(tmp_path: Path, shop: Path) -> None:
    stored_key(tmp_path, shop)
    wrong = password_file(tmp_path, "not-the-password\n")
    done = pos(child_env(tmp_path, **{secrets.PASSWORD_FILE_ENV: str(wrong)}), "--config", str(shop), "keys", "list")
    assert done.returncode == 1
    assert done.stderr == f"pos keys: the keyring password from {wrong} does not open {keyring_path(tmp_path)}\n"
    assert "not-the-password" not in done.stdout + done.stderr


def test_without_a_terminal_or_a_password_it_says_how_to_give_one(tmp_path: Path, shop: Path) -> None:
    stored_key(tmp_path, shop)
    done = pos(child_env(tmp_path), "--config", str(shop), "keys", "list")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert f"the keyring {keyring_path(tmp_path)} needs its password and there is no terminal" in done.stderr
    assert secrets.CREDENTIAL in done.stderr and secrets.PASSWORD_FILE_ENV in done.stderr


def test_no_keyring_file_yet_means_no_key_and_no_question(tmp_path: Path, shop: Path) -> None:
    done = pos(child_env(tmp_path), "--config", str(shop), "keys", "list")
    assert done.returncode == 0, done.stderr
    assert "eguma    api_key        not set" in done.stdout
    assert not keyring_path(tmp_path).exists() and done.stderr == ""


# -- attended: typed at the terminal ------------------------------------------------------------
def test_the_first_set_chooses_the_password_and_says_the_till_will_ask(tmp_path: Path, shop: Path) -> None:
    code, shown = on_terminal(
        [sys.executable, "-m", "pos_app", "--config", str(shop), "keys", "set", "--provider", "eguma", "--no-check"],
        child_env(tmp_path),
        [("New keyring password (input hidden): ", PASSWORD + "\n", 0),
         ("The same password again: ", PASSWORD + "\n", 0),
         ("eguma api_key for outlet shop-1 (input hidden): ", API_KEY + "\n", 0)])
    assert code == 0, shown
    explained = shown.index("choose a password for the new encrypted keyring file")
    assert explained < shown.index("New keyring password")
    assert "The till will ask for it at every start, before its screen appears" in shown
    assert "Stored eguma api_key …5e7b" in shown
    assert PASSWORD not in shown and API_KEY not in shown  # no echo
    assert API_KEY.encode() not in keyring_path(tmp_path).read_bytes()


def test_a_person_typing_slowly_is_not_timed_out(tmp_path: Path, shop: Path) -> None:
    """The keyring timeout (here 0.3 s) guards the backend, not the person at the prompt."""
    stored_key(tmp_path, shop)
    script = ("import sys; from pos_app import secrets; secrets.TIMEOUT_S = 0.3; "
              "from pos_app.keys_cli import main; sys.exit(main(sys.argv[1:]))")
    code, shown = on_terminal(
        [sys.executable, "-c", script, "list", "--config", str(shop)], child_env(tmp_path),
        [("Keyring password (input hidden", "wrong-one\n", 1.0),  # well past the timeout
         ("Keyring password (input hidden", PASSWORD + "\n", 1.0)])
    assert code == 0, shown
    assert "set …5e7b" in shown
    assert "did not answer" not in shown and PASSWORD not in shown and "wrong-one" not in shown


def test_the_till_says_what_the_password_is_for_before_it_asks(tmp_path: Path, shop: Path) -> None:
    """The till's start (providers built on the main thread, before the screen): the
    explanation, then the prompt; Enter alone starts without the provider, asked once."""
    stored_key(tmp_path, shop)
    script = ("import pathlib, sys; from pos_app.config import load_config; "
              "from pos_app.services.providers import build_providers; "
              "config = load_config(pathlib.Path(sys.argv[1])); "
              "print('SLOT', build_providers(config)['eguma'].problem or 'ready'); "
              "print('AGAIN', build_providers(config)['eguma'].problem or 'ready')")
    argv = [sys.executable, "-c", script, str(shop)]
    code, shown = on_terminal(argv, child_env(tmp_path), [("Keyring password (input hidden", PASSWORD + "\n", 0)])
    assert code == 0, shown
    path = keyring_path(tmp_path)
    said = (f"The provider keys are kept in an encrypted keyring file ({path}); its password is needed to read "
            "the provider key shop-1/eguma/api_key. The till asks for it at every start, before its screen "
            "appears, unless it is given unattended")
    assert said in " ".join(shown.split())
    assert shown.index("encrypted keyring file") < shown.index("Keyring password (input hidden")
    assert "SLOT ready" in shown and "AGAIN ready" in shown and shown.count("Keyring password (") == 1
    assert PASSWORD not in shown and API_KEY not in shown

    code, shown = on_terminal(argv, child_env(tmp_path), [("Keyring password (input hidden", "\n", 0)])
    assert code == 0, shown
    assert "SLOT E-GUMA disabled: the keyring password was not typed" in shown
    assert "AGAIN E-GUMA disabled: the keyring password was not given at start" in shown
    assert shown.count("Keyring password (") == 1  # not asked again for the next key or a reload


def test_three_wrong_passwords_stop_without_the_keys(tmp_path: Path, shop: Path) -> None:
    stored_key(tmp_path, shop)
    code, shown = on_terminal(
        [sys.executable, "-m", "pos_app", "--config", str(shop), "keys", "list"], child_env(tmp_path),
        [("Keyring password (input hidden", "wrong-1\n", 0), ("Keyring password (input hidden", "wrong-2\n", 0),
         ("Keyring password (input hidden", "wrong-3\n", 0)])
    assert code == 1, shown
    assert shown.count("Keyring password (") == 3 and shown.count("Wrong password for") == 2
    assert f"pos keys: the keyring password was wrong 3 times, so the keys in {keyring_path(tmp_path)} were " \
           "not read" in shown
    assert "wrong-" not in shown and "…5e7b" not in shown


TILL = """
import json, sys
import textual.app

def run(self, *args, headless=False, **kwargs):
    async def auto_pilot(pilot):
        await pilot.pause(0.1)
        slots = pilot.app.till.providers
        seen["ready"] = {name: slot.client is not None for name, slot in slots.items()}
        pilot.app.exit()
    return original(self, headless=True, size=(100, 30), auto_pilot=auto_pilot)

seen = {}
original = textual.app.App.run
textual.app.App.run = run
from pos_app import cli
seen["code"] = cli.main(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    json.dump(seen, out)
"""


def test_pos_asks_at_the_terminal_then_starts_with_the_key(tmp_path: Path, shop: Path) -> None:
    """`pos --config shop.toml` on a terminal: explanation, prompt, then the till's screen
    with E-GUMA in use (Textual runs headless once the app starts)."""
    stored_key(tmp_path, shop)
    result = tmp_path / "seen.json"
    code, shown = on_terminal([sys.executable, "-c", TILL, str(result), "--config", str(shop)], child_env(tmp_path),
                              [("Keyring password (input hidden", PASSWORD + "\n", 0)])
    assert code == 0, shown
    assert json.loads(result.read_text(encoding="utf-8")) == {"ready": {"eguma": True}, "code": 0}
    assert shown.index("its password is needed to read the provider key shop-1/eguma/api_key") < shown.index(
        "Keyring password (input hidden")
    assert PASSWORD not in shown and API_KEY not in shown


# -- in this process: the chain, a reload from a worker thread -------------------------------------
@pytest.fixture
def cryptfile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> keyring.backend.KeyringBackend:
    from keyrings.cryptfile.cryptfile import CryptFileKeyring

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    for name in (secrets.PASSWORD_FILE_ENV, "CREDENTIALS_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(secrets, "_declined", False)
    previous = keyring.get_keyring()
    backend = CryptFileKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def test_a_wrong_password_is_not_kept_and_the_right_one_opens(
    cryptfile: keyring.backend.KeyringBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(secrets.PASSWORD_FILE_ENV, str(password_file(tmp_path)))
    secrets.set_secret("shop-1", "eguma", "api_key", API_KEY)
    cryptfile._keyring_key = None  # a new start
    monkeypatch.setenv(secrets.PASSWORD_FILE_ENV, str(password_file(tmp_path, "nope\n")))
    with pytest.raises(secrets.SecretsError, match="does not open") as caught:
        secrets.get_secret("shop-1", "eguma", "api_key")
    assert "nope" not in str(caught.value) and caught.value.__context__ is None
    assert cryptfile._keyring_key is None  # keyrings.cryptfile would have kept "nope"
    monkeypatch.setenv(secrets.PASSWORD_FILE_ENV, str(password_file(tmp_path)))
    assert secrets.get_secret("shop-1", "eguma", "api_key") == API_KEY


def test_a_reload_from_the_running_till_never_prompts(
    cryptfile: keyring.backend.KeyringBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    write_config: object,
) -> None:
    monkeypatch.setenv(secrets.PASSWORD_FILE_ENV, str(password_file(tmp_path)))
    secrets.set_secret("test-outlet", "eguma", "api_key", API_KEY)
    cryptfile._keyring_key = None
    monkeypatch.delenv(secrets.PASSWORD_FILE_ENV)

    def no_prompt(prompt: str = "") -> str:
        raise AssertionError("asked for a password on a worker thread")

    monkeypatch.setattr(secrets.getpass, "getpass", no_prompt)
    config = load_config(write_config('[providers.eguma]\nbase_url = "http://127.0.0.1:9"\n'))  # type: ignore[operator]
    slots: dict[str, object] = {}
    worker = threading.Thread(target=lambda: slots.update(build_providers(config)))  # as F12 k does
    worker.start()
    worker.join(120)
    slot = slots["eguma"]
    assert slot.client is None  # type: ignore[attr-defined]
    assert "needs its password and there is no terminal" in slot.problem  # type: ignore[attr-defined]


def test_plaintext_members_of_keyrings_chain_are_left_out(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """keyring chains keyrings.cryptfile's plaintext backends to its encrypted one: only the
    encrypted one is used (a chain would read a plaintext file as a fallback)."""
    from keyring.backends.chainer import ChainerBackend
    from keyrings.cryptfile.cryptfile import CryptFileKeyring
    from keyrings.cryptfile.file import PlaintextKeyring

    encrypted, plain = CryptFileKeyring(), PlaintextKeyring()
    monkeypatch.setattr(ChainerBackend, "backends", [encrypted, plain])
    previous = keyring.get_keyring()
    keyring.set_keyring(ChainerBackend())
    try:
        assert secrets.check_backend() is encrypted
        assert secrets.backend_name() == f"{secrets.HEADLESS_BACKEND} (file {encrypted.file_path})"
        monkeypatch.setattr(ChainerBackend, "backends", [PlaintextKeyring(), plain])
        with pytest.raises(secrets.NoBackendError, match="stores secrets unencrypted on disk"):
            secrets.check_backend()
    finally:
        keyring.set_keyring(previous)


def test_the_no_backend_fix_is_one_command_for_this_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    command = secrets.install_command()
    assert command.startswith(sys.executable) and "'keyrings.cryptfile>=1.3.9,<1.4'" in command
    assert secrets.no_backend_help() == f"install the encrypted file keyring with `{command}`"
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.EncryptedKeyring")
    assert f"PYTHON_KEYRING_BACKEND={secrets.HEADLESS_BACKEND} (or unset it)" in secrets.no_backend_help()
