package config_test

import (
	"os"
	"testing"

	"github.com/runnel/runnel/internal/testmodels"
)

// TestMain keeps the developer's Ollama store out of the engine's model
// lists.
func TestMain(m *testing.M) {
	testmodels.NoOllamaStore()
	os.Exit(m.Run())
}
