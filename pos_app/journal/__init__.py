"""The journal of every money movement: one store interface (``api``), SQLite for one till
(``store``); every till of a shop on one PostgreSQL server (``postgres``), forwarded
from the till's own SQLite journal (``forward``)."""

from pos_app.journal.api import JournalStore
from pos_app.journal.records import (
    ClosedOrder,
    DayCloseRefused,
    JournalBehindError,
    JournalError,
    JournalWriteError,
    OpRecord,
    OpState,
    ReceiptRecord,
    ReportRecord,
    StoreZRecord,
)
from pos_app.journal.store import Journal

__all__ = ["ClosedOrder", "DayCloseRefused", "Journal", "JournalBehindError", "JournalError", "JournalStore",
           "JournalWriteError", "OpRecord", "OpState", "ReceiptRecord", "ReportRecord", "StoreZRecord"]
