package goclients

// Drives the account layer of a live `runnel serve --auth`: keys made with
// the admin API, calls and jobs through the official openai-go SDK and
// plain HTTP, records that survive a SIGKILL, read back with the
// `runnel usage` and `runnel credits` commands on the same data directory.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/runnel/runnel/test/goclients/harness"
)

const adminKey = "conformance-admin-key"

func post(t *testing.T, url, key, body string) (int, map[string]any, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return res.StatusCode, m, string(b)
}

// runnelCmd runs the runnel binary (an admin command) and returns stdout.
func runnelCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(os.Getenv("RUNNEL_BIN"), args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("runnel %v: %v: %s", args, err, ee.Stderr)
		}
		t.Fatalf("runnel %v: %v", args, err)
	}
	return string(out)
}

func TestAccountLiveServer(t *testing.T) {
	srv := harness.StartServer(t, []string{"RUNNEL_ADMIN_KEY=" + adminKey}, "--auth")
	base := srv.BaseURL

	st, team, body := post(t, base+"/admin/teams", adminKey, `{"name":"live","credits":3}`)
	if st != 201 {
		t.Fatalf("create team: %d %s", st, body)
	}
	teamID := team["id"].(string)
	st, k, body := post(t, base+"/admin/keys", adminKey, `{"team_id":"`+teamID+`"}`)
	if st != 201 {
		t.Fatalf("create key: %d %s", st, body)
	}
	key := k["key"].(string)
	ctx := context.Background()

	// A wrong key is a 401 the SDK reports as an authentication error.
	bad := openai.NewClient(option.WithBaseURL(base+"/v1"), option.WithAPIKey("rk_wrongwrongwrongwrongwrongwrongwrongwrong"), option.WithMaxRetries(0))
	_, err := bad.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "mock/default", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || apiErr.Type != "authentication_error" || strings.Contains(err.Error(), "rk_wrong") {
		t.Fatalf("bad key: %v", err)
	}

	// A streamed call with the team's key costs one credit.
	client := openai.NewClient(option.WithBaseURL(base+"/v1"), option.WithAPIKey(key), option.WithMaxRetries(0))
	s := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:    "mock/default?text=recorded%20before%20the%20crash",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	var text strings.Builder
	for s.Next() {
		if c := s.Current(); len(c.Choices) > 0 {
			text.WriteString(c.Choices[0].Delta.Content)
		}
	}
	if err := s.Err(); err != nil || text.String() != "recorded before the crash" {
		t.Fatalf("stream %q %v", text.String(), err)
	}
	s.Close()

	// A job streamed over the jobs API, completed.
	st, job, body := post(t, base+"/api/jobs/create", key, `{"job_type":"chat"}`)
	if st != 200 {
		t.Fatalf("create job: %d %s", st, body)
	}
	jobID := job["job_id"].(string)
	req, _ := http.NewRequest("POST", base+"/api/jobs/"+jobID+"/llm-call-stream",
		strings.NewReader(`{"model":"mock/default?text=in%20a%20job","messages":[{"role":"user","content":"x"}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("llm-call-stream: %v %v", res, err)
	}
	var jobText strings.Builder
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var c openai.ChatCompletionChunk
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("chunk %q: %v", data, err)
		}
		if len(c.Choices) > 0 {
			jobText.WriteString(c.Choices[0].Delta.Content)
		}
	}
	res.Body.Close()
	if jobText.String() != "in a job" {
		t.Fatalf("job stream %q", jobText.String())
	}
	st, done, body := post(t, base+"/api/jobs/"+jobID+"/complete", key, `{"status":"completed"}`)
	if st != 200 || done["costs"].(map[string]any)["credits_remaining"] != 1.0 {
		t.Fatalf("complete: %d %s", st, body)
	}

	// Crash the server right after the calls ended.
	srv.Kill9()

	// The records are in the store: read them back with the CLI.
	var rows []struct {
		Model string `json:"model"`
		Calls int64  `json:"calls"`
		Usage struct {
			Output int64 `json:"output_tokens"`
		} `json:"usage"`
	}
	out := runnelCmd(t, "usage", "--json", "--team", teamID, "--data-dir", srv.DataDir)
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("usage after kill -9: %q %v", out, err)
	}
	if rows[0].Model != "default?text=in%20a%20job" || rows[0].Usage.Output != 3 ||
		rows[1].Model != "default?text=recorded%20before%20the%20crash" || rows[1].Usage.Output != 4 {
		t.Fatalf("usage rows %+v", rows)
	}
	if out := runnelCmd(t, "credits", "show", "--team", teamID, "--data-dir", srv.DataDir); !strings.Contains(out, "credits   1\n") || !strings.Contains(out, "reserved  0\n") {
		t.Fatalf("credits after kill -9:\n%s", out)
	}
}
