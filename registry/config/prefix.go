package config

import "strings"

// PathPrefix is http.prefix as the registry serves it: "" for the root,
// else the path before /v2/ with one leading slash and no trailing one
// (/registry/ and /registry are both "/registry", as in Distribution,
// whose router joins the prefix and /v2/ with a single slash).
func (h *HTTP) PathPrefix() string {
	return strings.TrimRight(h.Prefix, "/")
}

// validPrefix reports whether p is a path whose segments are made of
// unreserved URL characters (letters, digits, "-", ".", "_", "~"), none of
// them "." or "..": a prefix that needs no escaping and that a proxy or a
// client cannot normalise into another path.
func validPrefix(p string) bool {
	rest, ok := strings.CutPrefix(strings.TrimRight(p, "/"), "/")
	if !ok {
		return p == "/"
	}
	for seg := range strings.SplitSeq(rest, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		for _, r := range seg {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~", r)) {
				return false
			}
		}
	}
	return true
}
