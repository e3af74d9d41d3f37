"""Network printers: raw TCP, port 9100 (JetDirect / "RAW" on Epson, Star, Bixolon...).

Plain sockets rather than ``escpos.printer.Network``: that class turns every
connect error into one ``DeviceNotFoundError`` text, reads status with
``recv`` under its own 60 s default timeout, and its ``paper_status()``
reports "paper adequate" when the printer does not answer at all.
"""

from __future__ import annotations

import errno
import socket
import threading
import time

from drivers.printer.base import PAPER_QUERY, PaperStatus, PrinterError, parse_paper_status
from pos_app.i18n import _


class NetworkPrinter:
    def __init__(self, host: str, port: int = 9100, timeout_s: float = 5.0,
                 status_timeout_s: float = 1.0) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self.status_timeout_s = status_timeout_s
        self.description = _("network {host}:{port}").format(host=host, port=port)
        self._lock = threading.Lock()  # one connection at a time: many printers accept only one

    @property
    def _where(self) -> str:
        return _("printer at {host}:{port}").format(host=self.host, port=self.port)

    def _connect(self, timeout: float) -> socket.socket:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
        except ConnectionRefusedError:
            raise PrinterError(_('{where} refused the connection: is it switched on, and is {port} its raw printing port?').format(where=self._where, port=self.port)) from None
        except TimeoutError:
            raise PrinterError(_('{where} did not answer within {timeout:g} s: is it switched on and on the network?').format(where=self._where, timeout=timeout)) from None
        except socket.gaierror as exc:
            raise PrinterError(_('printer host {host!r} not found ({strerror}): check [printer] host').format(host=self.host, strerror=exc.strerror)) from None
        except OSError as exc:
            if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN):
                raise PrinterError(_('{where} is unreachable: check the cable and network settings').format(where=self._where)) from None
            raise PrinterError(_('cannot connect to {where}: {strerror}').format(where=self._where, strerror=exc.strerror or exc)) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def send(self, data: bytes) -> None:
        """One connection, one ``sendall`` of the whole receipt, within ``timeout_s`` in all."""
        with self._lock:
            deadline = time.monotonic() + self.timeout_s
            sock = self._connect(self.timeout_s)
            try:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                sock.sendall(data)
            except TimeoutError:
                raise PrinterError(_('{where} did not take the receipt within {timeout_s:g} s: paper out, cover open or busy? It may have printed part of it').format(where=self._where, timeout_s=self.timeout_s)) from None
            except (BrokenPipeError, ConnectionResetError):
                raise PrinterError(_('{where} closed the connection while the receipt was being sent: it may have printed part of it').format(where=self._where)) from None
            except OSError as exc:
                raise PrinterError(_('sending to {where} failed: {strerror}').format(where=self._where, strerror=exc.strerror or exc)) from None
            finally:
                sock.close()

    def paper_status(self) -> PaperStatus:
        """Ask the paper sensor (``DLE EOT 4``); silence within ``status_timeout_s`` is OUT_OR_NO_ANSWER."""
        with self._lock:
            sock = self._connect(self.timeout_s)
            try:
                sock.settimeout(self.status_timeout_s)
                sock.sendall(PAPER_QUERY)
                answer = sock.recv(16)
            except TimeoutError:
                return PaperStatus.OUT_OR_NO_ANSWER
            except OSError as exc:
                raise PrinterError(_('status query to {where} failed: {strerror}').format(where=self._where, strerror=exc.strerror or exc)) from None
            finally:
                sock.close()
        return parse_paper_status(answer)
