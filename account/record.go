package account

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

// Recording: every call's record is stored before its response's final
// bytes, in the shared store, exactly once per call id. Records of calls
// ending at the same time share one transaction (batcher: group commit),
// so a wave of ending calls costs a few commits, not one each.

// record stores the call's record, settling its reservation, and counts
// its tokens for rate limits.
func (s *Service) record(a *admission, rec *gateway.Record) {
	c := s.callFromRecord(a, rec)
	if a.charge > 0 && c.Status == "ok" {
		c.Credits = a.charge
		if s.cfg.Charge == ChargeByCost {
			c.Credits = s.costCredits(c.Cost.Total)
		}
	}
	c.Reservation, c.Block, c.Held, c.FoldLater = a.reservation, a.block, a.held, a.blk != nil
	if a.outcome != nil && a.outcome.SettleJob && a.jobID != "" {
		st := &Settlement{JobID: a.jobID, Status: JobFailed}
		if c.Status == "ok" {
			// The job's only call: its cost is the job's.
			st.Status, st.Charge = JobCompleted, s.cfg.JobCredits
			if s.cfg.Charge == ChargeByCost {
				st.Charge = s.costCredits(c.Cost.Total)
			}
		}
		c.Settle = st
	}
	s.storeCall(&c)
	if a.blk != nil {
		s.blocks.recorded(a.team, a.blk)
	}
	if a.outcome != nil {
		a.outcome.set(c.Status, c.ID)
	}
	s.lim.AddTokens(context.Background(), s.cfg.Now(), a.scopes, c.Usage.Total())
}

// storeCall stores c through the batcher (directly once the service is
// closing). A call id stored before is a no-op: a continued stream is
// recorded under its first call's id by whichever process ends it. A
// record the store refuses is kept (keepRefused) for a later store.
func (s *Service) storeCall(c *Call) {
	var err error
	if s.batch == nil || !s.batch.store(c, &err) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = s.store.RecordCall(ctx, c, nil)
		cancel()
	}
	switch {
	case err == nil:
		s.failing.ok()
	case errors.Is(err, ErrExists):
		s.log.Debug("account: call already recorded; not charged again", "call", c.ID)
	default:
		s.keepRefused(c, err)
	}
}

// maxBatch bounds how many records share a transaction.
const maxBatch = 128

// batcher writes records in group commits: a record waits while a
// transaction is in flight, then goes with every record that arrived
// meanwhile. Two transactions may run at once (PostgreSQL commits in
// parallel; SQLite's one writer takes them in turn).
type batcher struct {
	st  Store
	log *slog.Logger
	in  chan *batchItem

	mu     sync.RWMutex // held to send on in; close takes it to close in
	closed bool
	wg     sync.WaitGroup
}

type batchItem struct {
	c    *Call
	err  error
	done chan struct{}
}

func newBatcher(st Store, log *slog.Logger) *batcher {
	b := &batcher{st: st, log: log, in: make(chan *batchItem, 4*maxBatch)}
	for range 2 {
		b.wg.Add(1)
		go b.loop()
	}
	return b
}

// store hands c to a batch and waits until it committed, setting *err;
// false if the batcher is closed (the caller stores c itself).
func (b *batcher) store(c *Call, err *error) bool {
	it := &batchItem{c: c, done: make(chan struct{})}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return false
	}
	b.in <- it
	b.mu.RUnlock()
	<-it.done
	*err = it.err
	return true
}

func (b *batcher) close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.in)
	}
	b.mu.Unlock()
	b.wg.Wait()
}

func (b *batcher) loop() {
	defer b.wg.Done()
	items := make([]*batchItem, 0, maxBatch)
	calls := make([]*Call, 0, maxBatch)
	for it := range b.in {
		items = append(items[:0], it)
	more:
		for len(items) < maxBatch {
			select {
			case it, ok := <-b.in:
				if !ok {
					break more
				}
				items = append(items, it)
			default:
				break more
			}
		}
		calls = calls[:0]
		for _, it := range items {
			calls = append(calls, it.c)
		}
		b.commit(items, calls)
		clear(items)
		clear(calls)
	}
}

func (b *batcher) commit(items []*batchItem, calls []*Call) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dup, err := b.st.RecordCalls(ctx, calls)
	if err != nil && len(items) > 1 {
		// One bad record must not lose the others: store each alone.
		b.log.Warn("account: a batch of records failed; storing them one by one", "records", len(items), "err", err)
		for _, it := range items {
			it.err = b.st.RecordCall(ctx, it.c, nil)
			close(it.done)
		}
		return
	}
	for i, it := range items {
		switch {
		case err != nil:
			it.err = err
		case dup[i]:
			it.err = ErrExists
		}
		close(it.done)
	}
}

func (s *Service) callFromRecord(a *admission, rec *gateway.Record) Call {
	c := Call{
		ID: rec.ID, TeamID: a.team, KeyID: a.id.KeyID, JobID: a.jobID,
		Provider: rec.Provider, Model: rec.Model, Output: rec.Output, Thinking: rec.Thinking,
		Usage: Usage{InputTokens: int64(rec.Usage.PromptTokens), OutputTokens: int64(rec.Usage.CompletionTokens),
			ReasoningTokens: int64(rec.Usage.ReasoningTokens), Estimated: rec.Usage.Estimated},
		Cost:    Cost(rec.Cost),
		Started: rec.Started.UTC(), TTFT: rec.TTFT, Duration: rec.Duration,
		Finish: string(rec.Finish), Status: rec.Status,
	}
	if c.ID == "" {
		c.ID = newID("call_")
	}
	if c.Started.IsZero() {
		c.Started = s.cfg.Now().UTC()
	}
	if c.Status == "" {
		c.Status = "ok"
		if rec.Err != nil {
			c.Status = "error"
		}
	}
	if rec.Err != nil {
		c.ErrorCode, c.ErrorMsg = string(rec.Err.Code), rec.Err.Message
	}
	if len(rec.ToolCalls) > 0 {
		b, _ := json.Marshal(toolCallsJSON(rec.ToolCalls))
		c.ToolCalls = string(b)
	}
	if rec.Request != nil {
		b, _ := json.Marshal(requestJSON(rec.Request))
		c.Request = string(b)
	}
	if c.Cost == (Cost{}) {
		c.Cost = s.price(rec, a.reqModel)
	}
	return c
}

// price computes a cost from Config.Prices for records that came without.
func (s *Service) price(rec *gateway.Record, asked string) Cost {
	p, ok := s.cfg.Prices[asked]
	if !ok {
		p, ok = s.cfg.Prices[rec.Provider+"/"+rec.Model]
	}
	if !ok {
		p, ok = s.cfg.Prices[rec.Model]
	}
	if !ok {
		return Cost{}
	}
	in := float64(rec.Usage.PromptTokens) * p.InputPerMillion / 1e6
	out := float64(rec.Usage.CompletionTokens) * p.OutputPerMillion / 1e6
	return Cost{Input: in, Output: out, Total: in + out}
}

type msgJSON struct {
	Role       string         `json:"role"`
	Content    string         `json:"content"`
	Name       string         `json:"name,omitempty"`
	Thinking   string         `json:"thinking,omitempty"`
	ToolCalls  []toolCallJSON `json:"tool_calls,omitempty"`
	ToolCallID string         `json:"tool_call_id,omitempty"`
}

type toolCallJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

func toolCallsJSON(tcs []stream.ToolCall) []toolCallJSON {
	out := make([]toolCallJSON, len(tcs))
	for i, t := range tcs {
		out[i] = toolCallJSON(t)
	}
	return out
}

// requestJSON is the recorded form of a request.
func requestJSON(r *stream.Request) any {
	msgs := make([]msgJSON, len(r.Messages))
	for i, m := range r.Messages {
		msgs[i] = msgJSON{Role: m.Role, Content: m.Content, Name: m.Name, Thinking: m.Thinking, ToolCalls: toolCallsJSON(m.ToolCalls), ToolCallID: m.ToolCallID}
	}
	type tool struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters,omitempty"`
	}
	tools := make([]tool, len(r.Tools))
	for i, t := range r.Tools {
		tools[i] = tool(t)
	}
	sp := r.Sampling
	return struct {
		Model       string            `json:"model"`
		Messages    []msgJSON         `json:"messages,omitempty"`
		Prompt      string            `json:"prompt,omitempty"`
		MaxTokens   int               `json:"max_tokens,omitempty"`
		Temperature *float64          `json:"temperature,omitempty"`
		TopP        *float64          `json:"top_p,omitempty"`
		TopK        *int              `json:"top_k,omitempty"`
		Seed        *int64            `json:"seed,omitempty"`
		Stop        []string          `json:"stop,omitempty"`
		Tools       []tool            `json:"tools,omitempty"`
		ToolChoice  string            `json:"tool_choice,omitempty"`
		Thinking    bool              `json:"thinking,omitempty"`
		Metadata    map[string]string `json:"metadata,omitempty"`
	}{r.Model, msgs, r.Prompt, sp.MaxTokens, sp.Temperature, sp.TopP, sp.TopK, sp.Seed, sp.Stop, tools, r.ToolChoice, r.Thinking, r.Metadata}
}

// Record implements gateway.Recorder: it stores the record of a call that
// another process admitted and died serving (a resumable stream ended by
// the replica that found it dead), for ctx's caller, as that process
// would have. Its reservation is not this process's to settle: the dead
// one's lease releases it, uncharged.
func (s *Service) Record(ctx context.Context, rec *gateway.Record) error {
	id, _ := FromContext(ctx)
	a := &admission{s: s, id: id, team: id.TeamID}
	if rec.Request != nil {
		a.reqModel = rec.Request.Model
	}
	if a.team != "" {
		a.charge = s.cfg.JobCredits
		if id.team != nil {
			a.scopes = s.scopes(id, *id.team)
		}
	}
	a.Done(rec)
	return nil
}
