package postgres

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// channel is the NOTIFY channel of changes to keys and teams; a store
// opened in a schema of its own (tests, side by side in one database)
// has a channel of its own, so that no other schema's changes reach it.
const channel = "runnel_changes"

// channelOf is schema's channel.
func channelOf(schema string) string {
	if schema == "" {
		return channel
	}
	return channel + "_" + schema
}

// listener follows changes to keys and teams made by any process on the
// database (the CLI, other servers) with LISTEN on a connection of its own;
// the version counts notifications. While the connection is down the
// version is unknown, so nothing is served from memory, and every
// reconnection counts as a change, since notifications may have been
// missed meanwhile.
type listener struct {
	db      *sql.DB
	channel string
	version atomic.Uint64
	up      atomic.Bool
	cancel  context.CancelFunc
	done    sync.WaitGroup
}

func listen(cfg *pgx.ConnConfig, db *sql.DB, channel string) *listener {
	ctx, cancel := context.WithCancel(context.Background())
	l := &listener{db: db, channel: channel, cancel: cancel}
	l.done.Add(1)
	go func() {
		defer l.done.Done()
		l.run(ctx, cfg)
	}()
	return l
}

func (l *listener) run(ctx context.Context, cfg *pgx.ConnConfig) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if c, err := pgx.ConnectConfig(ctx, cfg); err == nil {
			if _, err := c.Exec(ctx, "LISTEN "+pgx.Identifier{l.channel}.Sanitize()); err == nil {
				l.version.Add(1)
				l.up.Store(true)
				backoff = 100 * time.Millisecond
				for {
					if _, err := c.WaitForNotification(ctx); err != nil {
						break
					}
					l.version.Add(1)
				}
				l.up.Store(false)
			}
			c.Close(context.Background())
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
			backoff = min(2*backoff, 5*time.Second)
		}
	}
}

func (l *listener) Version() (uint64, bool) {
	// up first: a version read while up cannot belong to an older
	// connection than the one that set up.
	up := l.up.Load()
	return l.version.Load(), up
}

func (l *listener) Changed(ctx context.Context) error {
	_, err := l.db.ExecContext(ctx, "SELECT pg_notify($1, '')", l.channel)
	return err
}

func (l *listener) Close() error {
	l.cancel()
	l.done.Wait()
	return nil
}
