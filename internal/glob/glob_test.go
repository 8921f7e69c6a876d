package glob

import "testing"

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, name string
		want          bool
	}{
		{"**", "a", true},
		{"**", "a/b/c", true},
		{"team/**", "team/app", true},
		{"team/**", "team/app/x", true},
		{"team/**", "team", false},
		{"team/**", "teams/app", false},
		{"team/*", "team/app", true},
		{"team/*", "team/app/x", false},
		{"*/app", "team/app", true},
		{"t?am/**", "team/x", true},
		{"library/debian", "library/debian", true},
		{"library/debian", "library/debian2", false},
	} {
		if err := Check(c.pattern); err != nil {
			t.Fatalf("Check(%q): %v", c.pattern, err)
		}
		if got := Match(c.pattern, c.name); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
	for _, bad := range []string{"", "a/**/b", "**/a", "[", "a/[b"} {
		if Check(bad) == nil {
			t.Errorf("Check(%q) accepted", bad)
		}
	}
}
