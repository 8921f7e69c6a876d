// Package watchfile keeps a configuration file parsed in memory and
// re-reads it when it changes, failing closed while it cannot be read. The
// htpasswd file, the access policy and the repository policies use it.
//
// It imports only the standard library.
package watchfile
