//go:build race

package server_test

// raceEnabled: the race detector allocates on its own.
const raceEnabled = true
