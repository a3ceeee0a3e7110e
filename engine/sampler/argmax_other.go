//go:build !amd64

package sampler

const argmaxAsm = false

func maxAVX2(x *float32, n int) (m float32, nan bool) { panic("unreachable") }

func firstEqualAVX2(x *float32, n int, m float32) int { panic("unreachable") }
