"""Schema migrations, applied in order; ``PRAGMA user_version`` is the index."""

MIGRATIONS: list[str] = [
    # 1: orders, lines, tenders, an append-only event log, receipts
    """
    CREATE TABLE orders (
        id          INTEGER PRIMARY KEY,
        outlet      TEXT NOT NULL,
        till        TEXT NOT NULL,
        currency    TEXT NOT NULL,
        status      TEXT NOT NULL CHECK (status IN ('open', 'closed', 'cancelled')),
        number      INTEGER,
        opened_at   TEXT NOT NULL,
        ended_at    TEXT,
        UNIQUE (outlet, till, number)
    );
    CREATE INDEX orders_open ON orders (outlet, till, status);

    CREATE TABLE lines (
        id          INTEGER PRIMARY KEY,
        order_id    INTEGER NOT NULL REFERENCES orders (id),
        kind        TEXT NOT NULL,
        ean         TEXT NOT NULL,
        name        TEXT NOT NULL,
        quantity    INTEGER NOT NULL CHECK (quantity > 0),
        unit_minor  INTEGER NOT NULL,
        vat_rate    TEXT NOT NULL,
        added_at    TEXT NOT NULL,
        voided_at   TEXT
    );
    CREATE INDEX lines_order ON lines (order_id);

    CREATE TABLE tenders (
        id             INTEGER PRIMARY KEY,
        order_id       INTEGER NOT NULL REFERENCES orders (id),
        kind           TEXT NOT NULL,
        state          TEXT NOT NULL,
        amount_minor   INTEGER NOT NULL,
        given_minor    INTEGER,
        change_minor   INTEGER,
        rounding_minor INTEGER,
        code           TEXT,
        added_at       TEXT NOT NULL,
        voided_at      TEXT
    );
    CREATE INDEX tenders_order ON tenders (order_id);

    CREATE TABLE events (
        id        INTEGER PRIMARY KEY,
        at        TEXT NOT NULL,
        order_id  INTEGER REFERENCES orders (id),
        kind      TEXT NOT NULL,
        detail    TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX events_order ON events (order_id);

    CREATE TABLE receipts (
        id          INTEGER PRIMARY KEY,
        order_id    INTEGER REFERENCES orders (id),
        kind        TEXT NOT NULL,
        text        TEXT NOT NULL,
        escpos      BLOB NOT NULL,
        created_at  TEXT NOT NULL,
        printed_at  TEXT,
        print_error TEXT
    );
    """,
]

MIGRATIONS.append(
    # 2: voucher tenders and provider operations (intent before the request,
    # outcome after it; see DESIGN.md "Journal: write before you send")
    """
    ALTER TABLE tenders ADD COLUMN provider TEXT;
    ALTER TABLE tenders ADD COLUMN token TEXT;
    ALTER TABLE tenders ADD COLUMN balance_after_minor INTEGER;
    ALTER TABLE tenders ADD COLUMN problem TEXT;

    CREATE TABLE provider_ops (
        id                   INTEGER PRIMARY KEY,
        reference            TEXT NOT NULL UNIQUE,
        order_id             INTEGER REFERENCES orders (id),
        tender_id            INTEGER REFERENCES tenders (id),
        line_id              INTEGER REFERENCES lines (id),
        provider             TEXT NOT NULL,
        operation            TEXT NOT NULL,
        code                 TEXT NOT NULL,
        amount_minor         INTEGER,
        currency             TEXT NOT NULL,
        balance_before_minor INTEGER,
        state                TEXT NOT NULL CHECK (state IN ('sent', 'ok', 'failed', 'unknown', 'done', 'not_done')),
        token                TEXT,
        result               TEXT,
        error                TEXT,
        sent_at              TEXT NOT NULL,
        ended_at             TEXT
    );
    CREATE INDEX provider_ops_open ON provider_ops (state);
    CREATE INDEX provider_ops_code ON provider_ops (code);
    """
)

MIGRATIONS.append(
    # 3: selling gift vouchers (activated at close) and voiding a closed sale
    """
    ALTER TABLE lines ADD COLUMN code TEXT;
    ALTER TABLE lines ADD COLUMN provider TEXT;
    ALTER TABLE lines ADD COLUMN free_amount INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE lines ADD COLUMN activated_at TEXT;
    ALTER TABLE lines ADD COLUMN problem TEXT;
    ALTER TABLE orders ADD COLUMN voided_at TEXT;
    ALTER TABLE orders ADD COLUMN void_receipt_id INTEGER REFERENCES receipts (id);
    """
)
