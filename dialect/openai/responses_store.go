package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/respstore"
	"github.com/runnel/runnel/stream"
)

// This file holds what "store": true means (OpenAI's default): a
// response is kept, with its input as resolved and its output, for
// previous_response_id, item_reference input items and the GET and
// DELETE routes. Records live in a respstore.Store (this process, or
// Redis for every replica), each for the caller who made it.

// storedResponse is a stored response's record.
type storedResponse struct {
	ID       string            `json:"id"`
	Response json.RawMessage   `json:"response"` // the Response object, as GET answers it
	Input    []json.RawMessage `json:"input"`    // its input items as resolved, each with an id
}

// output is the response's output items.
func (r *storedResponse) output() []json.RawMessage {
	var v struct {
		Output []json.RawMessage `json:"output"`
	}
	json.Unmarshal(r.Response, &v)
	return v.Output
}

// storeKey is the key a response is stored under: its call's id without
// the prefixes, which every item id Runnel gives the response carries too
// (see itemStoreKey), so that an item_reference finds its response.
func storeKey(respID string) string {
	return strings.TrimPrefix(strings.TrimPrefix(respID, "resp_"), "call_")
}

// itemStoreKey is the key of the response an item id Runnel assigned
// belongs to: ids are KIND_BASE_N (responseEncoder.open, normalizeInput).
func itemStoreKey(itemID string) (string, bool) {
	i, j := strings.IndexByte(itemID, '_'), strings.LastIndexByte(itemID, '_')
	if i < 0 || j <= i+1 {
		return "", false
	}
	return itemID[i+1 : j], true
}

// owner names the caller stored responses belong to, as resumable
// streams' owners are named ("" with auth off: everyone is one caller).
func (s *Server) owner(ctx context.Context) string {
	if s.opts.Resume.Owner == nil {
		return ""
	}
	return s.opts.Resume.Owner(ctx)
}

// loadResponse reads respID's record for owner; nil if there is none
// (unknown, expired, deleted or another caller's).
func (s *Server) loadResponse(ctx context.Context, respID, owner string) (*storedResponse, *stream.Error) {
	b, err := s.opts.Store.Get(ctx, storeKey(respID), owner)
	if errors.Is(err, respstore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		s.log.Error("openai: reading a stored response", "response", respID, "err", err)
		return nil, stream.Errorf(stream.CodeOverloaded, "stored responses are unavailable just now; retry later")
	}
	var rec storedResponse
	if json.Unmarshal(b, &rec) != nil || rec.ID != respID {
		return nil, nil // another id with the same key, or not a record of ours
	}
	return &rec, nil
}

// itemHeader is what resolution reads of an input item.
type itemHeader struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// resolve expands previous_response_id (the stored response's input and
// output items, before the request's input; its instructions are not
// carried over, as OpenAI does) and item_reference input items (the
// stored items they name) into c.Input. Input that is not well formed is
// left for ToRequest to refuse by name.
func (s *Server) resolve(ctx context.Context, owner string, c *ResponsesRequest) *stream.Error {
	var history []json.RawMessage
	if id := c.PreviousResponseID; id != nil && *id != "" {
		rec, err := s.loadResponse(ctx, *id, owner)
		if err != nil {
			return err
		}
		if rec == nil {
			return &stream.Error{Code: stream.CodeNotFound, Param: "previous_response_id",
				Message: "Previous response with id '" + *id + "' not found (unknown, expired, deleted or made by another caller)."}
		}
		history = append(rec.Input, rec.output()...)
	}
	c.resolved = true // what is left unresolved, ToRequest refuses by name
	raw := bytes.TrimSpace(c.Input)
	if history == nil && (len(raw) == 0 || raw[0] != '[' || !bytes.Contains(raw, []byte(`"item_reference"`))) {
		return nil // nothing to resolve (and no allocation on this path)
	}
	items, ok := inputItems(raw)
	if !ok {
		return nil // not well formed: ToRequest's to refuse
	}
	found := map[string]*storedResponse{}
	for i, it := range items {
		var h itemHeader
		if json.Unmarshal(it, &h) != nil || h.Type != "item_reference" {
			continue
		}
		if h.ID == "" {
			p := "input[" + strconv.Itoa(i) + "].id"
			return stream.InvalidParam(p, "%s is required: the id of the stored item referred to", p)
		}
		item, err := s.findItem(ctx, owner, h.ID, history, found)
		if err != nil {
			return err
		}
		if item == nil {
			p := "input[" + strconv.Itoa(i) + "].id"
			return &stream.Error{Code: stream.CodeNotFound, Param: p,
				Message: "Item with id '" + h.ID + "' not found (" + p + "; unknown, expired, deleted or made by another caller)."}
		}
		items[i] = item
	}
	all, err := json.Marshal(append(history, items...))
	if err != nil {
		return stream.Errorf(stream.CodeInternal, "encoding the resolved input: %v", err)
	}
	c.Input = all
	return nil
}

// inputItems splits input, a string or an array of items, into items.
func inputItems(raw json.RawMessage) ([]json.RawMessage, bool) {
	var items []json.RawMessage
	switch {
	case len(raw) > 0 && raw[0] == '[':
		if json.Unmarshal(raw, &items) != nil {
			return nil, false
		}
	case len(raw) > 0 && raw[0] == '"':
		var text string
		if json.Unmarshal(raw, &text) != nil {
			return nil, false
		}
		items = []json.RawMessage{userItem(text)}
	default:
		return nil, false
	}
	return items, true
}

// findItem is the stored item id: among history's, else in the response
// its id names (cached in found).
func (s *Server) findItem(ctx context.Context, owner, id string, history []json.RawMessage, found map[string]*storedResponse) (json.RawMessage, *stream.Error) {
	if it := itemByID(history, id); it != nil {
		return it, nil
	}
	key, ok := itemStoreKey(id)
	if !ok {
		return nil, nil
	}
	rec, seen := found[key]
	if !seen {
		b, err := s.opts.Store.Get(ctx, key, owner)
		switch {
		case errors.Is(err, respstore.ErrNotFound):
		case err != nil:
			s.log.Error("openai: reading a stored response", "item", id, "err", err)
			return nil, stream.Errorf(stream.CodeOverloaded, "stored responses are unavailable just now; retry later")
		default:
			rec = new(storedResponse)
			if json.Unmarshal(b, rec) != nil {
				rec = nil
			}
		}
		found[key] = rec
	}
	if rec == nil {
		return nil, nil
	}
	if it := itemByID(rec.output(), id); it != nil {
		return it, nil
	}
	return itemByID(rec.Input, id), nil
}

func itemByID(items []json.RawMessage, id string) json.RawMessage {
	for _, it := range items {
		var h itemHeader
		if json.Unmarshal(it, &h) == nil && h.ID == id {
			return it
		}
	}
	return nil
}

func userItem(text string) json.RawMessage {
	b := append([]byte(`{"type":"message","role":"user","content":`), dialect.AppendJSONString(nil, text)...)
	return append(b, '}')
}

// normalizeInput is the input as stored and listed: an array of items,
// each with its type and an id (one of base's where it had none: KIND_
// BASE_inN), messages' content as parts, as OpenAI lists input items.
func normalizeInput(input json.RawMessage, base string) []json.RawMessage {
	raw := bytes.TrimSpace(input)
	var items []json.RawMessage
	if len(raw) > 0 && raw[0] == '"' {
		// One user message (the common case), as the general path below
		// would write it, without its maps.
		b := append(make([]byte, 0, len(raw)+128), `{"content":[{"type":"input_text","text":`...)
		b = append(b, raw...)
		b = append(b, `}],"id":`...)
		b = dialect.AppendJSONString(b, "msg_"+base+"_in0")
		b = append(b, `,"role":"user","status":"completed","type":"message"}`...)
		return []json.RawMessage{b}
	}
	if json.Unmarshal(raw, &items) != nil {
		return nil // not reached: ToRequest accepted it
	}
	out := make([]json.RawMessage, 0, len(items))
	for k, it := range items {
		var m map[string]json.RawMessage
		if json.Unmarshal(it, &m) != nil {
			continue
		}
		var typ, role, id string
		json.Unmarshal(m["type"], &typ)
		json.Unmarshal(m["role"], &role)
		json.Unmarshal(m["id"], &id)
		if typ == "" {
			typ = "message"
			m["type"] = json.RawMessage(`"message"`)
		}
		if typ == "message" {
			if c := bytes.TrimSpace(m["content"]); len(c) > 0 && c[0] == '"' {
				part := "input_text"
				if role == stream.RoleAssistant {
					part = "output_text"
				}
				var text string
				json.Unmarshal(c, &text)
				m["content"] = appendContentItems(nil, []ContentItem{{Type: part, Text: text}})
			}
			if _, ok := m["status"]; !ok {
				m["status"] = json.RawMessage(`"completed"`)
			}
		}
		if id == "" {
			m["id"] = dialect.AppendJSONString(nil, itemPrefix(typ)+"_"+base+"_in"+strconv.Itoa(k))
		}
		b, err := json.Marshal(m)
		if err == nil {
			out = append(out, b)
		}
	}
	return out
}

func itemPrefix(typ string) string {
	switch typ {
	case "message":
		return "msg"
	case "function_call":
		return "fc"
	case "function_call_output":
		return "fco"
	case "reasoning":
		return "rs"
	}
	return "item"
}

// storeTimeout bounds a record's write: the stream's last event waits for
// it (so that a client holding the response can chain from it on any
// replica), but never for long.
const storeTimeout = 5 * time.Second

// keep stores e's response, ended (completed, incomplete or failed), with
// input, its input as resolved. It runs once per call, before the final
// event. A failure is logged: the call was served and is recorded as
// usual; only later references to it will not be found.
func (s *Server) keep(owner string, input json.RawMessage, e *responseEncoder) {
	// The record, storedResponse's JSON, by hand: its parts are valid
	// JSON already, which json.Marshal would scan again.
	b := append(make([]byte, 0, 1024), `{"id":`...)
	b = dialect.AppendJSONString(b, e.resp.ID)
	b = append(b, `,"response":`...)
	b = appendResponse(b, &e.resp, e.tail)
	b = append(b, `,"input":[`...)
	for i, it := range normalizeInput(input, e.base) {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it...)
	}
	b = append(b, "]}"...)
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	err := s.opts.Store.Put(ctx, storeKey(e.resp.ID), owner, b)
	cancel()
	if err != nil {
		s.log.Error("openai: storing a response failed; it cannot be retrieved or continued", "response", e.resp.ID, "bytes", len(b), "err", err)
	}
}

// GetResponse serves GET /v1/responses/{id}: the stored Response object.
func (s *Server) GetResponse(w http.ResponseWriter, r *http.Request) {
	if v := r.URL.Query().Get("stream"); v != "" && v != "false" {
		// OpenAI replays a background response's events; Runnel runs none
		// (a stream that must survive a broken connection is resumable).
		writeError(w, stream.InvalidParam("stream", "stream is not supported on GET /v1/responses/{id}: stored responses are complete; get them without stream (to resume a stream, send Last-Event-ID to POST /v1/responses)"))
		return
	}
	rec := s.storedFor(w, r)
	if rec == nil {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(append(rec.Response, '\n'))
}

// DeleteResponse serves DELETE /v1/responses/{id}.
func (s *Server) DeleteResponse(w http.ResponseWriter, r *http.Request) {
	if e := dialect.Authorize(r.Context(), s.opts.Authorize); e != nil {
		writeError(w, e)
		return
	}
	id := r.PathValue("id")
	owner := s.owner(r.Context())
	rec, e := s.loadResponse(r.Context(), id, owner)
	if e == nil && rec != nil {
		err := s.opts.Store.Delete(r.Context(), storeKey(id), owner)
		if err != nil && !errors.Is(err, respstore.ErrNotFound) {
			s.log.Error("openai: deleting a stored response", "response", id, "err", err)
			e = stream.Errorf(stream.CodeOverloaded, "stored responses are unavailable just now; retry later")
		} else if err != nil {
			rec = nil
		}
	}
	if e != nil {
		writeError(w, e)
		return
	}
	if rec == nil {
		writeError(w, responseNotFound(id))
		return
	}
	writeJSON(w, http.StatusOK, struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Deleted bool   `json:"deleted"`
	}{id, "response", true})
}

// storedFor authorizes r and loads the response its path names, or
// answers with the error and returns nil.
func (s *Server) storedFor(w http.ResponseWriter, r *http.Request) *storedResponse {
	if e := dialect.Authorize(r.Context(), s.opts.Authorize); e != nil {
		writeError(w, e)
		return nil
	}
	id := r.PathValue("id")
	rec, e := s.loadResponse(r.Context(), id, s.owner(r.Context()))
	if e == nil && rec == nil {
		e = responseNotFound(id)
	}
	if e != nil {
		writeError(w, e)
		return nil
	}
	return rec
}

func responseNotFound(id string) *stream.Error {
	return &stream.Error{Code: stream.CodeNotFound, Message: "Response with id '" + id + "' not found (unknown, expired, deleted or made by another caller)."}
}

// InputItems serves GET /v1/responses/{id}/input_items: the response's
// input items as resolved, in OpenAI's list shape, paged by limit (1 to
// 100, default 20), order (desc, the default, or asc), after and before
// (item ids).
func (s *Server) InputItems(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			writeError(w, stream.InvalidParam("limit", "limit must be an integer from 1 to 100, got %q", v))
			return
		}
		limit = n
	}
	order := q.Get("order")
	switch order {
	case "", "desc":
		order = "desc"
	case "asc":
	default:
		writeError(w, stream.InvalidParam("order", "order must be asc or desc, got %q", order))
		return
	}
	rec := s.storedFor(w, r)
	if rec == nil {
		return
	}
	items := append([]json.RawMessage(nil), rec.Input...)
	if order == "desc" {
		for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
			items[i], items[j] = items[j], items[i]
		}
	}
	ids := make([]string, len(items))
	for i, it := range items {
		var h itemHeader
		json.Unmarshal(it, &h)
		ids[i] = h.ID
	}
	from, to := 0, len(items)
	for _, c := range []struct {
		param string
		set   func(i int)
	}{{"after", func(i int) { from = i + 1 }}, {"before", func(i int) { to = i }}} {
		v := q.Get(c.param)
		if v == "" {
			continue
		}
		i := indexOf(ids, v)
		if i < 0 {
			writeError(w, stream.InvalidParam(c.param, "%s: the response has no input item %q", c.param, v))
			return
		}
		c.set(i)
	}
	if to < from {
		to = from
	}
	page := append([]json.RawMessage{}, items[from:to]...)
	more := len(page) > limit
	if more {
		page = page[:limit]
	}
	list := struct {
		Object  string            `json:"object"`
		Data    []json.RawMessage `json:"data"`
		FirstID *string           `json:"first_id"`
		LastID  *string           `json:"last_id"`
		HasMore bool              `json:"has_more"`
	}{Object: "list", Data: page, HasMore: more}
	if len(page) > 0 {
		list.FirstID, list.LastID = &ids[from], &ids[from+len(page)-1]
	}
	writeJSON(w, http.StatusOK, list)
}

func indexOf(ids []string, id string) int {
	for i, v := range ids {
		if v == id {
			return i
		}
	}
	return -1
}
