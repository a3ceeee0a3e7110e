//go:build race

package gateway_test

// raceEnabled: the race detector allocates on its own.
const raceEnabled = true
