-- Matrix: what the bot has already handled, and where it resumes syncing.

-- Every event the bot examined (command, link, undecryptable message), so nothing is answered twice,
-- whatever a sync replays. `action` says what was decided ("resume", "auto", "ignore", ...).
CREATE TABLE matrix_events (
    event_id   TEXT PRIMARY KEY,
    room_id    TEXT NOT NULL,
    action     TEXT NOT NULL,
    handled_at REAL NOT NULL
);
CREATE INDEX matrix_events_by_time ON matrix_events (handled_at);

-- Per account: the sync token to resume from (so a restart does not replay history).
CREATE TABLE matrix_state (
    account TEXT NOT NULL,              -- "@agora:example.org"
    key     TEXT NOT NULL,              -- "sync_token"
    value   TEXT NOT NULL,
    PRIMARY KEY (account, key)
);

-- When the bot (last) joined each room, in the homeserver's clock: older events are never answered.
CREATE TABLE matrix_rooms (
    account      TEXT NOT NULL,
    room_id      TEXT NOT NULL,
    joined_at_ms INTEGER NOT NULL,
    PRIMARY KEY (account, room_id)
);
