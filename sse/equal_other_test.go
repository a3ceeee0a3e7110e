//go:build !amd64

package sse

const hasAVX2Able = false

func setAVX2(bool) bool { return false }
