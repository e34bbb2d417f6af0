-- The coordination tables of several icbot replicas on one database. What each holds, who writes it and
-- why it is shaped so: src/ha/migrations.rs and docs/HA.md. Times are the database's clock (now()), never a
-- replica's.

-- One row per lease. The leader is the holder while expires_at is in the future; epoch grows at each new
-- tenure (another holder, or the same one after its lease lapsed) and fences leader-only writes.
CREATE TABLE icbot_lease (
    name        text        PRIMARY KEY,
    holder      text        NOT NULL,
    epoch       bigint      NOT NULL CHECK (epoch > 0),
    acquired_at timestamptz NOT NULL,
    renewed_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);

-- The last on-call snapshot fetched from PagerDuty by the leader; followers read it instead of asking.
CREATE TABLE icbot_oncall_snapshot (
    id         boolean     PRIMARY KEY DEFAULT true CHECK (id),
    snapshot   jsonb       NOT NULL,
    taken_at   timestamptz NOT NULL,
    epoch      bigint      NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now()
);

-- Stalking channels: started and stopped by whichever replica got the command; what the channel was last
-- told is written by the leader only, with its epoch.
CREATE TABLE icbot_stalk (
    channel        text        PRIMARY KEY,
    target         jsonb       NOT NULL,
    since          timestamptz NOT NULL,
    last_posted    jsonb,
    last_posted_at timestamptz,
    epoch          bigint,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- The page audit: append-only, one row per page and kind; a record replayed from a replica's local spool
-- after an outage is ignored the second time.
CREATE TABLE icbot_page_audit (
    seq        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    page_id    text        NOT NULL,
    kind       text        NOT NULL CHECK (kind IN ('started', 'outcome')),
    record     jsonb       NOT NULL,
    at         timestamptz NOT NULL,
    replica    text        NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (page_id, kind)
);
CREATE INDEX icbot_page_audit_at ON icbot_page_audit (at);

-- Page deduplication: one row per set of paged people (dedup_key is UNIQUE), live until expires_at. Two
-- replicas racing to page the same people insert one row: one claims the window, the other is told whose
-- page it repeats. A lapsed row is taken over in place by the next claim.
CREATE TABLE icbot_page_dedup (
    dedup_key    text        PRIMARY KEY,
    page_id      text        NOT NULL,
    requested_by text        NOT NULL,
    channel      text        NOT NULL,
    replica      text        NOT NULL,
    started_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    incident     jsonb
);

-- Slack Events API event_ids already handled by some replica (Slack retries, and a load balancer may send
-- the retry to another replica); kept until expires_at, then purged.
CREATE TABLE icbot_slack_event (
    event_id   text        PRIMARY KEY,
    replica    text        NOT NULL,
    seen_at    timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX icbot_slack_event_expires_at ON icbot_slack_event (expires_at);
