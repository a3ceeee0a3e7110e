package api_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/mock"
	"github.com/runnel/runnel/stream"
)

// testGateway follows gateway.Gateway's contract with the Accountant (Admit
// before any upstream work; Done exactly once with the record when the call
// is closed) over the real mock provider, until package gateway's own
// implementation lands on main.
type testGateway struct {
	acct gateway.Accountant
	mock *mock.Provider
}

func (g *testGateway) Models(ctx context.Context) ([]gateway.ModelInfo, error) {
	return g.mock.Models(ctx)
}

func (g *testGateway) Start(ctx context.Context, req *stream.Request) (*gateway.Call, error) {
	if !strings.HasPrefix(req.Model, "mock/") {
		return nil, stream.Errorf(stream.CodeNotFound, "model %q not found", req.Model)
	}
	adm, err := g.acct.Admit(ctx, req)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 8)
	rand.Read(b)
	id := "chatcmpl-" + hex.EncodeToString(b)
	started := time.Now()
	rec := &gateway.Record{ID: id, Request: req, Provider: "mock", Model: strings.TrimPrefix(req.Model, "mock/"), Started: started}
	s, err := g.mock.Stream(ctx, req)
	if err != nil {
		rec.Status, rec.Err = "error", stream.AsError(err)
		adm.Done(rec)
		return nil, err
	}
	ms := &meteredStream{s: s, rec: rec, adm: adm}
	return gateway.NewCall(ms, id, "mock", rec.Model, started, func() gateway.Summary {
		return gateway.Summary{Usage: rec.Usage, Warnings: adm.Warnings()}
	}), nil
}

type meteredStream struct {
	s    stream.Stream
	rec  *gateway.Record
	adm  gateway.Admission
	out  strings.Builder
	once sync.Once
	end  bool
}

func (m *meteredStream) Recv() (stream.Event, error) {
	ev, err := m.s.Recv()
	if err == io.EOF {
		m.end = true
		return ev, err
	}
	if err != nil {
		m.rec.Err = stream.AsError(err)
		return ev, err
	}
	switch ev.Kind {
	case stream.KindDelta:
		if m.rec.TTFT == 0 {
			m.rec.TTFT = time.Since(m.rec.Started)
		}
		if ev.Channel == stream.Output {
			m.out.WriteString(ev.Text)
		}
	case stream.KindUsage:
		m.rec.Usage = *ev.Usage
	case stream.KindFinish:
		m.rec.Finish = ev.Finish
	case stream.KindError:
		m.rec.Err = ev.Err
	}
	return ev, nil
}

func (m *meteredStream) Close() error {
	err := m.s.Close()
	m.once.Do(func() {
		m.rec.Output = m.out.String()
		m.rec.Duration = time.Since(m.rec.Started)
		switch {
		case m.rec.Err != nil:
			m.rec.Status = "error"
		case !m.end:
			m.rec.Status = "cancelled"
		default:
			m.rec.Status = "ok"
		}
		m.adm.Done(m.rec)
	})
	return err
}
