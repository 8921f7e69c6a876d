// Package iox holds small io adapters the host agent's packages share:
// a reader that stops when its context ends, and readers and writers that
// report or count the bytes passing through.
//
// It imports only the standard library.
//
// Imports: the standard library only (checked by internal/archtest).
package iox
