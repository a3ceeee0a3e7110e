package postgres

import "testing"

// pgx's statement caches are shrunk unless the connection string sized
// them.
func TestSmallCaches(t *testing.T) {
	for url, want := range map[string]int{
		"postgres://u@127.0.0.1/db": stmtCache,
		"postgres://u@127.0.0.1/db?statement_cache_capacity=100&description_cache_capacity=100": 100,
	} {
		cfg, err := parseConfig(url)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.StatementCacheCapacity != want || cfg.DescriptionCacheCapacity != want {
			t.Errorf("%s: caches of %d and %d statements, want %d", url, cfg.StatementCacheCapacity, cfg.DescriptionCacheCapacity, want)
		}
	}
}
