-- Credits deducted by a call made outside a job (jobs keep theirs on the job).
ALTER TABLE calls ADD COLUMN credits BIGINT NOT NULL DEFAULT 0;
