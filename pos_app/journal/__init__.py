"""The local SQLite journal of every money movement."""

from pos_app.journal.store import Journal, JournalError, OpRecord, OpState, ReceiptRecord

__all__ = ["Journal", "JournalError", "OpRecord", "OpState", "ReceiptRecord"]
