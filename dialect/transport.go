package dialect

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"syscall"

	"github.com/runnel/runnel/stream"
)

// TransportError is the error a client gets when the connection to the
// upstream provider failed (dialling it, or reading its answer): a message
// naming the provider and what went wrong, in words, without the
// addresses and ports the network error holds. Those stay in Err and go
// to the log (slog's default logger, which serve sets). A cancelled ctx
// gives its cause instead.
func TransportError(ctx context.Context, provider string, err error) *stream.Error {
	if ctx.Err() != nil {
		return stream.AsError(context.Cause(ctx))
	}
	slog.Default().Warn("upstream transport error", "provider", provider, "err", err)
	return &stream.Error{Code: stream.CodeUpstream, Message: "provider " + provider + ": " + transportProblem(err), Err: err}
}

func transportProblem(err error) string {
	var (
		dnsErr  *net.DNSError
		netErr  net.Error
		certErr *tls.CertificateVerificationError
		unkAuth x509.UnknownAuthorityError
		hostErr x509.HostnameError
		recErr  tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &dnsErr):
		return "the upstream's host name could not be resolved"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "the upstream refused the connection"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "the upstream reset the connection"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "the upstream closed the connection before the answer ended"
	case errors.As(err, &certErr), errors.As(err, &unkAuth), errors.As(err, &hostErr), errors.As(err, &recErr):
		return "the TLS connection to the upstream failed"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "the connection to the upstream timed out"
	}
	return "the connection to the upstream failed"
}
