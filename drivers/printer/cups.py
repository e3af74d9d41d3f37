"""CUPS queues, through the ``lp`` command as a raw job.

Not ``escpos.printer.CupsPrinter``: it needs pycups (a C extension that
needs libcups headers to build) and its calls have no timeout. ``lp``
ships with every CUPS client, and a subprocess can be given a time limit.
"""

from __future__ import annotations

import subprocess
import threading

from drivers.printer.base import PrinterError
from pos_app.i18n import _


class CupsPrinter:
    def __init__(self, queue: str, *, host: str | None = None, timeout_s: float = 10.0,
                 lp_command: str = "lp") -> None:
        self.queue = queue
        self.host = host
        self.timeout_s = timeout_s
        self.lp_command = lp_command
        self.description = _("cups queue {queue} on {host}").format(queue=queue, host=host) if host else \
            _("cups queue {queue}").format(queue=queue)
        self._lock = threading.Lock()

    def send(self, data: bytes) -> None:
        """One raw job with the whole receipt; CUPS must accept it within ``timeout_s``."""
        command = [self.lp_command, "-d", self.queue, "-o", "raw", "-t", "receipt"]
        if self.host:
            command += ["-h", self.host]
        with self._lock:
            try:
                done = subprocess.run(command, input=data, capture_output=True,
                                      timeout=self.timeout_s, check=False)
            except FileNotFoundError:
                raise PrinterError(_('the CUPS command {lp_command!r} is not installed (apt install cups-client)').format(lp_command=self.lp_command)) from None
            except subprocess.TimeoutExpired:
                raise PrinterError(_('CUPS did not accept the receipt within {timeout_s:g} s: is the CUPS server running?').format(timeout_s=self.timeout_s)) from None
            except OSError as exc:
                raise PrinterError(_('cannot run {lp_command!r}: {strerror}').format(lp_command=self.lp_command, strerror=exc.strerror or exc)) from None
        if done.returncode != 0:
            said = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
            detail = said[-1] if said else f"exit status {done.returncode}"
            raise PrinterError(_('CUPS refused the receipt for queue {queue!r}: {detail}').format(queue=self.queue, detail=detail))
