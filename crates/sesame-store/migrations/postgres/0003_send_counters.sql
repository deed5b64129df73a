-- Daily counters of accepted recipients, kept in the enqueue transaction, so that quota checks
-- read one row instead of counting the day's deliveries.
CREATE TABLE send_counters (
    scope            TEXT    NOT NULL,             -- 'account' or 'domain'
    scope_id         BIGINT  NOT NULL,             -- accounts.id or domains.id
    day              BIGINT  NOT NULL,             -- Unix second the day starts (API time zone)
    accepted         BIGINT  NOT NULL,
    PRIMARY KEY (scope, scope_id, day)
);
