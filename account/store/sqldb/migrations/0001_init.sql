-- Portable SQL: runs unchanged on SQLite and PostgreSQL. Times are unix
-- microseconds; booleans are 0/1 integers.
CREATE TABLE teams (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	credits    BIGINT NOT NULL DEFAULT 0,
	reserved   BIGINT NOT NULL DEFAULT 0,
	spent      DOUBLE PRECISION NOT NULL DEFAULT 0,
	max_budget DOUBLE PRECISION NOT NULL DEFAULT 0,
	rpm_limit  BIGINT NOT NULL DEFAULT 0,
	tpm_limit  BIGINT NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL,
	CHECK (reserved >= 0 AND credits >= reserved)
);

CREATE TABLE api_keys (
	id         TEXT PRIMARY KEY,
	team_id    TEXT NOT NULL REFERENCES teams(id),
	name       TEXT NOT NULL DEFAULT '',
	prefix     TEXT NOT NULL,
	hash       TEXT NOT NULL UNIQUE,
	rpm_limit  BIGINT NOT NULL DEFAULT 0,
	tpm_limit  BIGINT NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL,
	revoked_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX api_keys_prefix ON api_keys (prefix);
CREATE INDEX api_keys_team ON api_keys (team_id);

CREATE TABLE jobs (
	id           TEXT PRIMARY KEY,
	team_id      TEXT NOT NULL REFERENCES teams(id),
	key_id       TEXT NOT NULL DEFAULT '',
	job_type     TEXT NOT NULL DEFAULT '',
	status       TEXT NOT NULL,
	reserved     BIGINT NOT NULL DEFAULT 0,
	charged      BIGINT NOT NULL DEFAULT 0,
	implicit     INTEGER NOT NULL DEFAULT 0,
	created_at   BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL,
	completed_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX jobs_open ON jobs (status, updated_at);
CREATE INDEX jobs_team ON jobs (team_id);

CREATE TABLE calls (
	id                TEXT PRIMARY KEY,
	team_id           TEXT NOT NULL DEFAULT '',
	key_id            TEXT NOT NULL DEFAULT '',
	job_id            TEXT NOT NULL DEFAULT '',
	provider          TEXT NOT NULL DEFAULT '',
	model             TEXT NOT NULL DEFAULT '',
	request           TEXT NOT NULL DEFAULT '',
	output            TEXT NOT NULL DEFAULT '',
	thinking          TEXT NOT NULL DEFAULT '',
	tool_calls        TEXT NOT NULL DEFAULT '',
	input_tokens      BIGINT NOT NULL DEFAULT 0,
	output_tokens     BIGINT NOT NULL DEFAULT 0,
	reasoning_tokens  BIGINT NOT NULL DEFAULT 0,
	estimated         INTEGER NOT NULL DEFAULT 0,
	cost_input        DOUBLE PRECISION NOT NULL DEFAULT 0,
	cost_output       DOUBLE PRECISION NOT NULL DEFAULT 0,
	cost_total        DOUBLE PRECISION NOT NULL DEFAULT 0,
	started_at        BIGINT NOT NULL,
	ttft_us           BIGINT NOT NULL DEFAULT 0,
	duration_us       BIGINT NOT NULL DEFAULT 0,
	finish            TEXT NOT NULL DEFAULT '',
	status            TEXT NOT NULL,
	error_code        TEXT NOT NULL DEFAULT '',
	error_message     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX calls_team_time ON calls (team_id, started_at);
CREATE INDEX calls_time ON calls (started_at);
CREATE INDEX calls_job ON calls (job_id);
