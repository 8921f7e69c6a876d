package storage

import (
	"encoding/hex"
	"errors"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/registry/storage/internal/manifest"
)

// FuzzParseManifest: no payload makes the parser panic, and whatever it
// accepts has a supported media type and the fields that type needs.
func FuzzParseManifest(f *testing.F) {
	for _, s := range []string{
		`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"a","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}`,
		`{"schemaVersion":2,"manifests":[{"digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":1,"data":"eA=="}]}`,
		`{"schemaVersion":2,"config":{},"subject":{"digest":"x"}}`,
		`[]`, `{"schemaVersion":1}`, ``,
	} {
		f.Add([]byte(s), "")
	}
	f.Fuzz(func(t *testing.T, payload []byte, contentType string) {
		m, err := manifest.Parse(payload, contentType)
		if err != nil {
			return
		}
		if !manifest.KnownMediaType(m.MediaType) {
			t.Fatalf("accepted media type %q", m.MediaType)
		}
		if !m.IsIndex() && m.Config == nil {
			t.Fatal("accepted an image manifest without config")
		}
	})
}

// nameGrammar is the repository name grammar of the OCI distribution
// specification, written as its regular expression.
var nameGrammar = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)

// FuzzCheckName: CheckName accepts exactly the names the specification's
// regular expression matches, up to MaxNameLength bytes, and each accepted
// name is a safe relative path of lower-case components.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"a/b", "a/../b", "a__b", "A", "a//b", "_x", "a-_b", "a--b.c_d", "a.", strings.Repeat("a", 256)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := CheckName(name)
		if want := nameGrammar.MatchString(name) && len(name) <= MaxNameLength; (err == nil) != want {
			t.Fatalf("CheckName(%q) = %v, the grammar says valid = %v", name, err, want)
		}
		if err != nil {
			if !errors.Is(err, ErrNameInvalid) {
				t.Fatalf("CheckName(%q) = %v, not ErrNameInvalid", name, err)
			}
			return
		}
		for _, c := range strings.Split(name, "/") {
			if c == "" || c == "." || c == ".." || strings.HasPrefix(c, "_") || strings.ToLower(c) != c {
				t.Fatalf("accepted %q", name)
			}
		}
	})
}

// tagGrammar is the tag grammar of the OCI distribution specification.
var tagGrammar = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)

// FuzzCheckTag: CheckTag accepts exactly the specification's tags, and an
// accepted tag is one path component of the tag's directory.
func FuzzCheckTag(f *testing.F) {
	for _, s := range []string{"latest", "v1.2.3", "_x", ".x", "-x", "a/b", "..", strings.Repeat("a", 129), "sha256:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tag string) {
		err := CheckTag(tag)
		if want := tagGrammar.MatchString(tag); (err == nil) != want {
			t.Fatalf("CheckTag(%q) = %v, the grammar says valid = %v", tag, err, want)
		}
		if err != nil {
			if !errors.Is(err, ErrTagInvalid) {
				t.Fatalf("CheckTag(%q) = %v, not ErrTagInvalid", tag, err)
			}
			return
		}
		if p := layout.TagCurrentPath("a", tag); path.Clean(p) != p || path.Dir(path.Dir(p)) != layout.TagDir("a", tag) || path.Dir(layout.TagDir("a", tag)) != layout.TagsDir("a") {
			t.Fatalf("tag %q is stored at %q, outside %s", tag, p, layout.TagsDir("a"))
		}
	})
}

// FuzzParseDigest: an accepted digest is a supported algorithm and the hex
// encoding of a hash of that algorithm's size, whose blob path stays one
// directory below the blob root; a refusal is ErrDigestInvalid or
// ErrDigestUnsupported.
func FuzzParseDigest(f *testing.F) {
	for _, s := range []string{
		"sha256:" + strings.Repeat("a", 64), "sha512:" + strings.Repeat("0", 128), "sha256:" + strings.Repeat("A", 64),
		"sha256:../../x", "md5:" + strings.Repeat("a", 32), ":abc", "sha256:", "sha384:" + strings.Repeat("a", 96),
		"sha256:" + strings.Repeat("a", 63), "sha256:" + strings.Repeat("a", 65), "sha256:" + strings.Repeat("a", 63) + "g",
		"sha512:" + strings.Repeat("f", 64), "sha256:" + strings.Repeat("9", 62) + ":a", "sha256:" + strings.Repeat("a", 63) + "\n",
	} {
		f.Add(s)
	}
	sizes := map[string]int{"sha256": 32, "sha512": 64}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDigest(s)
		// The algorithms it supports are accepted exactly as go-digest's
		// Validate accepts them.
		if alg, _, _ := strings.Cut(s, ":"); alg == "sha256" || alg == "sha512" {
			if verr := digest.Digest(s).Validate(); (verr == nil) != (err == nil) {
				t.Fatalf("ParseDigest(%q) = %v, go-digest's Validate %v", s, err, verr)
			}
		}
		if err != nil {
			if !errors.Is(err, ErrDigestInvalid) && !errors.Is(err, ErrDigestUnsupported) {
				t.Fatalf("ParseDigest(%q) = %v, want ErrDigestInvalid or ErrDigestUnsupported", s, err)
			}
			return
		}
		alg, enc, _ := strings.Cut(s, ":")
		size, ok := sizes[alg]
		raw, herr := hex.DecodeString(enc)
		if !ok || herr != nil || len(raw) != size || hex.EncodeToString(raw) != enc || d.String() != s {
			t.Fatalf("ParseDigest(%q) accepted %q", s, d)
		}
		if p := layout.BlobDataPath(d); path.Clean(p) != p || !strings.HasPrefix(p, layout.BlobsRoot()+"/"+alg+"/"+enc[:2]+"/"+enc+"/") {
			t.Fatalf("digest %q is stored at %q", s, p)
		}
	})
}
