//go:build !linux

package exepages

const supported = false

func dontNeed(addr, n uintptr) error { return nil }
