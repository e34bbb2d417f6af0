-- Incidents followed after their page (issue 16): one row per incident whose card the bot keeps true.
-- Inserted by whichever replica posted the card; updated (what the card last showed) and deleted (once
-- resolved) by the leader only, fenced by its epoch, so a new leader carries on from where the last one
-- stopped and no change is posted twice. Add-only: the previous release ignores this table.
CREATE TABLE icbot_followed_incident (
    incident_id text        PRIMARY KEY,
    channel     text        NOT NULL,
    card_ts     text        NOT NULL,
    -- The card's message and the page reply it was posted with; its card holds the last seen state.
    followed    jsonb       NOT NULL,
    -- The last seen state, for people reading the table: triggered, acknowledged, resolved.
    status      text        NOT NULL,
    replica     text        NOT NULL,
    -- The epoch of the leader that last wrote the state; null until one did.
    epoch       bigint,
    followed_at timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
