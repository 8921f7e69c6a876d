package oci

import (
	"errors"
	"testing"

	digest "github.com/opencontainers/go-digest"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestParseFormatPlatform(t *testing.T) {
	for _, s := range []string{"linux/amd64", "linux/arm/v7", "windows/amd64"} {
		p, err := ParsePlatform(s)
		if err != nil {
			t.Fatalf("ParsePlatform(%q): %v", s, err)
		}
		if got := FormatPlatform(p); got != s {
			t.Errorf("FormatPlatform(ParsePlatform(%q)) = %q", s, got)
		}
	}
	for _, s := range []string{"", "linux", "/amd64", "linux/", "a/b/c/d"} {
		if _, err := ParsePlatform(s); err == nil {
			t.Errorf("ParsePlatform(%q) accepted", s)
		}
	}
}

func TestChoosePlatform(t *testing.T) {
	m := func(p string, mt string) v1.Descriptor {
		pl, _ := ParsePlatform(p)
		return v1.Descriptor{MediaType: mt, Platform: &pl, Digest: digest.FromString(p)}
	}
	idx := v1.Index{Manifests: []v1.Descriptor{
		m("linux/amd64", "application/vnd.in-toto+json"), // not an image: never chosen
		m("linux/amd64", MediaTypeDockerManifest),
		m("linux/arm64", v1.MediaTypeImageManifest),
		m("linux/arm/v6", v1.MediaTypeImageManifest),
	}}
	for _, tc := range []struct{ want, got string }{
		{"linux/amd64", "linux/amd64"},
		{"linux/arm64/v8", "linux/arm64"}, // v8 implied for arm64
		{"linux/arm", "linux/arm/v6"},
		{"linux/arm/v7", ""},
	} {
		want, _ := ParsePlatform(tc.want)
		d, err := ChoosePlatform(idx, want)
		if tc.got == "" {
			if !errors.Is(err, ErrNoPlatform) {
				t.Errorf("ChoosePlatform(%s) = %v, %v; want ErrNoPlatform", tc.want, d.Digest, err)
			}
			continue
		}
		if err != nil || FormatPlatform(*d.Platform) != tc.got {
			t.Errorf("ChoosePlatform(%s) = %v, %v; want %s", tc.want, d.Platform, err, tc.got)
		}
	}
}
