//go:build race

package sse

// raceEnabled: sync.Pool drops some of what it is given under the race
// detector, so counts of what pools save do not hold.
const raceEnabled = true
