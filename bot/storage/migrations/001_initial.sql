-- Digest cache: one row per (canonical URL, model, prompt version, length).
CREATE TABLE digests (
    cache_key      TEXT PRIMARY KEY,
    canonical_url  TEXT NOT NULL,
    model          TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    length         TEXT NOT NULL,
    payload        TEXT NOT NULL,       -- Digest.to_dict() as JSON
    created_at     REAL NOT NULL
);
CREATE INDEX digests_by_url ON digests (canonical_url);

-- Settings per scope ("discord:guild:123", "discord:channel:456", "matrix:room:!abc:server").
CREATE TABLE settings (
    scope      TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,           -- JSON
    updated_at REAL NOT NULL,
    updated_by TEXT,
    PRIMARY KEY (scope, key)
);
