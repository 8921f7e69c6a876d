package oci

import (
	"regexp"
	"strings"
	"testing"
)

// specName is the distribution specification's grammar of repository
// names, as a regular expression: the reference ValidName must agree with.
var specName = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)

var specTag = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)

func TestValidName(t *testing.T) {
	for _, n := range []string{"a", "library/debian", "a.b_c__d---e/f", "x/y/z", strings.Repeat("a", MaxNameLength)} {
		if !ValidName(n) {
			t.Errorf("ValidName(%q) = false", n)
		}
	}
	for _, n := range []string{"", "A", "a/", "/a", "a//b", "a/../b", "..", "a/_layers", "a___b", "a-", "-a", "a.", "a:b", "a b", "a*", strings.Repeat("a", MaxNameLength+1)} {
		if ValidName(n) {
			t.Errorf("ValidName(%q) = true", n)
		}
	}
}

func FuzzValidName(f *testing.F) {
	for _, s := range []string{"a", "a/b", "a__b", "a___b", "a..b", "a-_b", "a/_b", "a.-b", "ab--c", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := len(s) <= MaxNameLength && specName.MatchString(s)
		if got := ValidName(s); got != want {
			t.Fatalf("ValidName(%q) = %v, the specification's grammar says %v", s, got, want)
		}
		if got, want := ValidTag(s), specTag.MatchString(s); got != want {
			t.Fatalf("ValidTag(%q) = %v, the specification's grammar says %v", s, got, want)
		}
	})
}
