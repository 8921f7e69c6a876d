// Package glob is the grammar of repository-name patterns shared by the
// access policy and the repository policies: path.Match globs, where * and
// ? stay within a path component, and "**" matches everything, alone or as
// the last component ("team/**": every repository below team/).
//
// It imports only the standard library.
//
// Imports: the standard library only.
package glob
