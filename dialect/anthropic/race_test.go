//go:build race

package anthropic

// raceEnabled: sync.Pool drops some of what it is given under the race
// detector, so counts of allocations a pool saves do not hold.
const raceEnabled = true
