"""Schema migrations, applied in order; ``PRAGMA user_version`` is the index.

The same list builds the PostgreSQL journal (``pos_app.journal.postgres``,
where a ``schema_version`` table is the index): write a migration once, in
the SQL both speak. ``postgres.pg_ddl`` translates only ``INTEGER PRIMARY
KEY`` (an identity column), ``INTEGER`` (BIGINT), ``BLOB`` (BYTEA) and
``json_object(`` (``json_build_object(``); anything else SQLite-only (PRAGMA,
``strftime``, ``INDEXED BY`` in a migration) must not appear, or the
migration gets its PostgreSQL statements in ``postgres.PG_MIGRATIONS`` (a
trigger, say). The tests run every migration on a real server
(tests/test_journal_backends.py).
"""

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

MIGRATIONS.append(
    # 4: the provider-neutral money-movement core (issue 10).
    # * provider_ops: neutral operation names; outlet and till on every row; our
    #   reference unique per till; provider references, the request and the state
    #   read just before the send as JSON; when a lost answer may be decided
    #   "did not happen" (settle_by); a flag for contradicting answers.
    # * tenders and lines: provider references as a JSON mapping (no "token").
    # * sequences: order numbers and references are counted per till, not MAX(id)+1.
    # * events and receipts carry outlet and till, so every query is scoped.
    """
    CREATE TABLE sequences (
        outlet  TEXT NOT NULL,
        till    TEXT NOT NULL,
        name    TEXT NOT NULL,
        value   INTEGER NOT NULL,
        PRIMARY KEY (outlet, till, name)
    );
    INSERT INTO sequences (outlet, till, name, value)
        SELECT outlet, till, 'order_number', MAX(number) FROM orders
        WHERE number IS NOT NULL GROUP BY outlet, till;

    CREATE TABLE provider_ops_v4 (
        id            INTEGER PRIMARY KEY,
        outlet        TEXT NOT NULL,
        till          TEXT NOT NULL,
        reference     TEXT NOT NULL,
        order_id      INTEGER REFERENCES orders (id),
        tender_id     INTEGER REFERENCES tenders (id),
        line_id       INTEGER REFERENCES lines (id),
        provider      TEXT NOT NULL,
        operation     TEXT NOT NULL CHECK (operation IN ('authorize', 'capture', 'void', 'refund', 'create', 'undo')),
        code          TEXT NOT NULL,
        amount_minor  INTEGER,
        currency      TEXT NOT NULL,
        request       TEXT NOT NULL DEFAULT '{}',
        before        TEXT,
        before_at     TEXT,
        state         TEXT NOT NULL CHECK (state IN ('sent', 'ok', 'failed', 'unknown', 'done', 'not_done')),
        refs          TEXT NOT NULL DEFAULT '{}',
        result        TEXT,
        error         TEXT,
        flag          TEXT,
        settle_by     TEXT,
        checks        INTEGER NOT NULL DEFAULT 0,
        checked_at    TEXT,
        sent_at       TEXT NOT NULL,
        ended_at      TEXT,
        UNIQUE (outlet, till, reference)
    );
    INSERT INTO provider_ops_v4 (id, outlet, till, reference, order_id, tender_id, line_id, provider,
            operation, code, amount_minor, currency, request, before, state, refs, result, error,
            sent_at, ended_at)
        SELECT p.id,
            COALESCE(o.outlet, (SELECT outlet FROM orders ORDER BY id DESC LIMIT 1), ''),
            COALESCE(o.till, (SELECT till FROM orders ORDER BY id DESC LIMIT 1), ''),
            p.reference, p.order_id, p.tender_id, p.line_id, p.provider,
            CASE p.operation WHEN 'redeem' THEN 'authorize' WHEN 'cancel' THEN 'void'
                             WHEN 'activate' THEN 'create' WHEN 'deactivate' THEN 'undo'
                             ELSE p.operation END,
            p.code, p.amount_minor, p.currency, '{}',
            CASE WHEN p.balance_before_minor IS NULL THEN NULL
                 ELSE json_object('balance', p.balance_before_minor) END,
            p.state,
            CASE WHEN p.token IS NULL THEN '{}' ELSE json_object('redeem_token', p.token) END,
            p.result, p.error, p.sent_at, p.ended_at
        FROM provider_ops p LEFT JOIN orders o ON o.id = p.order_id;
    DROP TABLE provider_ops;
    ALTER TABLE provider_ops_v4 RENAME TO provider_ops;
    CREATE INDEX provider_ops_open ON provider_ops (outlet, till, state);
    CREATE INDEX provider_ops_code ON provider_ops (code);
    CREATE INDEX provider_ops_order ON provider_ops (order_id);
    INSERT INTO sequences (outlet, till, name, value)
        SELECT outlet, till, 'reference', MAX(id) FROM provider_ops GROUP BY outlet, till;

    ALTER TABLE tenders ADD COLUMN refs TEXT NOT NULL DEFAULT '{}';
    UPDATE tenders SET refs = json_object('redeem_token', token) WHERE token IS NOT NULL;
    ALTER TABLE tenders DROP COLUMN token;

    ALTER TABLE lines ADD COLUMN refs TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE lines ADD COLUMN undone_at TEXT;
    UPDATE lines SET undone_at = (SELECT COALESCE(MAX(p.ended_at), MAX(p.sent_at)) FROM provider_ops p
        WHERE p.line_id = lines.id AND p.operation = 'undo' AND p.state IN ('ok', 'done'))
        WHERE id IN (SELECT line_id FROM provider_ops WHERE operation = 'undo' AND state IN ('ok', 'done'));

    ALTER TABLE events ADD COLUMN outlet TEXT;
    ALTER TABLE events ADD COLUMN till TEXT;
    UPDATE events SET outlet = (SELECT outlet FROM orders WHERE orders.id = events.order_id),
                      till = (SELECT till FROM orders WHERE orders.id = events.order_id);
    UPDATE events SET outlet = (SELECT outlet FROM orders ORDER BY id DESC LIMIT 1),
                      till = (SELECT till FROM orders ORDER BY id DESC LIMIT 1)
        WHERE outlet IS NULL;
    CREATE INDEX events_till ON events (outlet, till);

    ALTER TABLE receipts ADD COLUMN outlet TEXT;
    ALTER TABLE receipts ADD COLUMN till TEXT;
    UPDATE receipts SET outlet = (SELECT outlet FROM orders WHERE orders.id = receipts.order_id),
                        till = (SELECT till FROM orders WHERE orders.id = receipts.order_id);
    UPDATE receipts SET outlet = (SELECT outlet FROM orders ORDER BY id DESC LIMIT 1),
                        till = (SELECT till FROM orders ORDER BY id DESC LIMIT 1)
        WHERE outlet IS NULL;
    CREATE INDEX receipts_till ON receipts (outlet, till, printed_at);
    """
)

MIGRATIONS.append(
    # 5: the receipts not printed yet are found through a partial index (at every
    # start and F7) that holds only them; the last receipt through (outlet, till, id).
    """
    DROP INDEX receipts_till;
    CREATE INDEX receipts_unprinted ON receipts (outlet, till, id) WHERE printed_at IS NULL;
    CREATE INDEX receipts_last ON receipts (outlet, till, id)
    """
)

MIGRATIONS.append(
    # 6: what the customer gave for a digital voucher bought at close (CSQ: the
    # account or e-mail a product needs), kept with its line: the purchase sends it
    # (and a replay sends it again), the receipt and a revert may need it.
    """
    ALTER TABLE lines ADD COLUMN details TEXT NOT NULL DEFAULT '{}'
    """
)
