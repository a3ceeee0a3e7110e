package server

import (
	"context"
	"errors"
	"github.com/runnel/runnel/dialect"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// RunOptions configure Run.
type RunOptions struct {
	// Addr to listen on, e.g. "127.0.0.1:8080"; port 0 picks a free port.
	Addr string
	// Grace is how long shutdown waits for in-flight requests and streams
	// before cancelling them (default 10s).
	Grace time.Duration
	// ReadHeaderTimeout bounds reading a request's headers (default 10s).
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes idle keep-alive connections (default 2m).
	IdleTimeout time.Duration
	// Logger gets the ready line and shutdown messages.
	Logger *slog.Logger
	// ReadyAttrs are added to the ready line (version, providers, …).
	ReadyAttrs []slog.Attr
	// PreStop is how long /readyz answers 503 while serving goes on,
	// before the listener closes: a load balancer's time to stop sending
	// new requests (none when 0).
	PreStop time.Duration
	// Streams are the streams that outlive their requests (resumable
	// ones): shutdown gives them the rest of the grace period, then
	// cancels them with dialect.ErrShuttingDown and waits until they are
	// recorded.
	Streams interface {
		Shutdown(ctx context.Context) error
	}
}

// Run serves h on opts.Addr until ctx is done, then shuts down gracefully:
// /readyz starts failing, serving goes on for opts.PreStop, the listener
// closes, in-flight requests get opts.Grace to finish, then their contexts
// are cancelled with dialect.ErrShuttingDown (each stream ends with its
// dialect's error event, which says so) and the connections are closed.
//
// Once listening it logs exactly one line, "ready", with addr=HOST:PORT (the
// port resolved); tests and scripts wait for it.
func Run(ctx context.Context, h *Handler, opts RunOptions) error {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	grace := opts.Grace
	if grace <= 0 {
		grace = 10 * time.Second
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return err
	}
	// Every request context derives from base, so cancelling it ends all
	// streams (and through them the upstream calls) at once.
	base, cancelAll := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelAll(nil)
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: orDefault(opts.ReadHeaderTimeout, 10*time.Second),
		IdleTimeout:       orDefault(opts.IdleTimeout, 2*time.Minute),
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	attrs := append([]slog.Attr{slog.String("addr", ln.Addr().String())}, opts.ReadyAttrs...)
	log.LogAttrs(ctx, slog.LevelInfo, "ready", attrs...)

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}

	log.Info("shutting down", "grace", grace, "pre_stop", opts.PreStop)
	h.Drain()
	if opts.PreStop > 0 {
		time.Sleep(opts.PreStop) // serving on while /readyz says 503
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err = srv.Shutdown(sctx)
	streamsDone := func() {
		// The streams running on without a client get what is left of
		// the grace period, then are cancelled and recorded.
		if opts.Streams != nil {
			if serr := opts.Streams.Shutdown(sctx); serr != nil {
				log.Warn("resumable streams: not all ended in time", "err", serr)
			}
		}
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		streamsDone()
	} else {
		log.Warn("grace period over; cancelling in-flight streams")
		// Resumable calls first, so that their error events reach the
		// clients following them before those requests are cancelled.
		streamsDone()
		cancelAll(dialect.ErrShuttingDown)
		// Handlers see their context cancelled and return; give them a
		// moment to write their last event before the connections close.
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if srv.Shutdown(cctx) != nil {
			srv.Close()
		}
		err = nil
	}
	if e := <-served; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	// Upstream answers still being drained (dialect.Drain: their ends
	// outlive their calls, by DrainWait at most) have their connections
	// closed now.
	dialect.CloseDrains()
	return err
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
