package client_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/api"
	"github.com/runnel/runnel/account/store/sqlite"
	"github.com/runnel/runnel/client"
	"github.com/runnel/runnel/dialect/native"
	"github.com/runnel/runnel/dialect/openai"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/mock"
	"github.com/runnel/runnel/server"
)

// runnel starts a Runnel server in-process, with the mock provider behind
// it, and returns its URL. Real programs point client.New at `runnel serve`.
func runnel() (url string, stop func()) {
	r := gateway.NewStaticRouter()
	r.Register("mock", mock.New(mock.Options{}))
	r.Alias("story", gateway.Target{Provider: "mock", Model: "story?text=Once%20upon%20a%20time%2C%20a%20fox%20sang.&think=3"})
	gw := gateway.New(gateway.Options{Router: r, Prices: gateway.Prices{"story": {InputPerMillion: 1, OutputPerMillion: 2}}})
	h := server.New(server.Options{Dialects: []server.Dialect{
		openai.NewServer(gw, openai.Options{}),
		native.NewServer(gw, native.Options{}),
	}})
	srv := httptest.NewServer(h)
	return srv.URL, srv.Close
}

func ExampleClient_StreamChat() {
	url, stop := runnel()
	defer stop()

	c := client.New(url)
	s := c.StreamChat(context.Background(), client.ChatRequest{
		Model:    "story",
		Messages: []client.Message{{Role: "user", Content: "Sing"}},
	})
	for ev, err := range s.Events() {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		if ev.Channel == "output" {
			fmt.Print(ev.Text)
		}
		if ev.Usage != nil {
			fmt.Printf("\n%d prompt + %d completion tokens\n", ev.Usage.PromptTokens, ev.Usage.CompletionTokens)
		}
	}
	m := s.Metrics()
	fmt.Println("finish:", s.FinishReason(), "chunks:", m.Chunks, "measured:", m.TTFC > 0 && m.Total >= m.TTFC)
	// Output:
	// Once upon a time, a fox sang.
	// 1 prompt + 12 completion tokens
	// finish: stop chunks: 12 measured: true
}

func ExampleClient_Chat() {
	url, stop := runnel()
	defer stop()

	resp, err := client.New(url).Chat(context.Background(), client.ChatRequest{
		Model:    "mock/default?text=Hello%21",
		Messages: []client.Message{{Role: "user", Content: "Hi there"}},
	})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(resp.Text(), resp.Usage.TotalTokens)
	// Output: Hello! 4
}

func ExampleClient_StreamPredict() {
	url, stop := runnel()
	defer stop()

	s := client.New(url).StreamPredict(context.Background(), "mock/default?text=One%20token%20at%20a%20time",
		[]client.Message{{Role: "user", Content: "Go"}}, map[string]any{"max_tokens": 3})
	for ev, err := range s.Events() {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		if ev.Text != "" {
			fmt.Printf("[%s]", ev.Text)
		}
	}
	fmt.Println()
	fmt.Println(s.FinishReason(), s.Usage().CompletionTokens)
	// Output:
	// [One][ token][ at]
	// length 3
}

func ExampleClient_GenerateStream() {
	url, stop := runnel()
	defer stop()

	res, err := client.New(url).GenerateStream(context.Background(),
		client.Prompt("", "story", "Write a line"),
		client.GenerateHandlers{
			OnThinking: func(ch client.GenerateChunk) { fmt.Printf("(thinking %q)\n", ch.Content) },
			OnChunk:    func(ch client.GenerateChunk) {},
			OnComplete: func(f client.GenerateFinal) {
				fmt.Printf("tokens in=%d out=%d cost=%.6f\n", f.Usage.InputTokens, f.Usage.OutputTokens, f.Cost.Total)
			},
		})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(res.Output)
	// Output:
	// (thinking "Let")
	// (thinking " me")
	// (thinking " think")
	// tokens in=3 out=12 cost=0.000027
	// Once upon a time, a fox sang.
}

func ExampleClient_CreateJob() {
	dir, _ := os.MkdirTemp("", "runnel-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	// A server with accounting: a team with 5 credits, jobs on SQLite.
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	acct := account.New(st, account.Config{})
	defer acct.Close()
	team, _ := acct.CreateTeam(ctx, "acme", 5)
	r := gateway.NewStaticRouter()
	r.Register("mock", mock.New(mock.Options{}))
	gw := gateway.New(gateway.Options{Router: r, Accountant: acct})
	h := server.New(server.Options{
		Dialects:   []server.Dialect{api.NewJobs(acct, gw, api.Options{DefaultModel: "mock/default?text=Done."})},
		Middleware: []func(http.Handler) http.Handler{acct.Middleware},
	})
	srv := httptest.NewServer(h)
	defer srv.Close()

	c := client.New(srv.URL)
	job, err := c.CreateJob(ctx, team.ID, "summary")
	if err != nil {
		fmt.Println(err)
		return
	}
	text, err := c.JobCallStream(ctx, job.ID, client.ChatRequest{Messages: []client.Message{{Role: "user", Content: "Summarise"}}}).Text()
	fmt.Println(text, err)
	costs, err := c.CompleteJob(ctx, job.ID, "completed")
	fmt.Println(string(costs["costs"]) != "", err)
	got, _ := c.GetJob(ctx, job.ID)
	fmt.Println(got.Status)
	// Output:
	// Done. <nil>
	// true <nil>
	// completed
}
