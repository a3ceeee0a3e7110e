package engine

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runnel/runnel/engine/kernels"
	"github.com/runnel/runnel/engine/model"
	"github.com/runnel/runnel/engine/sampler"
	"github.com/runnel/runnel/engine/template"
	"github.com/runnel/runnel/engine/tokenizer"
	"github.com/runnel/runnel/stream"
)

// outCap is how many results a sequence may have waiting for its stream's
// goroutine. A sequence whose channel is nearly full is skipped by the
// scheduler until its reader catches up: that is how a slow reader pauses
// its own generation and no one else's. One slot is always kept for the
// final result.
const outCap = 8

// runner schedules one model's sequences.
type runner struct {
	name  string
	m     *model.Model
	vocab tokenizer.Tokenizer
	o     Options
	// tmpl renders chats (nil: the model has none); specials are the
	// control tokens' texts that requests must not forge.
	tmpl     *template.Template
	specials []string

	mu       sync.Mutex
	queue    []*seq // admitted, waiting for a slot
	reserved int    // admitted by Stream, not yet queued by their goroutine
	active   int    // sequences in the scheduler's set
	closed   bool

	wake chan struct{} // cap 1: something changed
	// idle, if set (by tests), is called when the loop has nothing to
	// step and is about to wait, with the number of active sequences and
	// of sequences finished so far.
	idle atomic.Pointer[func(active, finished int)]
	// stepped, if set (by tests), is called before each step with its
	// decode entries, its prompt entries, and the sequences past their
	// prompt that sit this step out because their reader is behind.
	stepped  atomic.Pointer[func(decode, prompt, paused int)]
	finished int
	done     chan struct{} // closed when the loop returned
	pool     []*model.Sequence
	drawRows []int // the step's entries that have logits (sample's scratch)
}

// seq is one generation.
type seq struct {
	prompt    []int
	fed       int   // prompt tokens processed
	history   []int // prompt then output, for the repetition penalty
	next      int   // sampled token to feed next, once the prompt is in
	drawn     int   // the token sampled in the current step
	s         *model.Sequence
	smp       *sampler.Sampler
	maxTokens int
	generated int

	out      chan result
	gone     atomic.Bool // the stream's goroutine returned
	joined   time.Time
	firstTok time.Time
	// fin is set by the stream's Finish; the scheduler ends the sequence
	// at its next step boundary.
	fin stream.FinishRequest
}

// result is one step's outcome for a sequence: a token, or the end.
type result struct {
	token  int
	done   bool
	reason stream.FinishReason
	usage  stream.Usage
	err    *stream.Error
}

func newRunner(name string, m *model.Model, v tokenizer.Tokenizer, o Options) *runner {
	r := &runner{name: name, m: m, vocab: v, o: o, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go r.loop()
	return r
}

func (r *runner) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// start admits a sequence, or refuses it when the queue is full.
func (r *runner) start(ctx context.Context, prompt []int, o sampler.Options, maxTokens, buffer int) (stream.Stream, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, stream.Errorf(stream.CodeOverloaded, "the engine is shutting down")
	}
	if r.active+len(r.queue)+r.reserved >= r.o.MaxParallel+r.o.QueueSize {
		r.mu.Unlock()
		return nil, &stream.Error{Code: stream.CodeOverloaded, RetryAfter: time.Second,
			Message: "the engine is busy: " + r.name + " has its maximum of parallel sequences and its queue is full; retry later"}
	}
	r.reserved++
	r.mu.Unlock()

	sq := &seq{
		prompt: prompt, history: append(make([]int, 0, len(prompt)+64), prompt...),
		smp: sampler.New(o), maxTokens: maxTokens, out: make(chan result, outCap),
	}
	return stream.GoFinisher(ctx, buffer, func(ctx context.Context, emit func(stream.Event) bool) error {
		defer func() {
			sq.gone.Store(true)
			r.poke()
		}()
		r.mu.Lock()
		r.reserved--
		if r.closed {
			r.mu.Unlock()
			return stream.Errorf(stream.CodeOverloaded, "the engine is shutting down")
		}
		r.queue = append(r.queue, sq)
		r.mu.Unlock()
		r.poke()
		return r.relay(ctx, sq, emit)
	}, func(reason stream.FinishReason) bool {
		sq.fin.Set(reason)
		r.poke()
		return true
	}), nil
}

// relay turns a sequence's results into stream events, detokenizing on the
// stream's own goroutine so the scheduler only does model work.
func (r *runner) relay(ctx context.Context, sq *seq, emit func(stream.Event) bool) error {
	dec := tokenizer.NewDecoder(r.vocab, sq.prompt[len(sq.prompt)-1])
	for {
		var res result
		select {
		case res = <-sq.out:
		case <-ctx.Done():
			return ctx.Err()
		}
		// The scheduler may be waiting for this sequence's channel to drain.
		r.poke()
		if res.done {
			if res.err != nil {
				emit(stream.ErrorEvent(res.err))
				emit(stream.Finished(stream.FinishError))
				return nil
			}
			if tail := dec.Flush(); tail != "" && !emit(stream.Delta(tail)) {
				return ctx.Err()
			}
			if !emit(stream.UsageEvent(res.usage)) || !emit(stream.Finished(res.reason)) {
				return ctx.Err()
			}
			return nil
		}
		if text := dec.Next(res.token); text != "" && !emit(stream.Delta(text)) {
			return ctx.Err()
		}
	}
}

// close stops the loop and unmaps the model.
func (r *runner) close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.poke()
	<-r.done
	return r.m.Close()
}

// loop is the scheduler: it admits queued sequences up to MaxParallel,
// builds a step from every sequence that can advance (decode tokens first,
// then prompt chunks up to BatchTokens), runs it, samples, and delivers.
func (r *runner) loop() {
	defer close(r.done)
	batch := r.m.NewBatch(r.o.BatchTokens)
	// The kernels' workers spin between products only while a step is
	// due; with nothing to run they park and the engine burns no CPU.
	var hold kernels.Hold
	defer hold.Release()
	var (
		active  []*seq
		entries []model.Entry
		owners  []*seq
	)
	for {
		r.mu.Lock()
		closed := r.closed
		// Requests cancelled while they waited give their place back;
		// those finished end at once, having generated nothing.
		r.queue = slices.DeleteFunc(r.queue, func(sq *seq) bool {
			if reason, ok := sq.fin.Requested(); ok && !sq.gone.Load() {
				r.finished++
				sq.out <- result{done: true, reason: reason, usage: stream.Usage{PromptTokens: len(sq.prompt)}}
				return true
			}
			return sq.gone.Load()
		})
		for !closed && len(active) < r.o.MaxParallel && len(r.queue) > 0 {
			sq := r.queue[0]
			r.queue[0] = nil
			r.queue = r.queue[1:]
			sq.s = r.sequence()
			sq.joined = time.Now()
			active = append(active, sq)
			r.active++
		}
		if closed {
			for _, sq := range r.queue {
				active = append(active, sq)
			}
			r.queue = nil
		}
		r.mu.Unlock()

		if closed {
			for _, sq := range active {
				r.release(sq)
				sq.out <- result{done: true, err: stream.Errorf(stream.CodeOverloaded, "the engine shut down")}
			}
			return
		}

		// Drop sequences whose stream went away, and build the step.
		entries, owners = entries[:0], owners[:0]
		paused := 0
		keep := active[:0]
		for _, sq := range active {
			if sq.gone.Load() {
				r.release(sq)
				continue
			}
			if reason, ok := sq.fin.Requested(); ok {
				// Finish: end between steps, with the exact usage of what
				// was generated; tokens already relayed count.
				r.finish(sq, reason, time.Now())
				continue
			}
			keep = append(keep, sq)
			if sq.fed == len(sq.prompt) {
				if len(sq.out) >= outCap-1 {
					paused++
					continue
				}
				entries = append(entries, model.Entry{Seq: sq.s, Token: sq.next, WantLogits: true})
				owners = append(owners, sq)
			}
		}
		freed := len(keep) < len(active)
		clear(active[len(keep):])
		active = keep
		decode := len(entries)
		for _, sq := range active {
			room := r.o.BatchTokens - len(entries)
			if sq.fed == len(sq.prompt) || room == 0 {
				continue
			}
			take := min(room, len(sq.prompt)-sq.fed)
			for i := 0; i < take; i++ {
				last := sq.fed+i == len(sq.prompt)-1
				entries = append(entries, model.Entry{Seq: sq.s, Token: sq.prompt[sq.fed+i], WantLogits: last})
				owners = append(owners, sq)
			}
			sq.fed += take
		}
		if len(entries) == 0 {
			if freed {
				// A place came free after this round's admission: admit
				// from the queue before waiting, since the poke that told
				// of it may already have been taken.
				continue
			}
			hold.Release()
			if f := r.idle.Load(); f != nil {
				(*f)(len(active), r.finished)
			}
			<-r.wake
			continue
		}

		if f := r.stepped.Load(); f != nil {
			(*f)(decode, len(entries)-decode, paused)
		}
		hold.Acquire()
		if err := batch.Step(entries); err != nil {
			// A bug, not bad input: Stream checked the prompt. Fail the
			// sequences of this step and carry on with the rest.
			e := &stream.Error{Code: stream.CodeInternal, Message: "engine step failed: " + err.Error(), Err: err}
			for _, sq := range owners {
				if sq.s != nil {
					r.release(sq)
					sq.out <- result{done: true, err: e}
				}
			}
			active = removeReleased(active)
			continue
		}
		now := time.Now()
		r.sample(entries, owners)
		for i := range entries {
			if entries[i].Logits == nil {
				continue
			}
			sq := owners[i]
			tok := sq.drawn
			if sq.generated == 0 {
				sq.firstTok = now
			}
			// The vocabulary's end-of-generation tokens (EOS, end of turn)
			// end a generation; so does BOS, which llama2.c's models write
			// between stories (run.c stops there too). A converted GGUF
			// behaves the same as its checkpoint.
			if r.vocab.IsEOG(tok) || tok == r.vocab.BOS() {
				r.finish(sq, stream.FinishStop, now)
				continue
			}
			sq.generated++
			sq.history = append(sq.history, tok)
			sq.out <- result{token: tok}
			switch {
			case sq.maxTokens > 0 && sq.generated >= sq.maxTokens:
				r.finish(sq, stream.FinishLength, now)
			case sq.s.Pos() >= r.m.SeqLen:
				r.o.Logger.Info("engine: context window full", "model", r.name, "context", r.m.SeqLen, "prompt_tokens", len(sq.prompt), "completion_tokens", sq.generated)
				r.finish(sq, stream.FinishLength, now)
			default:
				sq.next = tok
			}
		}
		active = removeReleased(active)
		// Let the streams run now. Their goroutines were readied on this
		// P by the sends above, and the kernels' workers spin on the other
		// cores between products, so without a yield they would wait until
		// this loop blocks (bursts of outCap tokens) or is preempted.
		runtime.Gosched()
	}
}

// sample draws the next token of every sequence that has logits in this
// step, into its drawn, spread over the kernels' worker pool (held, so
// spinning, during a step). Each sequence has its own sampler and logits,
// so the draws are independent and their results do not depend on the
// split. A draw scans the whole vocabulary: the default top-k of 40 over
// 32,000 logits costs a tenth to a fifth of a 15M-parameter model's
// batched step per sequence, which on the scheduler's goroutine alone
// would run one draw after another while the other cores wait.
func (r *runner) sample(entries []model.Entry, owners []*seq) {
	rows := r.drawRows[:0]
	for i := range entries {
		if entries[i].Logits != nil {
			rows = append(rows, i)
		}
	}
	r.drawRows = rows
	kernels.Parallel(len(rows), len(rows)*r.m.VocabSize*drawWork, func(lo, hi int) {
		for _, i := range rows[lo:hi] {
			sq := owners[i]
			sq.drawn = sq.smp.Sample(entries[i].Logits, sq.history)
		}
	})
}

// drawWork is a draw's cost per logit in the pool's units (multiply-adds):
// a load and a compare or two.
const drawWork = 2

// finish delivers a sequence's last result and frees its cache.
func (r *runner) finish(sq *seq, reason stream.FinishReason, now time.Time) {
	u := stream.Usage{
		PromptTokens:       len(sq.prompt),
		CompletionTokens:   sq.generated,
		PromptDuration:     sq.firstTok.Sub(sq.joined),
		GenerationDuration: now.Sub(sq.firstTok),
	}
	if sq.firstTok.IsZero() { // finished before its first token
		u.PromptDuration, u.GenerationDuration = now.Sub(sq.joined), 0
	}
	r.release(sq) // before the result, so a caller that saw the end can start anew
	r.finished++
	sq.out <- result{done: true, reason: reason, usage: u}
}

// release returns a sequence's KV cache to the pool; s == nil marks the
// sequence as gone from the active set.
func (r *runner) release(sq *seq) {
	if sq.s == nil {
		return
	}
	sq.s.Reset()
	r.pool = append(r.pool, sq.s)
	sq.s = nil
	r.mu.Lock()
	r.active--
	r.mu.Unlock()
}

func removeReleased(active []*seq) []*seq {
	keep := active[:0]
	for _, sq := range active {
		if sq.s != nil {
			keep = append(keep, sq)
		}
	}
	clear(active[len(keep):])
	return keep
}

// sequence takes a KV cache from the pool or allocates one. Caches are
// kept for reuse: at most MaxParallel exist.
func (r *runner) sequence() *model.Sequence {
	if n := len(r.pool); n > 0 {
		s := r.pool[n-1]
		r.pool = r.pool[:n-1]
		return s
	}
	return r.m.NewSequence()
}
