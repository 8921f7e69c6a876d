// Package errdefs holds the host agent's error classes, so that every
// package of the agent (store, layer, and the Agent facade, which
// re-exports them under the same names) wraps the same values. Test with
// errors.Is.
//
// It imports only the standard library and internal/oci.
//
// Imports: the standard library and internal/oci only (a leaf of the
// agent, checked by internal/archtest).
package errdefs
