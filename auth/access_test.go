package auth

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseScope(t *testing.T) {
	tests := []struct {
		scope string
		want  []Access // nil: invalid
	}{
		{"repository:a:pull", Repository("a", "pull")},
		{"repository:team/app:pull,push", Repository("team/app", "pull", "push")},
		{"repository:a-b.c__d/e:delete,pull,push", Repository("a-b.c__d/e", "delete", "pull", "push")},
		{"registry:catalog:*", []Access{Catalog}},
		{"registry:admin:*", []Access{Admin}},
		{"repository:a/b:*", Repository("a/b", "pull", "push", "delete")}, // every action (containers/image before a DELETE)

		{"", nil},
		{"repository:a", nil},
		{"repository:a:pull:push", nil},                           // an injected colon
		{"repository:a/../b:pull", nil},                           // traversal
		{"repository:../a:pull", nil},                             // traversal
		{"repository:./a:pull", nil},                              // dot component
		{"repository:a//b:pull", nil},                             // empty component
		{"repository:*:pull", nil},                                // wildcard name
		{"repository:a/*:pull", nil},                              // glob
		{"repository:a?:pull", nil},                               // glob
		{"repository:a,b:pull", nil},                              // an injected comma in the name
		{`repository:a",scope="b:pull`, nil},                      // an injected quote
		{"repository:a b:pull", nil},                              // a space in the name
		{"repository:A:pull", nil},                                // upper case
		{"repository:a:pull,*", nil},                              // a wildcard among other actions
		{"repository:a:*,*", nil},                                 // a repeated wildcard
		{"repository:*:*", nil},                                   // wildcard name
		{"repository:a:pull,,push", nil},                          // empty action
		{"repository:a:pull,", nil},                               // trailing comma
		{"repository:a:pull,pull", nil},                           // repeated action
		{"repository:a:admin", nil},                               // unknown action
		{"repository:a:", nil},                                    // no action
		{"repository(plugin):a:pull", nil},                        // resource class
		{"registry:catalog:pull", nil},                            // catalog takes only *
		{"registry:other:*", nil},                                 // unknown registry resource
		{"image:a:pull", nil},                                     // unknown type
		{"repository::pull", nil},                                 // empty name
		{"repository:" + strings.Repeat("a", 256) + ":pull", nil}, // too long a name
	}
	for _, tt := range tests {
		got, err := ParseScope(tt.scope)
		switch {
		case tt.want == nil && err == nil:
			t.Errorf("ParseScope(%q) = %v, want an error", tt.scope, got)
		case tt.want == nil && !errors.Is(err, ErrInvalidScope):
			t.Errorf("ParseScope(%q) error %v, want ErrInvalidScope", tt.scope, err)
		case tt.want != nil && (err != nil || !slices.Equal(got, tt.want)):
			t.Errorf("ParseScope(%q) = %v, %v, want %v", tt.scope, got, err, tt.want)
		}
	}
}

func TestParseScopes(t *testing.T) {
	got, err := ParseScopes([]string{"repository:a:pull repository:b:push", "", "repository:a:pull,push"})
	want := append(Repository("a", "pull"), append(Repository("b", "push"), Repository("a", "push")...)...)
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("ParseScopes = %v, %v, want %v", got, err, want)
	}
	if _, err := ParseScopes([]string{"repository:a:pull repository:*:pull"}); err == nil {
		t.Error("one bad scope among good ones was accepted")
	}
	if _, err := ParseScopes([]string{strings.Repeat("repository:a:pull ", maxScopes+1)}); err == nil {
		t.Error("more than maxScopes scopes were accepted")
	}
}

func TestFormatScopes(t *testing.T) {
	as := append(Repository("a", "pull", "push"), Catalog, Access{TypeRepository, "b", "delete"}, Access{TypeRepository, "a", "pull"})
	if got, want := FormatScopes(as), "repository:a:pull,push registry:catalog:* repository:b:delete"; got != want {
		t.Errorf("FormatScopes = %q, want %q", got, want)
	}
	// What FormatScopes writes, ParseScopes reads back.
	back, err := ParseScopes([]string{FormatScopes(as)})
	if err != nil || len(back) != 4 {
		t.Errorf("round trip: %v, %v", back, err)
	}
}

func TestQuote(t *testing.T) {
	if got, want := quote("a\"b\\c\nd"), `"a\"b\\cd"`; got != want {
		t.Errorf("quote = %s, want %s", got, want)
	}
}

func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"repository:a/b:pull,push", "registry:catalog:*", "repository:a/../b:pull", `repository:"a:pull`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		as, err := ParseScope(s)
		if err != nil {
			return
		}
		for _, a := range as {
			// Whatever parses is a valid access whose name cannot carry a
			// separator or leave its directory.
			if !a.valid() || strings.ContainsAny(a.Name, `",: *?`) || strings.Contains(a.Name, "..") {
				t.Fatalf("ParseScope(%q) accepted %+v", s, a)
			}
		}
		if again, err := ParseScope(FormatScopes(as)); err != nil || !slices.Equal(again, as) {
			t.Fatalf("round trip of %q: %v, %v", s, again, err)
		}
	})
}
