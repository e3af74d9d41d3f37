"""The Textual cashier interface."""
