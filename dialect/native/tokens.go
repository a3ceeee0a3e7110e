package native

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// DefaultTokenTTL is how long a stream token is valid.
const DefaultTokenTTL = 5 * time.Minute

// Tokens issues and verifies stream tokens: short-lived, HMAC-signed
// credentials for GET /api/v1/inference/stream, so a browser's EventSource
// (which cannot send headers) never puts a long-lived key in a URL that
// ends up in logs. A token carries the identity of the request that got it
// and its expiry:
//
//	rst1.<expiry, Unix seconds>.<base64url identity>.<base64url HMAC-SHA256>
type Tokens struct {
	secret []byte
	ttl    time.Duration
	now    func() time.Time
}

// NewTokens returns a Tokens signing with secret (a random one when nil,
// so tokens die with the process) and valid for ttl (DefaultTokenTTL if 0).
func NewTokens(secret []byte, ttl time.Duration) *Tokens {
	if len(secret) == 0 {
		secret = make([]byte, 32)
		rand.Read(secret)
	}
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	return &Tokens{secret: secret, ttl: ttl, now: time.Now}
}

const tokenPrefix = "rst1"

var b64 = base64.RawURLEncoding.Strict()

// ErrBadToken is returned by Verify for a token that is malformed, forged
// or expired.
var ErrBadToken = errors.New("invalid or expired stream token")

// Issue returns a token for identity ("" when auth is off) and its expiry.
func (t *Tokens) Issue(identity string) (string, time.Time) {
	exp := t.now().Add(t.ttl).Truncate(time.Second)
	body := tokenPrefix + "." + strconv.FormatInt(exp.Unix(), 10) + "." + b64.EncodeToString([]byte(identity))
	return body + "." + b64.EncodeToString(t.sign(body)), exp
}

func (t *Tokens) sign(body string) []byte {
	m := hmac.New(sha256.New, t.secret)
	m.Write([]byte(body))
	return m.Sum(nil)
}

// Verify checks a token's signature and expiry and returns its identity.
func (t *Tokens) Verify(token string) (string, error) {
	i := strings.LastIndexByte(token, '.')
	if i < 0 {
		return "", ErrBadToken
	}
	body, sig := token[:i], token[i+1:]
	got, err := b64.DecodeString(sig)
	if err != nil || !hmac.Equal(got, t.sign(body)) {
		return "", ErrBadToken
	}
	parts := strings.Split(body, ".")
	if len(parts) != 3 || parts[0] != tokenPrefix {
		return "", ErrBadToken
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || t.now().Unix() >= exp {
		return "", ErrBadToken
	}
	id, err := b64.DecodeString(parts[2])
	if err != nil {
		return "", ErrBadToken
	}
	return string(id), nil
}
