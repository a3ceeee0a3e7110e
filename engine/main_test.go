package engine

import (
	"testing"

	"github.com/runnel/runnel/internal/testmodels"
	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: every
// stream, relay and scheduler must end with its Close. The kernels' worker
// pool lives for the process by design. The developer's Ollama store is
// out of sight.
func TestMain(m *testing.M) {
	testmodels.NoOllamaStore()
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/runnel/runnel/engine/kernels.worker"))
}
