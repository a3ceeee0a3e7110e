// Package api serves package account over HTTP: the jobs API
// (/api/jobs/…, seed 004) and the admin API (/admin/…).
//
// It is a package of its own, not part of account, because it speaks a
// dialect: job calls stream OpenAI chat chunks, so it builds on
// dialect/openai, and account itself stays free of any wire format.
// Errors use OpenAI's shape, {"error": {"message", "type", "param", "code"}},
// everywhere under both prefixes.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/dialect/openai"
	"github.com/runnel/runnel/stream"
)

// Options configure the jobs API.
type Options struct {
	// DefaultModel is used by job calls that name no model.
	DefaultModel string
	// BodyLimit caps request bodies (dialect.DefaultBodyLimit when 0).
	BodyLimit int64
}

// Jobs serves /api/jobs/….
type Jobs struct {
	acct *account.Service
	chat *openai.Server
	opts Options
}

// NewJobs returns the jobs API. Its calls go through gw, whose Accountant
// must be acct.
func NewJobs(acct *account.Service, gw dialect.Gateway, opts Options) *Jobs {
	if opts.BodyLimit <= 0 {
		opts.BodyLimit = dialect.DefaultBodyLimit
	}
	return &Jobs{acct: acct, chat: openai.NewServer(gw, openai.Options{BodyLimit: opts.BodyLimit}), opts: opts}
}

// Register mounts the jobs API on mux.
func (j *Jobs) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/jobs/create", j.create)
	mux.HandleFunc("POST /api/jobs/create-and-call-stream", j.createAndCall)
	mux.HandleFunc("POST /api/jobs/{job_id}/llm-call-stream", func(w http.ResponseWriter, r *http.Request) { j.call(w, r, true) })
	mux.HandleFunc("POST /api/jobs/{job_id}/llm-call", func(w http.ResponseWriter, r *http.Request) { j.call(w, r, false) })
	mux.HandleFunc("POST /api/jobs/{job_id}/complete", j.complete)
	mux.HandleFunc("GET /api/jobs/{job_id}", j.get)
}

// identity is the caller, or the 401 the auth middleware left in ctx.
func identity(acct *account.Service, r *http.Request) (account.Identity, error) {
	if e := account.AuthError(r.Context()); e != nil {
		return account.Identity{}, e
	}
	id, ok := account.FromContext(r.Context())
	if !ok && acct.Config().Auth {
		return account.Identity{}, stream.Errorf(stream.CodeUnauthorized, "missing API key: send Authorization: Bearer KEY or X-API-Key: KEY")
	}
	return id, nil
}

func (j *Jobs) create(w http.ResponseWriter, r *http.Request) {
	id, err := identity(j.acct, r)
	if err != nil {
		fail(w, err)
		return
	}
	var body struct {
		TeamID  string `json:"team_id"`
		JobType string `json:"job_type"`
	}
	if e := dialect.DecodeJSON(w, r, j.opts.BodyLimit, &body); e != nil {
		fail(w, e)
		return
	}
	job, err := j.acct.CreateJob(r.Context(), id, body.TeamID, body.JobType)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, jobJSON(job, nil, nil, nil))
}

// callBody is an OpenAI chat request plus the job fields of
// create-and-call-stream.
type callBody struct {
	openai.ChatRequest
	TeamID  string `json:"team_id"`
	JobType string `json:"job_type"`
}

// decodeCall reads a job call's body and rewrites r to carry it as the
// OpenAI chat request the openai server expects.
func (j *Jobs) decodeCall(w http.ResponseWriter, r *http.Request, streamed bool) (*callBody, *http.Request, error) {
	var body callBody
	if e := dialect.DecodeJSON(w, r, j.opts.BodyLimit, &body); e != nil {
		return nil, nil, e
	}
	if body.Model == "" {
		if j.opts.DefaultModel == "" {
			return nil, nil, stream.InvalidParam("model", "model is required (this server has no default model)")
		}
		body.Model = j.opts.DefaultModel
	}
	if len(body.Messages) == 0 {
		return nil, nil, stream.InvalidParam("messages", "messages must hold at least one message")
	}
	body.Stream = streamed
	b, err := json.Marshal(&body.ChatRequest)
	if err != nil {
		return nil, nil, stream.InvalidParam("messages", "cannot re-encode the request: %v", err)
	}
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(b))
	r2.ContentLength = int64(len(b))
	return &body, r2, nil
}

// call serves llm-call-stream and llm-call: an OpenAI chat call recorded
// in the job.
func (j *Jobs) call(w http.ResponseWriter, r *http.Request, streamed bool) {
	id, err := identity(j.acct, r)
	if err != nil {
		fail(w, err)
		return
	}
	job, err := j.acct.Job(r.Context(), id, r.PathValue("job_id"))
	if err != nil {
		fail(w, err)
		return
	}
	if !job.Status.Open() {
		fail(w, stream.Errorf(stream.CodeConflict, "job %s is %s; create a new job", job.ID, job.Status))
		return
	}
	_, r2, err := j.decodeCall(w, r, streamed)
	if err != nil {
		fail(w, err)
		return
	}
	j.chat.ChatCompletions(w, r2.WithContext(account.WithJob(r.Context(), job)))
}

// JobIDHeader names the job create-and-call-stream created, on its
// response.
const JobIDHeader = "Runnel-Job-Id"

// createAndCall creates a job (reserving its credits before anything goes
// upstream), streams one call in it and completes it: completed if the
// call ended well, failed otherwise. The job id is in the Runnel-Job-Id
// header. The call's record settles the job in its own transaction before
// the stream's final "data: [DONE]" is written, so a client that reads the
// balance once the stream ended sees the credit deducted.
func (j *Jobs) createAndCall(w http.ResponseWriter, r *http.Request) {
	id, err := identity(j.acct, r)
	if err != nil {
		fail(w, err)
		return
	}
	body, r2, err := j.decodeCall(w, r, true)
	if err != nil {
		fail(w, err)
		return
	}
	job, err := j.acct.CreateJob(r.Context(), id, body.TeamID, body.JobType)
	if err != nil {
		fail(w, err)
		return
	}
	// The call's record settles the job in its own transaction, before
	// the final bytes; what is left is a call that was never recorded
	// (refused before admission), whose job fails here.
	out := account.Outcome{SettleJob: true}
	ctx := account.WithOutcome(account.WithJob(r.Context(), job), &out)
	w.Header().Set(JobIDHeader, job.ID)
	j.chat.ChatCompletions(w, r2.WithContext(ctx))
	if out.Status() != "" {
		return
	}
	status := account.JobFailed
	// The client may be gone; settling must happen anyway.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
	defer cancel()
	if _, _, err := j.acct.CompleteJob(sctx, id, job.ID, status); err != nil {
		// The sweeper releases the reservation later; nothing to tell a
		// client whose stream already ended.
		j.acct.Logger().Error("jobs: completing create-and-call-stream job", "job", job.ID, "err", err)
	}
}

func (j *Jobs) complete(w http.ResponseWriter, r *http.Request) {
	id, err := identity(j.acct, r)
	if err != nil {
		fail(w, err)
		return
	}
	jobID := r.PathValue("job_id")
	if !account.ValidID("job", jobID) {
		fail(w, stream.InvalidParam("job_id", "not a job id (job_ and 16 characters)"))
		return
	}
	var body struct {
		Status string `json:"status"`
	}
	if e := dialect.DecodeJSON(w, r, j.opts.BodyLimit, &body); e != nil {
		fail(w, e)
		return
	}
	job, team, err := j.acct.CompleteJob(r.Context(), id, jobID, account.JobStatus(body.Status))
	if err != nil {
		fail(w, err)
		return
	}
	tot, err := j.acct.Store().JobTotals(r.Context(), job.ID)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, jobJSON(job, &team, &tot, nil))
}

func (j *Jobs) get(w http.ResponseWriter, r *http.Request) {
	id, err := identity(j.acct, r)
	if err != nil {
		fail(w, err)
		return
	}
	job, err := j.acct.Job(r.Context(), id, r.PathValue("job_id"))
	if err != nil {
		fail(w, err)
		return
	}
	tot, err := j.acct.Store().JobTotals(r.Context(), job.ID)
	if err != nil {
		fail(w, err)
		return
	}
	calls, err := j.acct.Store().Calls(r.Context(), job.ID)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, jobJSON(job, nil, &tot, calls))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// fail answers with err in OpenAI's error shape; errors without a code are
// internal and their text stays in the logs.
func fail(w http.ResponseWriter, err error) {
	var e *stream.Error
	if !errors.As(err, &e) {
		e = &stream.Error{Code: stream.CodeInternal, Message: "internal error", Err: err}
	}
	openai.WriteError(w, e)
}
