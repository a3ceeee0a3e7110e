package gemini_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/runnel/runnel/dialect/anthropic"
	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/dialect/gemini"
	"github.com/runnel/runnel/gateway"
)

// countingGemini is a fake Gemini whose tokenizer is "a word is a token,
// and each turn costs 3 more": countTokens answers it for the
// generateContentRequest it is given, and a streamed answer reports it as
// promptTokenCount, as the real API's two counts agree.
type countingGemini struct {
	mu     sync.Mutex
	counts []map[string]any // the countTokens bodies received
}

func tokens(r *gemini.Request) int {
	n := 0
	turn := func(c gemini.Content) {
		n += 3
		for _, p := range c.Parts {
			n += len(strings.Fields(p.Text))
			if p.FunctionCall != nil {
				n += 1 + len(strings.Fields(string(p.FunctionCall.Args)))
			}
			if p.FunctionResponse != nil {
				n += 1 + len(strings.Fields(string(p.FunctionResponse.Response)))
			}
		}
	}
	for _, c := range r.Contents {
		turn(c)
	}
	if r.SystemInstruction != nil {
		turn(*r.SystemInstruction)
	}
	for _, t := range r.Tools {
		for _, f := range t.FunctionDeclarations {
			n += 1 + len(strings.Fields(f.Description)) + len(strings.Fields(string(f.Parameters)))
		}
	}
	return n
}

func (g *countingGemini) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	model, method, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v1beta/"), ":")
	if model != "models/gemini-fake" {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"error":{"code":404,"message":"models/%s is not found for API version v1beta","status":"NOT_FOUND"}}`, model)
		return
	}
	switch method {
	case "countTokens":
		var raw map[string]any
		json.Unmarshal(b, &raw)
		g.mu.Lock()
		g.counts = append(g.counts, raw)
		g.mu.Unlock()
		var c struct {
			GenerateContentRequest *struct {
				Model string `json:"model"`
				gemini.Request
			} `json:"generateContentRequest"`
		}
		if json.Unmarshal(b, &c) != nil || c.GenerateContentRequest == nil || c.GenerateContentRequest.Model != model {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"code":400,"message":"bad countTokens request","status":"INVALID_ARGUMENT"}}`)
			return
		}
		fmt.Fprintf(w, `{"totalTokens":%d}`, tokens(&c.GenerateContentRequest.Request))
	case "streamGenerateContent":
		var req gemini.Request
		json.Unmarshal(b, &req)
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Fine.\"}]},\"index\":0}]}\r\n\r\n")
		fmt.Fprintf(w, "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"\"}]},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":%d,\"candidatesTokenCount\":1,\"totalTokenCount\":%d}}\r\n\r\n", tokens(&req), tokens(&req)+1)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// Anthropic's count_tokens on a model Gemini serves is Gemini's own
// countTokens for the very request the call sends, so it equals the
// input_tokens the Messages call then reports: system instruction, tools
// and a final model turn included, as Gemini's usage counts them.
func TestCountTokensThroughGemini(t *testing.T) {
	fake := &countingGemini{}
	up := httptest.NewServer(fake)
	defer up.Close()
	r := gateway.NewStaticRouter()
	r.Register("gemini", gemini.NewProvider(gemini.Config{BaseURL: up.URL + "/v1beta", APIKey: "k"}))
	srv := dialecttest.Serve(t, anthropic.NewServer(gateway.New(gateway.Options{Router: r}), anthropic.Options{BodyLimit: 1 << 20}).Register)

	tool := `"tools":[{"name":"weather","description":"The weather in a city, today","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}]`
	for _, body := range []string{
		`"messages":[{"role":"user","content":"Tell me about the valley."}]`,
		`"system":"Be brief, and kind.","messages":[{"role":"user","content":"Tell me about the valley."}],` + tool,
		`"messages":[{"role":"user","content":"Tell me about the valley."},{"role":"assistant","content":"The valley is"}]`,
		`"messages":[{"role":"user","content":"Weather in Oslo?"},{"role":"assistant","content":[{"type":"tool_use","id":"c1","name":"weather","input":{"city":"Oslo"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"c1","content":"rain, 4 degrees"}]}],` + tool,
	} {
		resp := dialecttest.Post(t, srv.URL+"/v1/messages/count_tokens", `{"model":"gemini/gemini-fake",`+body+`}`)
		var c anthropic.CountTokensResponse
		err := json.NewDecoder(resp.Body).Decode(&c)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil || c.InputTokens == nil {
			t.Fatalf("%s: count %d %v", body, resp.StatusCode, err)
		}
		resp = dialecttest.Post(t, srv.URL+"/v1/messages", `{"model":"gemini/gemini-fake","max_tokens":20,`+body+`}`)
		var m anthropic.MessageResponse
		err = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("%s: messages %d %v", body, resp.StatusCode, err)
		}
		if *c.InputTokens != m.Usage.InputTokens || *c.InputTokens < 4 {
			t.Errorf("%s: counted %d, the call reports %d input tokens", body, *c.InputTokens, m.Usage.InputTokens)
		}
	}
	// What reached Gemini is its countTokens request: the whole
	// generateContent request under the model's resource name.
	fake.mu.Lock()
	first := fake.counts[0]
	fake.mu.Unlock()
	g, _ := first["generateContentRequest"].(map[string]any)
	if g == nil || g["model"] != "models/gemini-fake" || g["contents"] == nil || len(first) != 1 {
		t.Errorf("countTokens body %v", first)
	}

	// Gemini's refusal comes back in Anthropic's error shape, naming it.
	resp := dialecttest.Post(t, srv.URL+"/v1/messages/count_tokens", `{"model":"gemini/gemini-gone","messages":[{"role":"user","content":"hi"}]}`)
	defer resp.Body.Close()
	var er anthropic.ErrorResponse
	if err := json.NewDecoder(resp.Body).Decode(&er); err != nil || resp.StatusCode != http.StatusNotFound || !strings.Contains(er.Error.Message, "not found") {
		t.Errorf("unknown model: %d %+v %v", resp.StatusCode, er, err)
	}
}
