-- One index for a call's link to its job or its credit block, in place of
-- calls_job and calls_block: a call of a job is never recorded inside a
-- block, and one inside a block has no job, so COALESCE(block_id, job_id)
-- is the one that is set (block and job ids differ by their prefixes,
-- blk_ and job_). Every call adds one entry here, as every call added
-- one to calls_job; a call inside a block no longer adds a second one to
-- calls_block, which was a B-tree page more for each commit to write
-- (on SQLite, most of what such a record cost over an anonymous one).
-- credits is in the key so that a block's sum is read from the index.
CREATE INDEX calls_link ON calls ((CAST(COALESCE(block_id, job_id) AS TEXT)), credits);
DROP INDEX calls_block;
DROP INDEX calls_job;
