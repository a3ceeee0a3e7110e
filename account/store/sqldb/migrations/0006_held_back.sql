-- A call admitted from a credit block and refused after it (a rate
-- limit) gives the credits it held back to the team, whatever the
-- block's state (account/blocks.go: unadmit). held_back is the total
-- the block's process gave back so: each give-back carries the new
-- total and gives only what the row lacks of it, so one tried again
-- after its commit (an error on the way back) gives nothing twice, and
-- a later one covers an earlier that failed.
ALTER TABLE reservations ADD COLUMN held_back BIGINT NOT NULL DEFAULT 0;
