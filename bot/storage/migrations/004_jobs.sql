-- Jobs: every requested digest, where its answer goes and what became of it, so that nothing a
-- member asked for is lost to a crash or a restart, and nothing is answered twice.
CREATE TABLE jobs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    token          TEXT NOT NULL UNIQUE,     -- random; every idempotency key of the job's posts derives from it
    request_key    TEXT UNIQUE,              -- the platform's request ("matrix:$event|url"): submitted twice, one job
    platform       TEXT NOT NULL,            -- "matrix", "discord", ...
    channel        TEXT NOT NULL,            -- room / channel id
    server         TEXT,                     -- Discord guild id; NULL on Matrix
    fair_key       TEXT NOT NULL,            -- the community served in turn (a Discord server, a Matrix room)
    requester      TEXT NOT NULL,
    url            TEXT NOT NULL,
    length         TEXT NOT NULL,            -- court | standard | long, resolved when the job was made
    target         TEXT NOT NULL,            -- JSON: where and how to answer (platform-specific reply target)
    after_id       INTEGER,                  -- answered after this job (the links of one message, in order)
    state          TEXT NOT NULL DEFAULT 'queued'
                   CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    not_before     REAL NOT NULL DEFAULT 0,  -- a retried job waits until then
    error          TEXT,                     -- French reason, for failed jobs
    cache_key      TEXT,                     -- the digest, for done jobs
    progress_id    TEXT,                     -- the progress message / event, once posted
    delivery       TEXT NOT NULL DEFAULT '{}', -- JSON: piece ("p", "a0", "a1", ...) -> id of what was posted
    answer_link    TEXT,                     -- a link to the posted answer (roundups point to it)
    delivered_at   REAL,                     -- the whole answer was posted (or given up: delivery_error)
    delivery_error TEXT,
    created_at     REAL NOT NULL,
    started_at     REAL,
    finished_at    REAL,
    updated_at     REAL NOT NULL
);
CREATE INDEX jobs_by_state ON jobs (state, fair_key, id);
CREATE INDEX jobs_undelivered ON jobs (id) WHERE delivered_at IS NULL;

-- A shared link recorded by a job is recorded once, however often the job was retried.
ALTER TABLE shared_links ADD COLUMN job_id INTEGER;
CREATE UNIQUE INDEX shared_links_by_job ON shared_links (job_id) WHERE job_id IS NOT NULL;

-- Channels the bot was configured in, with their server: the roundup scheduler needs the full scope
-- (a Discord channel's server holds its time zone) and has only the settings' channel key.
CREATE TABLE channels (
    channel_key TEXT PRIMARY KEY,            -- "discord:channel:123", "matrix:channel:!room:server"
    platform    TEXT NOT NULL,
    channel     TEXT NOT NULL,
    server      TEXT,
    seen_at     REAL NOT NULL
);
