package glob

import (
	"errors"
	"path"
	"strings"
)

// Check accepts path.Match globs over repository names, with "**"
// allowed only as the whole pattern or its last component.
func Check(p string) error {
	if p == "" {
		return errors.New("empty")
	}
	base := p
	if p == "**" {
		return nil
	}
	if b, ok := strings.CutSuffix(p, "/**"); ok {
		base = b
	}
	if strings.Contains(base, "**") {
		return errors.New(`"**" is allowed only as the last component`)
	}
	if _, err := path.Match(base, "x"); err != nil {
		return err
	}
	return nil
}

// Match reports whether the valid repository name matches p.
func Match(p, name string) bool {
	if p == "**" {
		return true
	}
	if base, ok := strings.CutSuffix(p, "/**"); ok {
		k := strings.Count(base, "/") + 1
		parts := strings.Split(name, "/")
		if len(parts) <= k {
			return false
		}
		ok, _ := path.Match(base, strings.Join(parts[:k], "/"))
		return ok
	}
	ok, _ := path.Match(p, name)
	return ok
}
