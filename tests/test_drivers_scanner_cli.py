"""``pos scanner test``: serial port, keyboard on a terminal (cbreak), keyboard from a pipe."""

from __future__ import annotations

import io
import os
import termios
import threading
import time
from pathlib import Path

from drivers.scanner.cli import scanner_test
from tests.fakes_hw import Pty, wait_for


def test_keyboard_line_mode_shows_raw_and_normalised() -> None:
    lines: list[str] = []
    stdin = io.StringIO("7610000000011\n l4fu-5lqt \n]C1123456\nà&é\"\n")
    assert scanner_test("keyboard", out=lines.append, stdin=stdin, prefix="]C1") == 0
    assert lines == [
        "line mode (stdin is not a terminal): one scan per line, no timing",
        "scan      raw='7610000000011\\n'  normalised='7610000000011'",
        "scan      raw=' l4fu-5lqt \\n'  normalised='L4FU-5LQT'",
        "scan      raw=']C1123456\\n'  normalised='123456'",
        "scan      raw='à&é\"\\n'  normalised='0123'  (undid azerty layout)",
        "hint      scanner is set to AZERTY — set it to QWERTZ/QWERTY (see the scanner's manual, "
        "keyboard country)",
    ]


def test_keyboard_on_a_terminal_uses_timing() -> None:
    pty = Pty()
    termios_before = termios.tcgetattr(pty.slave)
    stdin = os.fdopen(os.dup(pty.slave), "r")
    lines: list[str] = []

    def device() -> None:
        assert wait_for(lambda: len(lines) >= 1)
        time.sleep(0.05)
        pty.write(b"7610000000011\r")  # a scanner: everything at once
        time.sleep(0.2)
        for key in b"ab":  # a person
            pty.write(bytes([key]))
            time.sleep(0.15)
        pty.write(b"\x04")

    thread = threading.Thread(target=device)
    thread.start()
    try:
        assert scanner_test("keyboard", out=lines.append, stdin=stdin, seconds=5) == 0
    finally:
        thread.join(5)
        assert termios.tcgetattr(pty.slave) == termios_before  # the terminal is restored
        stdin.close()
        pty.close()
    assert lines == [
        "keyboard mode: scan some codes, or type to compare; Ctrl-D or Escape ends",
        "scan      raw='7610000000011\\r'  normalised='7610000000011'",
        "typed     'a'",
        "typed     'b'",
    ]


def test_serial_shows_status_scans_and_rejects(tmp_path: Path) -> None:
    pty = Pty()
    lines: list[str] = []

    def device() -> None:
        assert wait_for(lambda: any("connected" in line for line in lines))
        pty.write(b"4006381333931\r\n\xff\xfe\r")

    thread = threading.Thread(target=device)
    thread.start()
    try:
        code = scanner_test("serial", out=lines.append, port=pty.path, max_scans=2, seconds=5,
                            baudrate=9600)
    finally:
        thread.join(5)
        pty.close()
    assert code == 0
    assert lines[:4] == [
        f"reading {pty.path}; scan some codes, Ctrl-C to end",
        f"status    scanner connected on {pty.path}",
        "scan      raw='4006381333931\\r'  normalised='4006381333931'",
        "rejected  bytes=b'\\xff\\xfe\\r'  reason: not readable text (check the scanner's baud rate, "
        "parity and bytesize)",
    ]


def test_bad_kind_and_missing_port() -> None:
    lines: list[str] = []
    assert scanner_test("bluetooth", out=lines.append) == 2
    assert scanner_test("serial", out=lines.append) == 2
    assert scanner_test("serial", out=lines.append, port="/dev/null", parity="Q") == 2
    assert lines == [
        "unknown scanner kind 'bluetooth': use \"keyboard\" or \"serial\"",
        "a serial scanner needs a port, e.g. /dev/ttyACM0 or /dev/serial/by-id/...",
        "bad scanner setting: parity must be one of N, E, O, M, S, got 'Q'",
    ]
