-- A call or a job refused for credits while another process holds an
-- open credit block of its team counts here (account/blocks.go: the
-- block's process looks once a second and gives its unused credits back
-- if the count moved since it read it before the take), so that blocks
-- may stay open longer than a second while nobody waits. Written only
-- on such a refusal.
ALTER TABLE teams ADD COLUMN wanted BIGINT NOT NULL DEFAULT 0;
