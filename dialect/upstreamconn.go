package dialect

import (
	"context"
	"io"
	"net"
	"net/http"
)

// PoolBodyCopies makes t copy request bodies onto its plain connections
// through a buffer from the pool. net/http writes a body that is not
// already in its buffer with io.Copy to the connection, which for a TCP
// connection (a body from memory is no file to send) allocates a buffer
// as long as the body, up to 32 KiB, each call: about a prompt's length
// of garbage per call (the bare proxy pays it too). The connections t
// dials are wrapped with a ReadFrom that copies through a pooled buffer
// of the same length, so a body still leaves in one write. TLS
// connections write through crypto/tls, which copies as it encrypts.
func PoolBodyCopies(t *http.Transport) {
	dial := t.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if tc, ok := c.(*net.TCPConn); ok {
			return &pooledTCPConn{tc}, nil
		}
		return pooledCopyConn{c}, nil
	}
}

// pooledCopyConn is a connection whose ReadFrom copies through a buffer
// from the pool.
type pooledCopyConn struct{ net.Conn }

// pooledTCPConn is pooledCopyConn for a TCP connection, the usual one.
// Its other methods are the TCPConn's, whose wrappers jump straight to
// them: an upstream's every read (a token's, on a streamed answer)
// passes no wrapper that calls the connection through an interface, as
// pooledCopyConn's Read does.
type pooledTCPConn struct{ *net.TCPConn }

// maxCopy is io.Copy's own buffer length.
const maxCopy = 32 << 10

func (c pooledCopyConn) ReadFrom(r io.Reader) (int64, error) { return pooledCopy(c.Conn, r) }

func (c *pooledTCPConn) ReadFrom(r io.Reader) (int64, error) { return pooledCopy(c.TCPConn, r) }

// pooledCopy copies r to w through a buffer from the pool.
func pooledCopy(w io.Writer, r io.Reader) (int64, error) {
	n := maxCopy
	if l, ok := r.(*io.LimitedReader); ok && l.N < int64(n) {
		n = max(int(l.N), 1)
	}
	p := GetBuffer(n)
	written, err := io.CopyBuffer(writerOnly{w}, r, (*p)[:n])
	PutBuffer(p)
	return written, err
}

// writerOnly hides the connection's own ReadFrom from io.CopyBuffer.
type writerOnly struct{ io.Writer }
