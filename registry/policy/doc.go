// Package policy holds the repository policies of config.yml's policies
// section: retention rules (what garbage collection may take), immutable
// tags, and quotas per namespace. Config is the section as written;
// Compile checks it and turns it into a Set, which the registry consults
// on every request and the retention run applies.
//
// Repository patterns use the access policy's glob grammar
// (internal/glob). The package imports the standard library, internal/glob,
// the OCI spec modules and Masterminds/semver (retention's semver order);
// it never imports the HTTP layer or storage.
package policy
