"""Hardware adapters (printers, scanners, cash drawer). No UI imports."""
