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

# What follows this line in a migration runs on SQLite only (issue 17's running
# totals: triggers, and their backfill); ``postgres.pg_ddl`` leaves it out.
SQLITE_ONLY = "-- sqlite only --"

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

# -- migration 7: day close (issue 17) -------------------------------------------
# The running totals of the day (since the last Z) are kept by triggers on the event
# log: when an order is closed, voided (storno) or cancelled, or the drawer opened
# for a no-sale, its sums are added in the same transaction. An X or Z report then
# reads a few rows instead of every order of the day (a Z over 100,000 orders in
# milliseconds), and the Z empties them. The same figures are re-derived from the
# rows of the period (pos_app.journal.reporting.raw_figures), in the tests.
#
# The VAT of an order and rate is computed as the receipt does (domain.vat.vat_of:
# gross * rate / (100 + rate), half up, away from zero), in integers: the rate in
# ten-thousandths of a percent point.
_RBP = "CAST(ROUND(CAST(g.rate AS REAL) * 10000) AS INTEGER)"
VAT_SQL = (f"(CASE WHEN g.gross >= 0 THEN (2 * g.gross * {_RBP} + 1000000 + {_RBP}) / (2 * (1000000 + {_RBP}))"
           f" ELSE -((2 * (-g.gross) * {_RBP} + 1000000 + {_RBP}) / (2 * (1000000 + {_RBP}))) END)")
_ADD = (" ON CONFLICT (outlet, till, section, kind, provider, rate, voided) DO UPDATE SET"
        " count = count + excluded.count, amount = amount + excluded.amount, vat = vat + excluded.vat,"
        " rounding = rounding + excluded.rounding")
_COLUMNS = "INSERT INTO report_totals (outlet, till, section, kind, provider, rate, voided, count, amount, vat, rounding)"


def totals_sql(section: str, source: str) -> list[str]:
    """The statements that add the orders of ``source`` (rows of outlet, till, order_id)
    to the running totals of ``section`` (sales: closed; stornos: voided): their lines
    and payments, counting and voided before the close, and the orders."""
    lines = (
        f"{_COLUMNS} SELECT g.outlet, g.till, '{section}', g.kind, g.provider, g.rate, g.voided, SUM(g.n),"
        f" SUM(g.gross), SUM(CASE WHEN g.kind = 'product' AND g.voided = 0 THEN {VAT_SQL} ELSE 0 END), 0"
        f" FROM (SELECT e.outlet, e.till, l.order_id, l.kind, COALESCE(l.provider, '') AS provider,"
        f" l.vat_rate AS rate, (l.voided_at IS NOT NULL) AS voided, COUNT(*) AS n,"
        f" SUM(l.quantity * l.unit_minor) AS gross FROM {source} AS e JOIN lines l ON l.order_id = e.order_id"
        f" GROUP BY e.outlet, e.till, l.order_id, l.kind, COALESCE(l.provider, ''), l.vat_rate,"
        f" (l.voided_at IS NOT NULL)) AS g WHERE 1"
        f" GROUP BY g.outlet, g.till, g.kind, g.provider, g.rate, g.voided{_ADD}")
    tenders = (
        f"{_COLUMNS} SELECT e.outlet, e.till, '{section}', 'tender:' || t.kind, COALESCE(t.provider, ''), '',"
        f" (t.voided_at IS NOT NULL), COUNT(*), SUM(t.amount_minor), 0, SUM(COALESCE(t.rounding_minor, 0))"
        f" FROM {source} AS e JOIN tenders t ON t.order_id = e.order_id"
        f" WHERE t.voided_at IS NOT NULL OR t.state IN ('captured', 'authorized')"
        f" GROUP BY e.outlet, e.till, t.kind, COALESCE(t.provider, ''), (t.voided_at IS NOT NULL){_ADD}")
    orders = (
        f"{_COLUMNS} SELECT e.outlet, e.till, '{section}', 'orders', '', '', 0, COUNT(*), 0, 0, 0"
        f" FROM {source} AS e WHERE 1 GROUP BY e.outlet, e.till{_ADD}")
    return [lines, tenders, orders]


def cancels_sql(source: str) -> str:
    return (f"{_COLUMNS} SELECT e.outlet, e.till, 'cancels', 'orders', '', '', 0, COUNT(DISTINCT e.order_id),"
            f" COALESCE(SUM(l.quantity * l.unit_minor), 0), 0, 0 FROM {source} AS e"
            f" LEFT JOIN lines l ON l.order_id = e.order_id AND l.voided_at IS NULL WHERE 1"
            f" GROUP BY e.outlet, e.till{_ADD}")


def no_sales_sql(source: str) -> str:
    return (f"{_COLUMNS} SELECT e.outlet, e.till, 'no_sales', 'events', '', '', 0, COUNT(*), 0, 0, 0"
            f" FROM {source} AS e WHERE 1 GROUP BY e.outlet, e.till{_ADD}")


def _new(kind: str) -> str:
    return "(SELECT NEW.outlet AS outlet, NEW.till AS till, NEW.order_id AS order_id)"


def _all(kind: str) -> str:
    return f"(SELECT outlet, till, order_id FROM events WHERE kind = '{kind}' AND outlet IS NOT NULL)"


def _trigger(name: str, kind: str, statements: list[str]) -> str:
    body = "; ".join(statements)
    return f"CREATE TRIGGER {name} AFTER INSERT ON events WHEN NEW.kind = '{kind}' BEGIN {body}; END"


_SECTIONS = (("sales", "order_closed"), ("stornos", "order_voided"))

MIGRATIONS.append(
    # 7: day close (issue 17). Every X and Z report is kept with its figures (JSON, minor
    # units), so a reprint shows the same numbers whatever the templates say later. A
    # report covers the journal's events after ``from_event`` up to ``to_event``; a Z
    # is numbered per till without gaps (sequence 'z_report') and no two Z reports of a
    # till start at the same event: a period is closed once. The events index lets the
    # reports find the orders closed, voided and cancelled in a period without a scan.
    # report_totals: the running totals since the last Z (see above), filled from the
    # journal's history at this upgrade (the first Z covers everything before it).
    """
    CREATE TABLE reports (
        id          INTEGER PRIMARY KEY,
        outlet      TEXT NOT NULL,
        till        TEXT NOT NULL,
        kind        TEXT NOT NULL CHECK (kind IN ('X', 'Z')),
        number      INTEGER NOT NULL,
        from_event  INTEGER NOT NULL,
        to_event    INTEGER NOT NULL,
        period_from TEXT,
        period_to   TEXT NOT NULL,
        figures     TEXT NOT NULL,
        receipt_id  INTEGER REFERENCES receipts (id),
        created_at  TEXT NOT NULL,
        UNIQUE (outlet, till, kind, number)
    );
    CREATE UNIQUE INDEX reports_z_period ON reports (outlet, till, from_event) WHERE kind = 'Z';
    CREATE INDEX events_kind ON events (outlet, till, kind, id, order_id);
    CREATE TABLE report_totals (
        outlet    TEXT NOT NULL,
        till      TEXT NOT NULL,
        section   TEXT NOT NULL,
        kind      TEXT NOT NULL,
        provider  TEXT NOT NULL,
        rate      TEXT NOT NULL,
        voided    INTEGER NOT NULL,
        count     INTEGER NOT NULL,
        amount    INTEGER NOT NULL,
        vat       INTEGER NOT NULL,
        rounding  INTEGER NOT NULL,
        PRIMARY KEY (outlet, till, section, kind, provider, rate, voided)
    );
    """
    + SQLITE_ONLY + "\n"
    + ";\n".join(
        [*(sql for section, kind in _SECTIONS for sql in totals_sql(section, _all(kind))),
         cancels_sql(_all("order_cancelled")), no_sales_sql(_all("no_sale")),
         *(_trigger(f"report_totals_{section}", kind, totals_sql(section, _new(kind))) for section, kind in _SECTIONS),
         _trigger("report_totals_cancels", "order_cancelled", [cancels_sql(_new("order_cancelled"))]),
         _trigger("report_totals_no_sales", "no_sale", [no_sales_sql(_new("no_sale"))])]
    )
)

MIGRATIONS.append(
    # 8: the store Z (issue 18). Each till's Z report as it reached the journal server
    # (forwarded by the till: its number, period and figures as the till made them), and
    # the store Z reports of an outlet, numbered without gaps, each the sum of the till Z
    # reports not in an earlier one (``store_z``: the store Z that holds it; NULL: not yet).
    # On a till's own SQLite journal both stay empty: a store's day is closed on the server.
    # events_kind_at: a till's sales after its last Z (the store Z names them) without a scan.
    """
    CREATE TABLE till_z_reports (
        outlet      TEXT NOT NULL,
        till        TEXT NOT NULL,
        number      INTEGER NOT NULL,
        period_from TEXT,
        period_to   TEXT NOT NULL,
        figures     TEXT NOT NULL,
        store_z     INTEGER,
        PRIMARY KEY (outlet, till, number)
    );
    CREATE INDEX till_z_reports_open ON till_z_reports (outlet, store_z);
    CREATE INDEX events_kind_at ON events (outlet, till, kind, at);
    CREATE TABLE store_z_reports (
        outlet      TEXT NOT NULL,
        number      INTEGER NOT NULL,
        tills       TEXT NOT NULL,
        figures     TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        PRIMARY KEY (outlet, number)
    );
    """
)
