package api_test

import (
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/mock"
)

// newGateway is the real gateway over the mock provider ("mock/…" models),
// admitting through acct.
func newGateway(acct gateway.Accountant) *gateway.Gateway {
	r := gateway.NewStaticRouter()
	r.Register("mock", mock.New(mock.Options{}))
	return gateway.New(gateway.Options{Router: r, Accountant: acct})
}
