"""pyserial settings shared by serial scanners and serial printers."""

from __future__ import annotations

import serial

PARITIES = {"N": serial.PARITY_NONE, "E": serial.PARITY_EVEN, "O": serial.PARITY_ODD,
            "M": serial.PARITY_MARK, "S": serial.PARITY_SPACE}
BYTESIZES = {5: serial.FIVEBITS, 6: serial.SIXBITS, 7: serial.SEVENBITS, 8: serial.EIGHTBITS}
STOPBITS = {1: serial.STOPBITS_ONE, 1.5: serial.STOPBITS_ONE_POINT_FIVE, 2: serial.STOPBITS_TWO}


def serial_settings(baudrate: int, bytesize: int, parity: str, stopbits: float) -> dict[str, object]:
    """pyserial keyword arguments, or ValueError naming the bad setting."""
    if baudrate <= 0:
        raise ValueError(f"baudrate must be positive, got {baudrate}")
    if bytesize not in BYTESIZES:
        raise ValueError(f"bytesize must be one of 5, 6, 7, 8, got {bytesize!r}")
    if parity.upper() not in PARITIES:
        raise ValueError(f"parity must be one of N, E, O, M, S, got {parity!r}")
    if stopbits not in STOPBITS:
        raise ValueError(f"stopbits must be 1, 1.5 or 2, got {stopbits!r}")
    return {"baudrate": baudrate, "bytesize": BYTESIZES[bytesize],
            "parity": PARITIES[parity.upper()], "stopbits": STOPBITS[stopbits]}
