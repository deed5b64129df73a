-- The row `WalKeeper` (src/wal.rs) commits to start the write-ahead log over, under the
-- write gate, so that no other commit pays for the sync that comes with it. `n` counts the
-- restarts. SQLite only: PostgreSQL has no such log to keep.
CREATE TABLE wal_restarts (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
