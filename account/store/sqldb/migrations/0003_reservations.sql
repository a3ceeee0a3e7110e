-- Per-call reservations (account/admit.go): a call outside a job holds its
-- credits, and with a team budget its worst-case cost, from admission
-- until its record is stored. Each belongs to the process that made it;
-- a process renews its lease while it runs, and the reservations of one
-- whose lease ran out are released without charge.
ALTER TABLE teams ADD COLUMN budget_reserved DOUBLE PRECISION NOT NULL DEFAULT 0;
CREATE TABLE reservations (
	id         TEXT PRIMARY KEY,
	team_id    TEXT NOT NULL REFERENCES teams (id),
	owner      TEXT NOT NULL,
	credits    BIGINT NOT NULL,
	budget     DOUBLE PRECISION NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE INDEX reservations_owner ON reservations (owner);
CREATE TABLE leases (
	owner      TEXT PRIMARY KEY,
	expires_at BIGINT NOT NULL
);
