-- Calls charged inside a credit block (account/blocks.go): such a record
-- names its block in block_id and leaves the team row and the block row
-- alone; what the block's calls were charged is taken off the team's
-- credits and reserved credits (the same amount from each) when the
-- block is folded: when it closes, by each record that ends after that,
-- and when it is released. charged is how much of it was folded so far.
-- Readers of a team subtract what is not folded yet (the index covers
-- the sum). block is 1 while the block is open, 2 once it closed (0: a
-- per-call reservation, or a block closed before this version, whose
-- records shrink it).
ALTER TABLE calls ADD COLUMN block_id TEXT;
CREATE INDEX calls_block ON calls (block_id, credits) WHERE block_id IS NOT NULL;
ALTER TABLE reservations ADD COLUMN charged BIGINT NOT NULL DEFAULT 0;
CREATE INDEX reservations_blocks ON reservations (team_id) WHERE block <> 0;
