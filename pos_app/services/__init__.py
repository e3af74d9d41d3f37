"""Use cases the UI calls. No Textual here."""
