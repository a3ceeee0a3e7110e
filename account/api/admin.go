package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/stream"
)

// Admin serves /admin/…: teams, keys, credits and usage, for the admin key
// (RUNNEL_ADMIN_KEY). With auth off and no admin key configured it is open,
// as the CLI is, for local use.
type Admin struct {
	acct  *account.Service
	limit int64
}

// NewAdmin returns the admin API.
func NewAdmin(acct *account.Service) *Admin { return &Admin{acct: acct, limit: 64 << 10} }

// Register mounts the admin API on mux.
func (a *Admin) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /admin/teams", a.guard(a.createTeam))
	mux.HandleFunc("GET /admin/teams", a.guard(a.listTeams))
	mux.HandleFunc("GET /admin/teams/{team_id}", a.guard(a.getTeam))
	mux.HandleFunc("POST /admin/teams/{team_id}/limits", a.guard(a.setLimits))
	mux.HandleFunc("POST /admin/teams/{team_id}/credits", a.guard(a.addCredits))
	mux.HandleFunc("GET /admin/teams/{team_id}/credits", a.guard(a.getTeam))
	mux.HandleFunc("POST /admin/keys", a.guard(a.createKey))
	mux.HandleFunc("GET /admin/keys", a.guard(a.listKeys))
	mux.HandleFunc("POST /admin/keys/revoke", a.guard(a.revokeKey))
	mux.HandleFunc("GET /admin/usage", a.guard(a.usage))
	mux.HandleFunc("GET /admin/calls", a.guard(a.calls))
}

func (a *Admin) guard(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := identity(a.acct, r)
		if err != nil {
			fail(w, err)
			return
		}
		cfg := a.acct.Config()
		open := !cfg.Auth && cfg.AdminKey == ""
		if !id.Admin && !open {
			fail(w, stream.Errorf(stream.CodeForbidden, "the admin API needs the admin key (RUNNEL_ADMIN_KEY)"))
			return
		}
		h(w, r)
	}
}

func (a *Admin) createTeam(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ID        string  `json:"id"` // a slug such as "acme-corp"; generated if empty
		Name      string  `json:"name"`
		Credits   int64   `json:"credits"`
		MaxBudget float64 `json:"max_budget"`
		RPM       int64   `json:"rpm_limit"`
		TPM       int64   `json:"tpm_limit"`
	}
	if e := dialect.DecodeJSONStrict(w, r, a.limit, &body); e != nil {
		fail(w, e)
		return
	}
	t, err := a.acct.CreateTeamID(r.Context(), body.ID, body.Name, body.Credits)
	if err != nil {
		fail(w, err)
		return
	}
	if body.MaxBudget != 0 || body.RPM != 0 || body.TPM != 0 {
		if t, err = a.acct.SetTeamLimits(r.Context(), t.ID, account.Limits{RPM: body.RPM, TPM: body.TPM}, body.MaxBudget); err != nil {
			fail(w, err)
			return
		}
	}
	writeJSON(w, http.StatusCreated, Team(t))
}

func (a *Admin) listTeams(w http.ResponseWriter, r *http.Request) {
	ts, err := a.acct.Teams(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	out := make([]TeamJSON, len(ts))
	for i, t := range ts {
		out[i] = Team(t)
	}
	writeJSON(w, http.StatusOK, map[string]any{"teams": out})
}

func (a *Admin) getTeam(w http.ResponseWriter, r *http.Request) {
	t, err := a.acct.Team(r.Context(), r.PathValue("team_id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, Team(t))
}

func (a *Admin) setLimits(w http.ResponseWriter, r *http.Request) {
	var body struct {
		MaxBudget float64 `json:"max_budget"`
		RPM       int64   `json:"rpm_limit"`
		TPM       int64   `json:"tpm_limit"`
	}
	if e := dialect.DecodeJSONStrict(w, r, a.limit, &body); e != nil {
		fail(w, e)
		return
	}
	t, err := a.acct.SetTeamLimits(r.Context(), r.PathValue("team_id"), account.Limits{RPM: body.RPM, TPM: body.TPM}, body.MaxBudget)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, Team(t))
}

func (a *Admin) addCredits(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Amount *int64 `json:"amount"`
	}
	if e := dialect.DecodeJSONStrict(w, r, a.limit, &body); e != nil {
		fail(w, e)
		return
	}
	if body.Amount == nil {
		fail(w, stream.InvalidParam("amount", "amount is required"))
		return
	}
	t, err := a.acct.AddCredits(r.Context(), r.PathValue("team_id"), *body.Amount)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, Team(t))
}

func (a *Admin) createKey(w http.ResponseWriter, r *http.Request) {
	var body struct {
		TeamID string `json:"team_id"`
		Name   string `json:"name"`
		RPM    int64  `json:"rpm_limit"`
		TPM    int64  `json:"tpm_limit"`
	}
	if e := dialect.DecodeJSONStrict(w, r, a.limit, &body); e != nil {
		fail(w, e)
		return
	}
	secret, k, err := a.acct.CreateKey(r.Context(), body.TeamID, body.Name, account.Limits{RPM: body.RPM, TPM: body.TPM})
	if err != nil {
		fail(w, err)
		return
	}
	out := Key(k)
	out.Key = secret
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, out)
}

func (a *Admin) listKeys(w http.ResponseWriter, r *http.Request) {
	team := r.URL.Query().Get("team_id")
	if team != "" && !account.ValidTeamID(team) {
		fail(w, stream.InvalidParam("team_id", "not a team id (team_ and 16 characters)"))
		return
	}
	ks, err := a.acct.Store().Keys(r.Context(), team)
	if err != nil {
		fail(w, err)
		return
	}
	out := make([]KeyJSON, len(ks))
	for i, k := range ks {
		out[i] = Key(k)
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": out})
}

func (a *Admin) revokeKey(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Key string `json:"key"`
	}
	if e := dialect.DecodeJSONStrict(w, r, a.limit, &body); e != nil {
		fail(w, e)
		return
	}
	k, err := a.acct.RevokeKey(r.Context(), body.Key)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, Key(k))
}

// filter reads the usage query parameters: team_id, key_id, model, from, to.
func filter(r *http.Request) (account.UsageFilter, error) {
	q := r.URL.Query()
	f := account.UsageFilter{TeamID: q.Get("team_id"), KeyID: q.Get("key_id"), Model: q.Get("model")}
	var err error
	if f.From, err = ParseTime(q.Get("from"), "from"); err != nil {
		return f, err
	}
	f.To, err = ParseTime(q.Get("to"), "to")
	return f, err
}

// calls lists recorded calls with their full content, newest first
// (?limit=, default 50).
func (a *Admin) calls(w http.ResponseWriter, r *http.Request) {
	f, err := filter(r)
	if err != nil {
		fail(w, err)
		return
	}
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil {
			fail(w, stream.InvalidParam("limit", "limit must be a number"))
			return
		}
	}
	cs, err := a.acct.RecentCalls(r.Context(), f, limit)
	if err != nil {
		fail(w, err)
		return
	}
	out := make([]CallJSON, len(cs))
	for i, c := range cs {
		out[i] = callJSON(c)
	}
	writeJSON(w, http.StatusOK, map[string]any{"calls": out})
}

func (a *Admin) usage(w http.ResponseWriter, r *http.Request) {
	f, err := filter(r)
	if err != nil {
		fail(w, err)
		return
	}
	rows, err := a.acct.Usage(r.Context(), f)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"usage": UsageRows(rows)})
}

// ParseTime reads an RFC 3339 time or a duration before now ("24h").
func ParseTime(s, param string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, stream.InvalidParam(param, "%s must be an RFC 3339 time or a duration like 24h", param)
}
