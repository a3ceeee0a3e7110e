package cluster_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// storedCall posts a non-streamed /v1/responses body to url as key and
// decodes the Response.
func storedCall(t *testing.T, ctx context.Context, url, key, body string) (id string, inputTokens, outputTokens int) {
	t.Helper()
	resp := postTo(t, ctx, url+"/v1/responses", key, body, false, "")
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r struct {
		ID    string
		Usage struct {
			In  int `json:"input_tokens"`
			Out int `json:"output_tokens"`
		}
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &r) != nil {
		t.Fatalf("POST %s %s: %d %s", url, body, resp.StatusCode, b)
	}
	return r.ID, r.Usage.In, r.Usage.Out
}

func getAs(t *testing.T, ctx context.Context, url, key string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A chain of stored responses crosses replicas through Redis: turn 2 on
// another replica than turn 1, streamed, gets turn 1's context; turn 3
// chains from turn 1 after the replica that stored it died. Another
// team's key finds nothing, and every call is recorded once.
func TestResponsesStoredAcrossReplicas(t *testing.T) {
	c, team, key := paidCluster(t, "", 20)
	other := adminPost(t, c.Replicas[1].BaseURL+"/admin/teams", `{"name":"other","credits":5}`)["id"].(string)
	otherKey := adminPost(t, c.Replicas[1].BaseURL+"/admin/keys", `{"team_id":"`+other+`"}`)["key"].(string)
	ctx, cancel := context.WithTimeout(context.Background(), deadlock)
	defer cancel()
	const model = `"model":"mock/default?text=Hello%20world%20from%20Runnel"`
	url := func(i int) string { return c.Replicas[i].BaseURL }
	alone := func(input string) int {
		_, in, _ := storedCall(t, ctx, url(2), key, `{`+model+`,"store":false,"input":"`+input+`"}`)
		return in
	}

	id1, in1, out1 := storedCall(t, ctx, url(0), key, `{`+model+`,"instructions":"Be brief","input":"Say hello"}`)
	frames := responseFrames(t, postTo(t, ctx, url(1)+"/v1/responses", key, `{`+model+`,"stream":true,"previous_response_id":"`+id1+`","input":"And again?"}`, false, ""), 0)
	var done struct {
		Type     string
		Response struct {
			ID                 string
			PreviousResponseID string `json:"previous_response_id"`
			Usage              struct {
				In int `json:"input_tokens"`
			}
		}
	}
	if len(frames) == 0 || json.Unmarshal([]byte(frames[len(frames)-1].data), &done) != nil || done.Type != "response.completed" {
		t.Fatalf("turn 2 on replica 1: %v", frames)
	}
	if want := alone("Say hello") + out1 + alone("And again?"); done.Response.Usage.In != want || done.Response.PreviousResponseID != id1 || in1 <= alone("Say hello") {
		t.Fatalf("turn 2: input_tokens %d, want %d (turn 1's input without its instructions, its output, then its own); previous %q",
			done.Response.Usage.In, want, done.Response.PreviousResponseID)
	}

	// Kept in Redis with the TTL, under the cluster's prefix.
	opt, _ := redis.ParseURL(c.RedisURL)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	key1 := c.RedisPrefix + "resp:" + strings.TrimPrefix(id1, "resp_call_")
	if ttl := rdb.PTTL(ctx, key1).Val(); ttl <= 50*time.Minute || ttl > time.Hour {
		t.Errorf("%s: PTTL %v, want the default hour", key1, ttl)
	}

	for i := range 3 {
		if code, body := getAs(t, ctx, url(i)+"/v1/responses/"+done.Response.ID, key); code != 200 || !strings.Contains(body, `"previous_response_id":"`+id1+`"`) {
			t.Errorf("GET on replica %d: %d %s", i, code, body)
		}
		if code, body := getAs(t, ctx, url(i)+"/v1/responses/"+id1, otherKey); code != 404 || strings.Contains(body, "Hello") {
			t.Errorf("another team's GET on replica %d: %d %s", i, code, body)
		}
	}

	c.Replicas[0].Kill()
	_, in3, _ := storedCall(t, ctx, url(2), key, `{`+model+`,"previous_response_id":"`+id1+`","input":"Bye"}`)
	if want := alone("Say hello") + out1 + alone("Bye"); in3 != want {
		t.Errorf("turn 3 after replica 0 died: input_tokens %d, want %d", in3, want)
	}
	resp := postTo(t, ctx, url(1)+"/v1/responses", otherKey, `{`+model+`,"previous_response_id":"`+id1+`","input":"x"}`, false, "")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(b), `"param":"previous_response_id"`) {
		t.Errorf("another team chaining: %d %s", resp.StatusCode, b)
	}

	// 3 turns and 5 calls alone, each recorded once; the refused one made
	// no call.
	if cs := calls(t, url(2), team); len(cs) != 8 {
		t.Errorf("%d calls recorded, want 8", len(cs))
	}
	if cs := calls(t, url(2), other); len(cs) != 0 {
		t.Errorf("%d calls recorded for the other team, want 0", len(cs))
	}
}
