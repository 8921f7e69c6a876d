// Package keylock holds mutexes by key, made when first wanted and dropped
// when nobody holds or waits for them, whose Lock gives up when its
// context ends: the registry's storage serialises the requests of one
// upload with it, and sync moves one blob per destination at a time.
//
// Imports: the standard library only (a leaf, checked by internal/archtest).
package keylock
