package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
)

// Job is a unit of paid work of a team (see the jobs API). Fields the SDK
// does not model are kept in Raw.
type Job struct {
	ID      string                     `json:"job_id"`
	TeamID  string                     `json:"team_id"`
	JobType string                     `json:"job_type"`
	Status  string                     `json:"status"`
	Raw     map[string]json.RawMessage `json:"-"`
}

func (j *Job) UnmarshalJSON(data []byte) error {
	type plain Job
	if err := json.Unmarshal(data, (*plain)(j)); err != nil {
		return err
	}
	return json.Unmarshal(data, &j.Raw)
}

// CreateJob creates a job for a team, reserving its credit.
func (c *Client) CreateJob(ctx context.Context, teamID, jobType string) (*Job, error) {
	var j Job
	err := c.postJSON(ctx, "/api/jobs/create", map[string]string{"team_id": teamID, "job_type": jobType}, &j)
	return &j, err
}

// GetJob reads a job: status, calls, usage and cost.
func (c *Client) GetJob(ctx context.Context, jobID string) (*Job, error) {
	var j Job
	err := c.getJSON(ctx, "/api/jobs/"+url.PathEscape(jobID), &j)
	return &j, err
}

// CompleteJob settles a job as "completed" (charged) or "failed" (not
// charged). It is idempotent. The answer includes the team's remaining credits.
func (c *Client) CompleteJob(ctx context.Context, jobID, status string) (map[string]json.RawMessage, error) {
	var out map[string]json.RawMessage
	err := c.postJSON(ctx, "/api/jobs/"+url.PathEscape(jobID)+"/complete", map[string]string{"status": status}, &out)
	return out, err
}

// JobCallStream streams an LLM call recorded in the job.
func (c *Client) JobCallStream(ctx context.Context, jobID string, req ChatRequest) *Stream {
	open := func(ctx context.Context, _ string) (*http.Response, error) {
		return c.post(ctx, "/api/jobs/"+url.PathEscape(jobID)+"/llm-call-stream", req, "text/event-stream")
	}
	return newStream(ctx, open, decodeOpenAI)
}

// JobCall runs an LLM call in the job without streaming.
func (c *Client) JobCall(ctx context.Context, jobID string, req ChatRequest) (*ChatResponse, error) {
	var out ChatResponse
	if err := c.postJSON(ctx, "/api/jobs/"+url.PathEscape(jobID)+"/llm-call", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateAndCallStream creates a job, streams one call, and completes the job
// (charging it) when the stream ends, in one request.
func (c *Client) CreateAndCallStream(ctx context.Context, teamID, jobType string, req ChatRequest) *Stream {
	body := struct {
		TeamID  string `json:"team_id"`
		JobType string `json:"job_type"`
		ChatRequest
	}{teamID, jobType, req}
	open := func(ctx context.Context, _ string) (*http.Response, error) {
		return c.post(ctx, "/api/jobs/create-and-call-stream", body, "text/event-stream")
	}
	return newStream(ctx, open, decodeOpenAI)
}
