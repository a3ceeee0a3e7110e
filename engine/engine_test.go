package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/engine/gguf"
	"github.com/runnel/runnel/engine/models"
	"github.com/runnel/runnel/engine/tokenizer"
	"github.com/runnel/runnel/internal/testmodels"
	"github.com/runnel/runnel/stream"
)

func newEngine(t *testing.T, o Options) *Engine {
	t.Helper()
	if o.ModelsDir == "" {
		o.ModelsDir = testmodels.Dir(t)
	}
	e, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func ptr[T any](v T) *T { return &v }

func chat(text string, s stream.Sampling) *stream.Request {
	return &stream.Request{Model: "stories260K", Messages: []stream.Message{{Role: stream.RoleUser, Content: text}}, Sampling: s}
}

// TestGreedyMatchesLlama2C is the engine's correctness test: through the
// Provider, stories260K at temperature 0 must write llama2.c's documented
// greedy sample token for token, with exact usage.
func TestGreedyMatchesLlama2C(t *testing.T) {
	e := newEngine(t, Options{})
	// run.c's default 256 steps leave 252 tokens after the 5-token prompt.
	req := chat(testmodels.GreedyPrompt, stream.Sampling{Temperature: ptr(0.0), MaxTokens: len(testmodels.GreedyIDs)})
	s, err := e.Stream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	var (
		text   strings.Builder
		kinds  []stream.Kind
		usage  *stream.Usage
		finish stream.FinishReason
	)
	for ev, err := range stream.Events(s) {
		if err != nil {
			t.Fatal(err)
		}
		if len(kinds) == 0 || kinds[len(kinds)-1] != ev.Kind {
			kinds = append(kinds, ev.Kind)
		}
		switch ev.Kind {
		case stream.KindDelta:
			text.WriteString(ev.Text)
		case stream.KindUsage:
			usage = ev.Usage
		case stream.KindFinish:
			finish = ev.Finish
		}
	}
	s.Close()
	if text.String() != testmodels.GreedyText {
		t.Fatalf("text:\n%q\nwant llama2.c's\n%q", text.String(), testmodels.GreedyText)
	}
	if want := []stream.Kind{stream.KindDelta, stream.KindUsage, stream.KindFinish}; !slices.Equal(kinds, want) {
		t.Fatalf("event kinds %v, want %v", kinds, want)
	}
	if finish != stream.FinishLength {
		t.Fatalf("finish %s, want length", finish)
	}
	if usage.PromptTokens != 5 || usage.CompletionTokens != 252 || usage.Estimated {
		t.Fatalf("usage %+v, want 5 prompt and 252 completion tokens", usage)
	}
	if usage.PromptDuration <= 0 || usage.GenerationDuration <= 0 || usage.TokensPerSecond() <= 0 {
		t.Fatalf("usage timings not measured: %+v", usage)
	}
}

func TestEncodeMatchesRunC(t *testing.T) {
	e := newEngine(t, Options{})
	r, err := e.runner("stories260K")
	if err != nil {
		t.Fatal(err)
	}
	ids := r.vocab.Encode(testmodels.GreedyPrompt, true)
	if !slices.Equal(ids, testmodels.GreedyPromptIDs) {
		t.Fatalf("Encode = %v; run.c has %v", ids, testmodels.GreedyPromptIDs)
	}
	var text strings.Builder
	dec := tokenizer.NewDecoder(r.vocab, ids[len(ids)-1])
	for _, id := range testmodels.GreedyIDs {
		text.WriteString(dec.Next(id))
	}
	text.WriteString(dec.Flush())
	if text.String() != testmodels.GreedyText {
		t.Fatalf("decoded %q", text.String())
	}
}

func collect(t *testing.T, e *Engine, req *stream.Request) stream.Result {
	t.Helper()
	s, err := e.Stream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return stream.Collect(s)
}

// collectTogether runs reqs on e at the same time and collects each.
func collectTogether(e *Engine, reqs []*stream.Request) []stream.Result {
	got := make([]stream.Result, len(reqs))
	var wg sync.WaitGroup
	for i := range reqs {
		wg.Go(func() {
			s, err := e.Stream(context.Background(), reqs[i])
			if err != nil {
				got[i].Err = stream.AsError(err)
				return
			}
			got[i] = stream.Collect(s)
		})
	}
	wg.Wait()
	return got
}

// TestRawPromptAndNoLimit feeds a completion-style prompt with no token
// limit: generation stops at BOS, as run.c does, or at the context end.
func TestRawPromptAndNoLimit(t *testing.T) {
	e := newEngine(t, Options{})
	res := collect(t, e, &stream.Request{Model: "engine/stories260K", Prompt: testmodels.GreedyPrompt, RawPrompt: true,
		Sampling: stream.Sampling{Temperature: ptr(0.0)}})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if !strings.HasPrefix(res.Text, testmodels.GreedyText) {
		t.Fatalf("text does not continue llama2.c's greedy sample: %q", res.Text)
	}
	u := res.Usage
	switch res.Finish {
	case stream.FinishLength:
		if u.PromptTokens+u.CompletionTokens != 512+1 {
			t.Fatalf("finished by length with usage %+v, want the 512-token context used up", u)
		}
	case stream.FinishStop:
		if u.PromptTokens+u.CompletionTokens > 512 {
			t.Fatalf("usage %+v beyond the context", u)
		}
	default:
		t.Fatalf("finish %s", res.Finish)
	}
}

func TestSeed(t *testing.T) {
	e := newEngine(t, Options{})
	run := func(seed int64) string {
		res := collect(t, e, chat("Once upon a time", stream.Sampling{Seed: ptr(seed), MaxTokens: 60}))
		if res.Err != nil || res.Usage.CompletionTokens != 60 {
			t.Fatalf("err %v, usage %+v", res.Err, res.Usage)
		}
		return res.Text
	}
	a, b, c := run(133742), run(133742), run(7)
	if a != b {
		t.Fatalf("same seed, different text:\n%q\n%q", a, b)
	}
	if a == c {
		t.Fatalf("different seeds, same text %q", a)
	}
}

// TestConcurrentMatchesSolo runs more streams than MaxParallel at once:
// batched with each other, queued and joining mid-flight, each must write
// what it writes alone.
func TestConcurrentMatchesSolo(t *testing.T) {
	e := newEngine(t, Options{MaxParallel: 3, BatchTokens: 8})
	prompts := []string{"Once upon a time", "Lily", "The cat sat", "One day, a big dog", "Tom and Sue", "The sun", "A little bird", ""}
	reqs := make([]*stream.Request, len(prompts))
	want := make([]stream.Result, len(prompts))
	for i, p := range prompts {
		reqs[i] = chat(p, stream.Sampling{Temperature: ptr(0.8), Seed: ptr(int64(i)), MaxTokens: 40 + 7*i})
		want[i] = collect(t, e, reqs[i])
	}
	got := collectTogether(e, reqs)
	for i := range got {
		if got[i].Err != nil || got[i].Text != want[i].Text || got[i].Finish != want[i].Finish ||
			got[i].Usage.PromptTokens != want[i].Usage.PromptTokens || got[i].Usage.CompletionTokens != want[i].Usage.CompletionTokens {
			t.Errorf("stream %d concurrent: %q %s %+v %v\nsolo: %q %s %+v", i, got[i].Text, got[i].Finish, got[i].Usage, got[i].Err,
				want[i].Text, want[i].Finish, want[i].Usage)
		}
	}
}

// TestJoinDoesNotStall: a long prompt that joins while another sequence
// decodes is prefilled in chunks beside the other's decode token, within
// BatchTokens a step, so the decoding stream gets a token in every step
// of the prefill (unless its own reader is behind, which pauses it alone).
//
// Whether the decoding stream's reader keeps up is the machine's doing:
// on a loaded one its relay goroutine may lag through a whole prefill
// (every step paused), or the decoding stream end before the prompt
// joins. Such a try shows nothing and the join is tried again; every
// try's steps are checked in full.
func TestJoinDoesNotStall(t *testing.T) {
	const batchTokens = 8
	e := newEngine(t, Options{MaxParallel: 2, BatchTokens: batchTokens})
	r, err := e.runner("stories260K")
	if err != nil {
		t.Fatal(err)
	}
	type step struct{ decode, prompt, paused int }
	var (
		mu      sync.Mutex
		joining bool // set once the first stream has its first token
		steps   []step
	)
	f := func(decode, prompt, paused int) {
		mu.Lock()
		defer mu.Unlock()
		if joining {
			steps = append(steps, step{decode, prompt, paused})
		}
	}
	r.stepped.Store(&f)

	long := strings.Repeat("Once upon a time, there was a little girl named Lily. ", 3)
	for try := 1; ; try++ {
		mu.Lock()
		joining, steps = false, nil
		mu.Unlock()
		a, err := e.Stream(context.Background(), chat("Once upon a time", stream.Sampling{Temperature: ptr(0.0), MaxTokens: 200}))
		if err != nil {
			t.Fatal(err)
		}
		if ev, err := a.Recv(); err != nil || ev.Kind != stream.KindDelta {
			t.Fatalf("first event %v, %v", ev, err)
		}
		mu.Lock()
		joining = true
		mu.Unlock()
		done := make(chan stream.Result)
		go func() { done <- stream.Collect(a) }()
		b := collect(t, e, chat(long, stream.Sampling{Temperature: ptr(0.0), MaxTokens: 1}))
		if resA := <-done; resA.Err != nil || b.Err != nil {
			t.Fatalf("errors: %v, %v", resA.Err, b.Err)
		}
		if b.Usage.PromptTokens <= 3*batchTokens {
			t.Fatalf("the joining prompt is %d tokens: too short to take several steps", b.Usage.PromptTokens)
		}
		mu.Lock()
		got := steps
		joining = false
		mu.Unlock()
		// The joining prompt decodes nothing (one token, sampled from its
		// prefill): a step decoding or pausing is the first stream's, so
		// it was running until the last such step.
		running := -1
		for i, s := range got {
			if s.decode > 0 || s.paused > 0 {
				running = i
			}
		}
		prefill, beside := 0, 0
		for i, s := range got {
			if s.decode+s.prompt > batchTokens {
				t.Errorf("step %d: %+v is over BatchTokens %d", i, s, batchTokens)
			}
			if s.prompt == 0 {
				continue
			}
			prefill++
			if s.decode > 0 {
				beside++
			} else if s.paused == 0 && i < running {
				t.Errorf("step %d: %+v: the decoding stream was left out of a prefill step", i, s)
			}
		}
		if prefill < 3 {
			t.Fatalf("%d prefill steps: %+v", prefill, got)
		}
		if beside > 0 || t.Failed() {
			return
		}
		if try == 20 {
			t.Fatalf("%d tries, none with a prefill step beside a decode token; the last: %+v", try, got)
		}
		t.Logf("try %d: the first stream was paused or done through the prefill; again", try)
	}
}

type idleState struct{ active, finished int }

// idleHook reports each time the scheduler runs out of work. It keeps the
// latest state rather than drop it when the test is behind, so a state the
// scheduler settles in is always seen.
func idleHook(t *testing.T, e *Engine) chan idleState {
	r, err := e.runner("stories260K")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan idleState, 1)
	f := func(active, finished int) {
		for { // the loop is the only sender
			select {
			case ch <- idleState{active, finished}:
				return
			default:
				select {
				case <-ch:
				default:
				}
			}
		}
	}
	r.idle.Store(&f)
	return ch
}

// idleHang bounds a wait for a scheduler state: the test fails with every
// goroutine's stack rather than hang until the package's timeout. It is a
// hang guard, not a time limit on the engine.
const idleHang = 2 * time.Minute

// waitIdle reads idle states until one satisfies until (which may fail the
// test on a state that must not occur), failing if none comes within
// idleHang.
func waitIdle(t *testing.T, idle chan idleState, what string, until func(idleState) bool) {
	t.Helper()
	hang := time.NewTimer(idleHang)
	defer hang.Stop()
	for {
		select {
		case st := <-idle:
			if until(st) {
				return
			}
		case <-hang.C:
			buf := make([]byte, 1<<20)
			t.Fatalf("the scheduler never went idle %s; goroutines:\n%s", what, buf[:runtime.Stack(buf, true)])
		}
	}
}

// TestSlowReaderPauses: a reader that stops reading stops the generation
// once its buffers are full; reading on resumes it with nothing lost.
func TestSlowReaderPauses(t *testing.T) {
	e := newEngine(t, Options{BufferSize: 2})
	idle := idleHook(t, e)
	s, err := e.Stream(context.Background(), chat(testmodels.GreedyPrompt, stream.Sampling{Temperature: ptr(0.0), MaxTokens: 252}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	first, err := s.Recv()
	if err != nil || first.Kind != stream.KindDelta {
		t.Fatalf("first event %v, %v", first, err)
	}
	// The scheduler goes idle with the sequence still active: paused.
	waitIdle(t, idle, "with the sequence paused", pausedOne(t))
	text := first.Text
	var res stream.Result
	for ev, err := range stream.Events(s) {
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Kind {
		case stream.KindDelta:
			text += ev.Text
		case stream.KindUsage:
			res.Usage = ev.Usage
		}
	}
	if text != testmodels.GreedyText || res.Usage.CompletionTokens != 252 {
		t.Fatalf("after the pause: %q, usage %+v", text, res.Usage)
	}
}

// TestCancel: closing a stream (a client going away) frees its sequence.
func TestCancel(t *testing.T) {
	e := newEngine(t, Options{})
	idle := idleHook(t, e)
	ctx, cancel := context.WithCancel(context.Background())
	// Greedy, so the story is known to be longer than the buffers: one
	// that ended before they filled would never pause.
	s, err := e.Stream(ctx, chat(testmodels.GreedyPrompt, stream.Sampling{Temperature: ptr(0.0)}))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	// Nobody reads on, so the sequence pauses; then the client goes away.
	waitIdle(t, idle, "with the sequence paused", pausedOne(t))
	cancel()
	if _, err := s.Recv(); err == nil || err == io.EOF {
		// Buffered events may still come; drain until the stream ends.
		for err == nil {
			_, err = s.Recv()
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled stream ended with %v", err)
		}
	}
	s.Close()
	waitIdle(t, idle, "with the sequence gone", func(st idleState) bool {
		if st.finished != 0 {
			t.Fatal("the cancelled sequence ran to its end")
		}
		return st.active == 0
	})
}

// pausedOne is waitIdle's condition for one sequence paused by its reader:
// idle with it active. A sequence that finished instead never pauses.
func pausedOne(t *testing.T) func(idleState) bool {
	return func(st idleState) bool {
		if st.finished > 0 {
			t.Fatal("the sequence ran to its end while nobody read")
		}
		return st.active == 1
	}
}

func TestOverloaded(t *testing.T) {
	e := newEngine(t, Options{MaxParallel: 1, QueueSize: 1, BufferSize: 1})
	var open []stream.Stream
	defer func() {
		for _, s := range open {
			s.Close()
		}
	}()
	req := chat("Once upon a time", stream.Sampling{})
	for i := 0; i < 2; i++ { // one running (paused: nobody reads), one queued
		s, err := e.Stream(context.Background(), req)
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		open = append(open, s)
	}
	_, err := e.Stream(context.Background(), req)
	var se *stream.Error
	if !errors.As(err, &se) || se.Code != stream.CodeOverloaded || se.RetryAfter <= 0 {
		t.Fatalf("third stream: %v, want overloaded with retry-after", err)
	}
	// Closing the running stream lets the queued one run to the end.
	open[0].Close()
	res := stream.Collect(open[1])
	if res.Err != nil || res.Text == "" {
		t.Fatalf("queued stream: %+v", res)
	}
	if s, err := e.Stream(context.Background(), req); err != nil {
		t.Fatalf("after the queue drained: %v", err)
	} else {
		s.Close()
	}
}

func TestErrors(t *testing.T) {
	e := newEngine(t, Options{})
	long := strings.Repeat("a b c d e f g h ", 200)
	for _, tc := range []struct {
		name  string
		req   *stream.Request
		code  stream.Code
		param string
		want  string
	}{
		{"unknown model", &stream.Request{Model: "nope", Prompt: "x"}, stream.CodeNotFound, "model", "runnel pull --models-dir "},
		{"bad temperature", chat("x", stream.Sampling{Temperature: ptr(-1.0)}), stream.CodeInvalidRequest, "temperature", "between 0 and 100"},
		{"bad top_p", chat("x", stream.Sampling{TopP: ptr(1.5)}), stream.CodeInvalidRequest, "top_p", "between 0 and 1"},
		{"bad top_k", chat("x", stream.Sampling{TopK: ptr(-2)}), stream.CodeInvalidRequest, "top_k", "negative"},
		{"bad max_tokens", chat("x", stream.Sampling{MaxTokens: -1}), stream.CodeInvalidRequest, "max_tokens", "negative"},
		{"prompt too long", chat(long, stream.Sampling{}), stream.CodeInvalidRequest, "messages", "context of 512"},
		{"tools required", &stream.Request{Model: "stories260K", Prompt: "x", Tools: []stream.Tool{{Name: "f"}}, ToolChoice: "required"}, stream.CodeInvalidRequest, "tool_choice", "cannot call tools"},
		{"json_object", &stream.Request{Model: "stories260K", Prompt: "x", ResponseFormat: &stream.ResponseFormat{Type: stream.FormatJSONObject}},
			stream.CodeInvalidRequest, "response_format", "response_format json_object is not supported by provider engine"},
		{"json_schema", &stream.Request{Model: "stories260K", Prompt: "x", ResponseFormat: &stream.ResponseFormat{Type: stream.FormatJSONSchema, Name: "p"}},
			stream.CodeInvalidRequest, "response_format", "response_format json_schema is not supported by provider engine"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Stream(context.Background(), tc.req)
			var se *stream.Error
			if !errors.As(err, &se) || se.Code != tc.code || se.Param != tc.param || !strings.Contains(se.Message, tc.want) {
				t.Fatalf("err = %v, want %s on %q mentioning %q", err, tc.code, tc.param, tc.want)
			}
		})
	}
	// The hint names the directory the engine reads, so that following
	// it fixes the 404.
	dir := t.TempDir()
	empty := newEngine(t, Options{ModelsDir: dir})
	_, err := empty.Stream(context.Background(), &stream.Request{Prompt: "x"})
	if err == nil || !strings.Contains(err.Error(), "runnel pull --models-dir "+dir+" stories260K") {
		t.Fatalf("missing default model: %v", err)
	}
}

// The engine says which formats it honours (gateway.FormatChecker), and
// free text still generates with a text format set.
func TestResponseFormat(t *testing.T) {
	e := newEngine(t, Options{})
	for typ, want := range map[stream.FormatType]bool{stream.FormatText: true, stream.FormatJSONObject: false, stream.FormatJSONSchema: false} {
		if got := e.CanFormat("stories260K", typ); got != want {
			t.Errorf("CanFormat(%s) = %v, want %v", typ, got, want)
		}
	}
	s, err := e.Stream(context.Background(), &stream.Request{Model: "stories260K", Prompt: "Once", RawPrompt: true,
		Sampling: stream.Sampling{MaxTokens: 3}, ResponseFormat: &stream.ResponseFormat{Type: stream.FormatText}})
	if err != nil {
		t.Fatal(err)
	}
	if r := stream.Collect(s); r.Err != nil || r.Usage == nil || r.Usage.CompletionTokens != 3 {
		t.Fatalf("text format: %+v", r)
	}
}

func TestModels(t *testing.T) {
	e := newEngine(t, Options{})
	list, err := e.Models(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range list {
		ids = append(ids, fmt.Sprintf("%s/%s/%d", m.Provider, m.ID, m.ContextLength))
	}
	if !slices.Contains(ids, "engine/stories260K/512") {
		t.Fatalf("models %v lack stories260K", ids)
	}
}

// TestGGUFGreedy serves stories260K converted to GGUF: at F32 and F16 the
// greedy text through the Provider is llama2.c's, with the tokenizer read
// from the GGUF file itself.
func TestGGUFGreedy(t *testing.T) {
	src := testmodels.Dir(t)
	dir := t.TempDir()
	for _, typ := range []string{"f32", "f16"} {
		if _, err := models.Convert(filepath.Join(src, "stories260K.bin"), filepath.Join(src, "tok512.bin"),
			filepath.Join(dir, "stories-"+typ+".gguf"), models.ConvertTypes[typ]); err != nil {
			t.Fatal(err)
		}
	}
	e := newEngine(t, Options{ModelsDir: dir})
	for _, typ := range []string{"f32", "f16"} {
		req := chat(testmodels.GreedyPrompt, stream.Sampling{Temperature: ptr(0.0), MaxTokens: len(testmodels.GreedyIDs)})
		req.Model = "engine/stories-" + typ
		res := collect(t, e, req)
		if res.Err != nil || res.Text != testmodels.GreedyText || res.Usage.PromptTokens != 5 || res.Usage.CompletionTokens != 252 {
			t.Fatalf("%s: %v %+v\n%q", typ, res.Err, res.Usage, res.Text)
		}
	}
	// With no token limit the GGUF file stops where the checkpoint does.
	bin := collect(t, newEngine(t, Options{}), chat(testmodels.GreedyPrompt, stream.Sampling{Temperature: ptr(0.0)}))
	gg := collect(t, e, &stream.Request{Model: "stories-f16", Messages: []stream.Message{{Role: "user", Content: testmodels.GreedyPrompt}},
		Sampling: stream.Sampling{Temperature: ptr(0.0)}})
	if gg.Text != bin.Text || gg.Finish != bin.Finish || gg.Usage.PromptTokens != bin.Usage.PromptTokens ||
		gg.Usage.CompletionTokens != bin.Usage.CompletionTokens {
		t.Fatalf("unlimited: gguf %s %+v, checkpoint %s %+v", gg.Finish, gg.Usage, bin.Finish, bin.Usage)
	}
	list, _ := e.Models(context.Background())
	if len(list) != 2 || list[0].ContextLength != 512 {
		t.Fatalf("models %+v", list)
	}
}

func TestPromptText(t *testing.T) {
	for _, tc := range []struct {
		req  stream.Request
		want string
	}{
		{stream.Request{Prompt: "raw text"}, "raw text"},
		{stream.Request{Prompt: "", RawPrompt: true, Messages: []stream.Message{{Content: "ignored"}}}, ""},
		{stream.Request{Messages: []stream.Message{{Role: "system", Content: "Tell a story."}, {Role: "user", Content: "Once upon a time"}, {Role: "assistant"}}},
			"Tell a story.\nOnce upon a time"},
	} {
		if got := promptText(&tc.req); got != tc.want {
			t.Errorf("promptText(%+v) = %q, want %q", tc.req, got, tc.want)
		}
	}
}

func TestUnloadableModel(t *testing.T) {
	dir := t.TempDir()
	// A GGUF file of another architecture: listed, but refused clearly.
	w := gguf.NewWriter()
	w.Add("general.architecture", "gpt2")
	f, _ := os.Create(filepath.Join(dir, "other.gguf"))
	w.WriteTo(f)
	f.Close()
	e := newEngine(t, Options{ModelsDir: dir})
	_, err := e.Stream(context.Background(), &stream.Request{Model: "other", Prompt: "x"})
	var se *stream.Error
	if !errors.As(err, &se) || se.Code != stream.CodeUnsupported || se.Param != "model" ||
		!strings.Contains(se.Message, `model other cannot be served: model: architecture "gpt2" is not supported`) || strings.Contains(se.Message, dir) {
		t.Fatalf("err = %v", err)
	}
}

// TestManyStreams mixes 64 streams that read to the end, cancel midway or
// close before reading, through 4 slots and a queue: every finished stream
// has its exact text and usage, and nothing is left running (see TestMain).
func TestManyStreams(t *testing.T) {
	e := newEngine(t, Options{MaxParallel: 4, QueueSize: 64, BatchTokens: 16})
	want := collect(t, e, chat("Once upon a time", stream.Sampling{Temperature: ptr(0.0), MaxTokens: 20}))
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s, err := e.Stream(ctx, chat("Once upon a time", stream.Sampling{Temperature: ptr(0.0), MaxTokens: 20}))
			if err != nil {
				errs <- err
				return
			}
			switch i % 3 {
			case 0: // read to the end
				res := stream.Collect(s)
				if res.Text != want.Text || res.Usage.CompletionTokens != 20 || res.Finish != stream.FinishLength {
					errs <- fmt.Errorf("stream %d: %q %+v %s %v", i, res.Text, res.Usage, res.Finish, res.Err)
				}
			case 1: // cancel after a few events
				for j := 0; j < i%5; j++ {
					if _, err := s.Recv(); err != nil {
						break
					}
				}
				cancel()
				s.Close()
			case 2: // close without reading
				s.Close()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// The engine is still healthy afterwards.
	if res := collect(t, e, chat("Once upon a time", stream.Sampling{Temperature: ptr(0.0), MaxTokens: 20})); res.Text != want.Text {
		t.Fatalf("after the storm: %q", res.Text)
	}
}

// TestQueuedCancelFreesPlace: a request cancelled while it waits in the
// queue gives its place back even while the running ones are paused.
func TestQueuedCancelFreesPlace(t *testing.T) {
	e := newEngine(t, Options{MaxParallel: 1, QueueSize: 1, BufferSize: 1})
	idle := idleHook(t, e)
	req := chat(testmodels.GreedyPrompt, stream.Sampling{Temperature: ptr(0.0)})
	running, err := e.Stream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer running.Close()
	waitIdle(t, idle, "with the unread stream paused", pausedOne(t))
	queued, err := e.Stream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Stream(context.Background(), req); err == nil {
		t.Fatal("third stream admitted past a full queue")
	}
	queued.Close()
	r, _ := e.runner("stories260K")
	waitIdle(t, idle, "with the cancellation seen", func(idleState) bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.queue)+r.reserved == 0
	})
	s, err := e.Stream(context.Background(), req)
	if err != nil {
		t.Fatalf("queue place not given back: %v", err)
	}
	s.Close()
}
