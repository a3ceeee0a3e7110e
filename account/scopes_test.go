package account

import (
	"testing"
	"time"
	"unsafe"
)

// A key's rate-limit scope ids are made once per lookup and shared by its
// requests; a call paid by another team (a job's) is limited in that
// team's scope, not the key's team's.
func TestScopesFromLookup(t *testing.T) {
	s := &Service{}
	e := newKeyEntry([]KeyTeam{{Key: Key{ID: "key_a", TeamID: "team_a"}, Team: Team{ID: "team_a"}}}, time.Time{}, versions{})
	id := Identity{TeamID: "team_a", KeyID: "key_a", KeyLimits: Limits{RPM: 1}, scopes: &e.scopes[0]}
	for _, c := range []struct {
		team   string
		shared bool
	}{{"team_a", true}, {"team_b", false}} {
		sc := s.appendScopes(nil, id, Team{ID: c.team, Limits: Limits{RPM: 2}})
		if len(sc) != 2 || sc[0].ID != "key:key_a" || sc[1].ID != "team:"+c.team {
			t.Fatalf("team %s: scopes %+v", c.team, sc)
		}
		if unsafe.StringData(sc[0].ID) != unsafe.StringData(e.scopes[0].key) {
			t.Errorf("team %s: the key's scope id was made again", c.team)
		}
		if shared := unsafe.StringData(sc[1].ID) == unsafe.StringData(e.scopes[0].team); shared != c.shared {
			t.Errorf("team %s: team scope id shared with the lookup's: %v, want %v", c.team, shared, c.shared)
		}
	}
	// Without a lookup's ids (a stream token's identity), made here.
	if sc := s.appendScopes(nil, Identity{TeamID: "team_a", KeyID: "key_b", KeyLimits: Limits{RPM: 1}}, Team{ID: "team_a", Limits: Limits{RPM: 2}}); len(sc) != 2 || sc[0].ID != "key:key_b" || sc[1].ID != "team:team_a" {
		t.Fatalf("scopes %+v", sc)
	}
}
