-- Credit blocks (account/blocks.go): a replica holds a block of a team's
-- free credits as one reservation row and admits calls from it in
-- memory; each record shrinks the row by the credits its call held.
-- block is 1 while the replica still admits calls from it (its credits
-- may be unused), 0 once it gave back what was unused (what is left is
-- held by calls in flight) and for per-call reservations.
ALTER TABLE reservations ADD COLUMN block INTEGER NOT NULL DEFAULT 0;
