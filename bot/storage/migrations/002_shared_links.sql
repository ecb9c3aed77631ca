-- Links shared in a channel/room, with what became of them: the material of roundups.
CREATE TABLE shared_links (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    scope      TEXT NOT NULL,           -- channel/room scope ("matrix:room:!abc:server")
    url        TEXT NOT NULL,           -- as shared
    cache_key  TEXT,                    -- the digest, when one was written
    error      TEXT,                    -- French reason, when fetching or extraction failed
    shared_by  TEXT,
    shared_at  REAL NOT NULL
);
CREATE INDEX shared_links_by_scope ON shared_links (scope, shared_at);

-- Roundups already posted, so a restart never posts one twice.
CREATE TABLE roundups (
    scope      TEXT NOT NULL,
    period_end REAL NOT NULL,
    posted_at  REAL NOT NULL,
    PRIMARY KEY (scope, period_end)
);
