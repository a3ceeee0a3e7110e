package sqldb

import (
	"fmt"
	"strings"
	"testing"
)

// A migration's CREATE INDEX statements on tables it does not create
// come out to be built first, and stay in its SQL as IF NOT EXISTS; the
// rest of the SQL is its statements, in order, without comments.
func TestIndexBuilds(t *testing.T) {
	for _, c := range []struct {
		q, rest string
		builds  []indexBuild
	}{
		{
			q:      "-- a comment; with a semicolon\nCREATE INDEX calls_link ON calls ((CAST(COALESCE(block_id, job_id) AS TEXT)), credits);\nDROP INDEX calls_block;\n",
			rest:   "CREATE INDEX IF NOT EXISTS calls_link ON calls ((CAST(COALESCE(block_id, job_id) AS TEXT)), credits);\nDROP INDEX calls_block;\n",
			builds: []indexBuild{{"calls_link", "CREATE INDEX calls_link ON calls ((CAST(COALESCE(block_id, job_id) AS TEXT)), credits)"}},
		},
		{ // a table made or altered here: its indexes stay in the transaction
			q:      "CREATE TABLE jobs (\n  id TEXT PRIMARY KEY\n);\nCREATE INDEX jobs_id ON jobs (id);\nALTER TABLE teams ADD COLUMN y TEXT;\nCREATE INDEX teams_y ON teams (y);\nCREATE INDEX IF NOT EXISTS calls_x ON calls (x) WHERE x IS NOT NULL;\nCREATE UNIQUE INDEX calls_u ON calls (u);",
			rest:   "CREATE TABLE jobs (\nid TEXT PRIMARY KEY\n);\nCREATE INDEX jobs_id ON jobs (id);\nALTER TABLE teams ADD COLUMN y TEXT;\nCREATE INDEX teams_y ON teams (y);\nCREATE INDEX IF NOT EXISTS calls_x ON calls (x) WHERE x IS NOT NULL;\nCREATE UNIQUE INDEX calls_u ON calls (u);\n",
			builds: []indexBuild{{"calls_x", "CREATE INDEX calls_x ON calls (x) WHERE x IS NOT NULL"}},
		},
	} {
		rest, builds := indexBuilds(c.q, map[string]bool{})
		if rest != c.rest || fmt.Sprint(builds) != fmt.Sprint(c.builds) {
			t.Errorf("indexBuilds(%q)\n = %q, %q\nwant %q, %q", c.q, rest, builds, c.rest, c.builds)
		}
	}
	// The embedded migrations, each on its own (an upgrade from the one
	// before it): 0001 and 0003 make the tables they index, 0005 adds the
	// columns it indexes; 0008 indexes a table as it is.
	want := map[int]string{1: "[]", 3: "[]", 5: "[]", 8: "[calls_link]"}
	for v, names := range want {
		q, err := migrationSQL(v)
		if err != nil {
			t.Fatal(err)
		}
		rest, builds := indexBuilds(q, map[string]bool{})
		var got []string
		for _, b := range builds {
			got = append(got, b.name)
		}
		if fmt.Sprint(got) != names && !(len(got) == 0 && names == "[]") {
			t.Errorf("migration %d builds %v first, want %s", v, got, names)
		}
		if strings.Contains(rest, "--") || strings.Count(rest, ";") != strings.Count(stripComments(q), ";") {
			t.Errorf("migration %d: its statements came out as\n%s", v, rest)
		}
	}
	// A new database, all in one run: every index in its transaction.
	created := map[string]bool{}
	vs, _ := Versions()
	for _, v := range vs {
		q, _ := migrationSQL(v)
		if _, builds := indexBuilds(q, created); len(builds) > 0 {
			t.Errorf("a new database's migration %d builds %v outside its transaction", v, builds)
		}
	}
}

func stripComments(q string) string {
	var b strings.Builder
	for line := range strings.Lines(q) {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			b.WriteString(line)
		}
	}
	return b.String()
}
