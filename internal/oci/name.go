package oci

// MaxNameLength bounds a repository name, as Distribution does.
const MaxNameLength = 255

// ValidName reports whether name is a repository name of the OCI
// distribution grammar, at most MaxNameLength bytes: components of
// [a-z0-9]+ joined by ".", "_", "__" or runs of "-", separated by "/". The
// grammar admits no empty, "." or ".." component and no component that
// starts with "_", so a name can never reach outside its directory in a
// storage layout nor collide with the "_layers", "_manifests" and
// "_uploads" keys; nor does it admit a wildcard, quote, comma, colon or
// space.
func ValidName(name string) bool {
	if name == "" || len(name) > MaxNameLength {
		return false
	}
	start := 0
	for i := 0; i <= len(name); i++ {
		if i == len(name) || name[i] == '/' {
			if !validComponent(name[start:i]) {
				return false
			}
			start = i + 1
		}
	}
	return true
}

func validComponent(c string) bool {
	if c == "" || !alnum(c[0]) || !alnum(c[len(c)-1]) {
		return false
	}
	for i := 0; i < len(c); i++ {
		switch ch := c[i]; {
		case alnum(ch):
		case ch == '.':
			if !alnum(c[i+1]) {
				return false
			}
		case ch == '_':
			// "_" or "__", then an alphanumeric.
			if c[i+1] == '_' {
				i++
			}
			if !alnum(c[i+1]) {
				return false
			}
		case ch == '-':
			for c[i+1] == '-' {
				i++
			}
			if !alnum(c[i+1]) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func alnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// ValidTag reports whether tag matches [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127},
// the OCI distribution grammar of tags.
func ValidTag(tag string) bool {
	if tag == "" || len(tag) > 128 || tag[0] == '.' || tag[0] == '-' {
		return false
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		if !(alnum(c) || c >= 'A' && c <= 'Z' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
