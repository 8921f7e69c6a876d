package oci

import (
	"strings"
	"testing"

	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
)

const refHex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func TestParseReference(t *testing.T) {
	d := digest.Digest("sha256:" + refHex)
	for _, tc := range []struct {
		in       string
		want     Reference
		familiar string
	}{
		{"ubuntu", Reference{"docker.io", "library/ubuntu", "latest", ""}, "ubuntu:latest"},
		{"Foo.example.com/a:T", Reference{"Foo.example.com", "a", "T", ""}, "Foo.example.com/a:T"},
		{"index.docker.io/x", Reference{"docker.io", "library/x", "latest", ""}, "x:latest"},
		{"docker.io/a/b@" + string(d), Reference{"docker.io", "a/b", "", d}, "a/b@" + string(d)},
		{"localhost/a", Reference{"localhost", "a", "latest", ""}, "localhost/a:latest"},
		{"[fe80::1]:5000/a:b", Reference{"[fe80::1]:5000", "a", "b", ""}, "[fe80::1]:5000/a:b"},
		{"h.io/x:t@" + string(d), Reference{"h.io", "x", "t", d}, "h.io/x:t@" + string(d)},
	} {
		r, err := ParseReference(tc.in)
		if err != nil || r != tc.want {
			t.Errorf("ParseReference(%q) = %+v, %v; want %+v", tc.in, r, err, tc.want)
			continue
		}
		if got := r.Familiar(); got != tc.familiar {
			t.Errorf("Familiar(%q) = %q, want %q", tc.in, got, tc.familiar)
		}
	}
	if r, err := ParseNormalized("ubuntu"); err != nil || r.Tag != "" || r.Digest != "" {
		t.Errorf(`ParseNormalized("ubuntu") = %+v, %v; want neither tag nor digest`, r, err)
	}
	for _, in := range []string{
		"", "Ubuntu", "a:b:c", "a:", "a@", "a@sha256:short", "a@md5:" + refHex, "a@sha256:" + strings.ToUpper(refHex), refHex,
		"a/", "/a", "a//b", "a:" + strings.Repeat("t", 129), "host:port/a", "a_b.com/x", "-h.io/a", "h-.io/a",
		"h..io/a", "[]/a", "[::1/a", "[g::1]/a", "h.io:/a", "h.io/" + strings.Repeat("a", MaxNameLength+1),
	} {
		if r, err := ParseReference(in); err == nil {
			t.Errorf("ParseReference(%q) = %+v, want an error", in, r)
		} else if !strings.HasPrefix(err.Error(), "reference ") {
			t.Errorf("ParseReference(%q): error %q does not name the reference", in, err)
		}
	}
}

// FuzzReferenceGrammar holds ParseNormalized to Docker's grammar as
// distribution/reference implements it: the same references are accepted,
// with the same parts. The one deliberate difference: where the first
// component was taken for a registry but is not a valid host, Docker
// falls back to reading it as a path with no registry at all (a Reference
// that names no host); ParseNormalized refuses it.
func FuzzReferenceGrammar(f *testing.F) {
	for _, s := range []string{
		"ubuntu", "a/b:c", "localhost:5000/a/b@sha256:" + refHex, "h/x:t@sha256:" + refHex, "[::1]/a",
		"Foo/bar", "index.docker.io/a", "a_b.com/x", refHex, "a@sha512:" + refHex + refHex, "x.io:5/a__b-c.d",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseNormalized(s)
		named, derr := reference.ParseNormalizedNamed(s)
		if derr == nil && reference.Domain(named) == "" {
			if err == nil {
				t.Fatalf("%q: accepted as %+v; Docker finds no registry in it", s, got)
			}
			return
		}
		if (err == nil) != (derr == nil) {
			t.Fatalf("%q: ParseNormalized error %v, distribution/reference error %v", s, err, derr)
		}
		if err != nil {
			return
		}
		want := Reference{Registry: reference.Domain(named), Repository: reference.Path(named)}
		if tg, ok := named.(reference.Tagged); ok {
			want.Tag = tg.Tag()
		}
		if dg, ok := named.(reference.Digested); ok {
			want.Digest = dg.Digest()
		}
		if got != want {
			t.Fatalf("%q: ParseNormalized = %+v, distribution/reference = %+v", s, got, want)
		}
		if f := got.Familiar(); f != reference.FamiliarString(named) {
			t.Fatalf("%q: Familiar = %q, distribution/reference = %q", s, f, reference.FamiliarString(named))
		}
		again, err := ParseNormalized(got.String())
		if err != nil || again != got {
			t.Fatalf("%q: String %q parses back to %+v, %v", s, got.String(), again, err)
		}
	})
}
