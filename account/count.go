package account

import (
	"context"
	"time"
)

// Token counting (POST /v1/messages/count_tokens) is limited as Anthropic
// limits it: by requests per minute, apart from calls. A count is
// admitted against the same RPM figures as the caller's calls (its key's
// and its team's), each in a counter of its own, so that counting does
// not use up the call budget nor calls the counting one; it is never
// charged nor recorded, and has no token limits. The counters are scopes
// like any other, so the Redis limiter shares them between replicas.

// AdmitCount implements gateway.CountAdmitter: identity, as for a call,
// then the key's and team's token-counting request rates. Admin and
// anonymous callers, who have no team, are not limited.
func (s *Service) AdmitCount(ctx context.Context) error {
	var id Identity
	if err := s.caller(ctx, &id); err != nil {
		return err
	}
	if id.TeamID == "" {
		return nil
	}
	var team Team
	if err := s.teamOf(ctx, &id, id.TeamID, &team, time.Now().Add(storeWait)); err != nil {
		return err
	}
	var buf [2]Scope
	scopes := countScopes(s.appendScopes(buf[:0], id, team))
	if _, lerr := s.lim.Admit(ctx, s.cfg.Now(), scopes); lerr != nil {
		return lerr.refusal()
	}
	return nil
}

// countScopes turns call scopes into their token-counting counterparts,
// in place: the same RPM, no TPM, a scope ID of their own. Scopes without
// an RPM limit drop out.
func countScopes(sc []Scope) []Scope {
	out := sc[:0]
	for _, c := range sc {
		if c.Limits.RPM <= 0 {
			continue
		}
		out = append(out, Scope{ID: "count:" + c.ID, Name: c.Name + " token-counting", Limits: Limits{RPM: c.Limits.RPM}})
	}
	return out
}
