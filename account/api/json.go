package api

import (
	"encoding/json"
	"time"

	"github.com/runnel/runnel/account"
)

// The JSON shapes of the jobs and admin APIs; `runnel … --json` prints the
// same ones.

// UsageJSON is a usage figure.
type UsageJSON struct {
	InputTokens     int64 `json:"input_tokens"`
	OutputTokens    int64 `json:"output_tokens"`
	TotalTokens     int64 `json:"total_tokens"`
	ReasoningTokens int64 `json:"reasoning_tokens,omitempty"`
	Estimated       bool  `json:"estimated,omitempty"`
}

// CostJSON is a cost in the price table's currency.
type CostJSON struct {
	Input  float64 `json:"input"`
	Output float64 `json:"output"`
	Total  float64 `json:"total"`
}

func usageJSON(u account.Usage) UsageJSON {
	return UsageJSON{u.InputTokens, u.OutputTokens, u.Total(), u.ReasoningTokens, u.Estimated}
}

func costJSON(c account.Cost) CostJSON { return CostJSON(c) }

func ts(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339Nano)
	return &s
}

// TeamJSON is a team.
type TeamJSON struct {
	ID        string  `json:"id"`
	Name      string  `json:"name"`
	Credits   int64   `json:"credits"`
	Reserved  int64   `json:"credits_reserved"`
	Free      int64   `json:"credits_free"`
	Spent     float64 `json:"spent"`
	MaxBudget float64 `json:"max_budget"`
	// BudgetReserved is the worst-case cost held by calls in flight.
	BudgetReserved float64 `json:"budget_reserved"`
	RPM            int64   `json:"rpm_limit"`
	TPM            int64   `json:"tpm_limit"`
	Created        *string `json:"created_at"`
}

// Team returns t's JSON form.
func Team(t account.Team) TeamJSON {
	return TeamJSON{t.ID, t.Name, t.Credits, t.Reserved, t.Free(), t.Spent, t.MaxBudget, t.BudgetReserved, t.Limits.RPM, t.Limits.TPM, ts(t.Created)}
}

// KeyJSON is a key without its secret; Key is set only when it is created.
type KeyJSON struct {
	Key     string  `json:"key,omitempty"`
	ID      string  `json:"id"`
	TeamID  string  `json:"team_id"`
	Name    string  `json:"name"`
	Prefix  string  `json:"prefix"`
	RPM     int64   `json:"rpm_limit"`
	TPM     int64   `json:"tpm_limit"`
	Created *string `json:"created_at"`
	Revoked *string `json:"revoked_at"`
}

// Key returns k's JSON form.
func Key(k account.Key) KeyJSON {
	return KeyJSON{ID: k.ID, TeamID: k.TeamID, Name: k.Name, Prefix: k.Prefix, RPM: k.Limits.RPM, TPM: k.Limits.TPM, Created: ts(k.Created), Revoked: ts(k.Revoked)}
}

// CallJSON is a recorded call.
type CallJSON struct {
	ID         string          `json:"call_id"`
	Model      string          `json:"model"`
	Provider   string          `json:"provider"`
	Status     string          `json:"status"`
	Finish     string          `json:"finish_reason,omitempty"`
	KeyID      string          `json:"key_id,omitempty"`
	Request    json.RawMessage `json:"request,omitempty"`
	Output     string          `json:"output"`
	Thinking   string          `json:"thinking,omitempty"`
	Usage      UsageJSON       `json:"usage"`
	Cost       CostJSON        `json:"cost"`
	Started    *string         `json:"started_at"`
	TTFTMs     float64         `json:"ttft_ms"`
	DurationMs float64         `json:"duration_ms"`
	Error      *ErrJSON        `json:"error,omitempty"`
	// Credits deducted with the record (calls outside jobs); JobID the
	// job a job call belongs to.
	Credits int64  `json:"credits"`
	JobID   string `json:"job_id,omitempty"`
}

// ErrJSON is a recorded call's error.
type ErrJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func callJSON(c account.Call) CallJSON {
	j := CallJSON{ID: c.ID, KeyID: c.KeyID, Model: c.Model, Provider: c.Provider, Status: c.Status, Finish: c.Finish, Output: c.Output, Thinking: c.Thinking,
		Usage: usageJSON(c.Usage), Cost: costJSON(c.Cost), Started: ts(c.Started), TTFTMs: ms(c.TTFT), DurationMs: ms(c.Duration),
		Credits: c.Credits, JobID: c.JobID}
	if json.Valid([]byte(c.Request)) {
		j.Request = json.RawMessage(c.Request)
	}
	if c.ErrorCode != "" {
		j.Error = &ErrJSON{c.ErrorCode, c.ErrorMsg}
	}
	return j
}

// JobJSON is a job, with its totals and calls where known.
type JobJSON struct {
	JobID     string     `json:"job_id"`
	TeamID    string     `json:"team_id"`
	JobType   string     `json:"job_type"`
	Status    string     `json:"status"`
	Created   *string    `json:"created_at"`
	Completed *string    `json:"completed_at"`
	Reserved  int64      `json:"credits_reserved"`
	Charged   int64      `json:"credits_charged"`
	Calls     *int64     `json:"call_count,omitempty"`
	Usage     *UsageJSON `json:"usage,omitempty"`
	Cost      *CostJSON  `json:"cost,omitempty"`
	Costs     *CostsJSON `json:"costs,omitempty"`
	CallList  []CallJSON `json:"calls,omitempty"`
}

// CostsJSON is what completing a job cost (seed 004's "costs").
type CostsJSON struct {
	CreditsCharged   int64   `json:"credits_charged"`
	CreditsRemaining int64   `json:"credits_remaining"`
	TotalCost        float64 `json:"total_cost"`
	InputTokens      int64   `json:"input_tokens"`
	OutputTokens     int64   `json:"output_tokens"`
	TotalTokens      int64   `json:"total_tokens"`
}

func jobJSON(j account.Job, team *account.Team, tot *account.Totals, calls []account.Call) JobJSON {
	out := JobJSON{JobID: j.ID, TeamID: j.TeamID, JobType: j.Type, Status: string(j.Status), Created: ts(j.Created), Completed: ts(j.Completed)}
	if j.Status.Open() {
		out.Reserved = j.Reserved
	}
	out.Charged = j.Charged
	if tot != nil {
		u, c := usageJSON(tot.Usage), costJSON(tot.Cost)
		out.Calls, out.Usage, out.Cost = &tot.Calls, &u, &c
	}
	if team != nil && tot != nil {
		out.Costs = &CostsJSON{j.Charged, team.Free(), tot.Cost.Total, tot.Usage.InputTokens, tot.Usage.OutputTokens, tot.Usage.Total()}
	}
	if calls != nil {
		out.CallList = make([]CallJSON, len(calls))
		for i, c := range calls {
			out.CallList[i] = callJSON(c)
		}
	}
	return out
}

// UsageRowJSON is one row of a usage report.
type UsageRowJSON struct {
	TeamID     string    `json:"team_id"`
	KeyID      string    `json:"key_id"`
	Model      string    `json:"model"`
	Calls      int64     `json:"calls"`
	Errors     int64     `json:"errors"`
	Usage      UsageJSON `json:"usage"`
	Cost       CostJSON  `json:"cost"`
	DurationMs float64   `json:"duration_ms"`
}

// UsageRows returns rows' JSON form.
func UsageRows(rows []account.UsageRow) []UsageRowJSON {
	out := make([]UsageRowJSON, len(rows))
	for i, r := range rows {
		out[i] = UsageRowJSON{r.TeamID, r.KeyID, r.Model, r.Calls, r.Errors, usageJSON(r.Usage), costJSON(r.Cost), ms(r.Duration)}
	}
	return out
}
