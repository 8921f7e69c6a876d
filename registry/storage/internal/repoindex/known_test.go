package repoindex

import (
	"fmt"
	"testing"
)

// The names whose marker the node saw stay under their bound, the one
// added last among them, and a removed name is no longer known.
func TestKnownNamesBound(t *testing.T) {
	var k knownNames
	for i := range maxKnownNames + 10 {
		k.add(fmt.Sprintf("team/r%05d", i))
	}
	last := fmt.Sprintf("team/r%05d", maxKnownNames+9)
	if n := len(k.m); n > maxKnownNames || n < maxKnownNames*7/8 {
		t.Errorf("%d names held, bound %d", n, maxKnownNames)
	}
	if !k.has(last) {
		t.Error("the name added last was dropped")
	}
	k.remove(last)
	if k.has(last) {
		t.Error("a removed name is still known")
	}
}

// Names never added are not known, whatever was added before them: the
// set holds hashes, and a name it takes for known would lose its marker.
func TestKnownNamesOnlyAdded(t *testing.T) {
	var k knownNames
	if k.has("team/app") {
		t.Fatal("an empty set knows a name")
	}
	for i := range maxKnownNames {
		k.add(fmt.Sprintf("team/r%05d", i))
	}
	for i := range 4 * maxKnownNames {
		if name := fmt.Sprintf("other/r%05d", i); k.has(name) {
			t.Fatalf("%s is known but was never added", name)
		}
	}
	if !k.has("team/r00000") && !k.has("team/r08191") {
		t.Error("neither the first nor the last name added is known")
	}
}

// encodes agrees with indexMarkerPath's encoding.
func TestEncodes(t *testing.T) {
	for _, c := range []struct {
		name, enc string
		want      bool
	}{
		{"a", "a", true},
		{"team/app", "team..app", true},
		{"a/b/c", "a..b..c", true},
		{"team/app", "team..ap", false},
		{"team/app", "team..appx", false},
		{"team/app", "team.app", false},
		{"team/app", "team/app", false},
		{"", "", true},
	} {
		if got := encodes(c.name, c.enc); got != c.want {
			t.Errorf("encodes(%q, %q) = %v, want %v", c.name, c.enc, got, c.want)
		}
		if c.want && c.name != "" && MarkerPath(c.name) != indexNamesDir()+"/"+c.enc {
			t.Errorf("%q: MarkerPath disagrees", c.name)
		}
	}
}
