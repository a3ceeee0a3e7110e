package main

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/store/sqlite"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

// runOut is models_test.go's run, stdout only.
func runOut(t *testing.T, args ...string) (string, error) {
	out, _, err := run(t, args...)
	return out, err
}

// TestAdminCommands drives teams, keys, credits and usage against the
// SQLite file a "server" (a Service on the same file) is writing to.
func TestAdminCommands(t *testing.T) {
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := account.New(st, account.Config{Auth: true})
	defer srv.Close()

	out, err := runOut(t, "teams", "create", "acme", "--credits", "5", "--data-dir", dir)
	team := strings.TrimSpace(out)
	if err != nil || !account.ValidID("team", team) {
		t.Fatalf("teams create: %q %v", out, err)
	}
	out, err = runOut(t, "keys", "create", "--team", team, "--data-dir", dir)
	key := strings.TrimSpace(out)
	if err != nil || !strings.HasPrefix(key, "rk_") || strings.Count(out, "\n") != 1 {
		t.Fatalf("keys create: %q %v", out, err)
	}

	// The server writes call records while the CLI works on the same file.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			id, aerr := srv.Authenticate(context.Background(), key)
			if aerr != nil {
				return // revoked
			}
			adm, err := srv.Admit(account.NewContext(context.Background(), id), &stream.Request{Model: "m"})
			if err != nil {
				continue // out of credits
			}
			adm.Done(&gateway.Record{Provider: "mock", Model: "m", Status: "error", Started: time.Now(),
				Usage: stream.Usage{PromptTokens: 2, CompletionTokens: 3}})
		}
	}()

	if out, err := runOut(t, "credits", "add", "--team", team, "3", "--data-dir", dir); err != nil || !strings.Contains(out, "credits   8") {
		t.Fatalf("credits add: %q %v", out, err)
	}
	out, err = runOut(t, "credits", "show", "--team", team, "--json", "--data-dir", dir)
	var shown struct {
		Credits int64 `json:"credits"`
	}
	if err != nil || json.Unmarshal([]byte(out), &shown) != nil || shown.Credits != 8 {
		t.Fatalf("credits show: %q %v", out, err)
	}
	if out, err := runOut(t, "teams", "list", "--data-dir", dir); err != nil || !strings.Contains(out, team) || !strings.Contains(out, "acme") {
		t.Fatalf("teams list: %q %v", out, err)
	}
	if out, err := runOut(t, "keys", "list", "--data-dir", dir); err != nil || !strings.Contains(out, account.LookupPrefix(key)) || strings.Contains(out, key) {
		t.Fatalf("keys list: %q %v", out, err)
	}
	if out, err := runOut(t, "keys", "revoke", account.LookupPrefix(key), "--data-dir", dir); err != nil || !strings.Contains(out, "revoked key_") {
		t.Fatalf("keys revoke: %q %v", out, err)
	}
	// The server sees the revocation on its next lookup.
	if _, err := srv.Authenticate(context.Background(), key); err == nil {
		t.Fatal("revoked key still authenticates")
	}
	close(stop)
	wg.Wait()

	out, err = runOut(t, "usage", "--json", "--team", team, "--data-dir", dir)
	var rows []struct {
		Calls int64 `json:"calls"`
		Usage struct {
			Total int64 `json:"total_tokens"`
		} `json:"usage"`
	}
	if err != nil || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 1 || rows[0].Calls == 0 || rows[0].Usage.Total != 5*rows[0].Calls {
		t.Fatalf("usage: %q %v", out, err)
	}
	if _, err := runOut(t, "teams", "create", "acme", "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("duplicate team: %v", err)
	}
	if _, err := runOut(t, "credits", "show", "--team", "nope", "--data-dir", dir); err == nil {
		t.Fatal("bad team id accepted")
	}
}

// `teams create --id` chooses the team's id (seed 004's "acme-corp"), which
// the other commands then take; credits that would overflow are refused.
func TestTeamsCreateWithID(t *testing.T) {
	dir := t.TempDir()
	out, err := runOut(t, "teams", "create", "Acme", "--id", "acme-corp", "--credits", "5", "--data-dir", dir)
	if err != nil || out != "acme-corp\n" {
		t.Fatalf("teams create --id: %q %v", out, err)
	}
	if out, err := runOut(t, "keys", "create", "--team", "acme-corp", "--data-dir", dir); err != nil || !strings.HasPrefix(out, "rk_") {
		t.Fatalf("keys create: %q %v", out, err)
	}
	if _, err := runOut(t, "teams", "create", "Other", "--id", "Not A Slug", "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "slug") {
		t.Fatalf("bad id: %v", err)
	}
	if _, err := runOut(t, "credits", "add", "--team", "acme-corp", "9223372036854775807", "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "amount") {
		t.Fatalf("overflowing credits: %v", err)
	}
}
