package oci

import (
	"errors"
	"slices"
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

func TestParsePlatformOSVersion(t *testing.T) {
	for s, want := range map[string]v1.Platform{
		"windows/amd64:10.0.17763":      {OS: "windows", Architecture: "amd64", OSVersion: "10.0.17763"},
		"windows/amd64:10.0.17763.2061": {OS: "windows", Architecture: "amd64", OSVersion: "10.0.17763.2061"},
		"windows/arm64/v8:10.0.20348.5": {OS: "windows", Architecture: "arm64", Variant: "v8", OSVersion: "10.0.20348.5"},
		"linux/arm/v7":                  {OS: "linux", Architecture: "arm", Variant: "v7"},
	} {
		p, err := ParsePlatform(s)
		if err != nil || p.OS != want.OS || p.Architecture != want.Architecture || p.Variant != want.Variant || p.OSVersion != want.OSVersion {
			t.Errorf("ParsePlatform(%q) = %+v, %v; want %+v", s, p, err, want)
		}
		if got := FormatPlatformVersion(p); got != s {
			t.Errorf("FormatPlatformVersion(%q) = %q", s, got)
		}
	}
	for _, s := range []string{"windows/amd64:", "windows/amd64:10", "windows/amd64:10.0.1.2.3", "windows/amd64:10.x.1", "windows/amd64:10.0.-1", "windows/amd64/:10.0.1", "windows/amd64:10.0.1:2"} {
		if p, err := ParsePlatform(s); err == nil {
			t.Errorf("ParsePlatform(%q) accepted: %+v", s, p)
		}
	}
}

// TestChoosePlatformOSVersion: containerd's rule for Windows, the same
// major.minor.build and the highest revision of it.
func TestChoosePlatformOSVersion(t *testing.T) {
	m := func(p string) v1.Descriptor {
		pl, err := ParsePlatform(p)
		if err != nil {
			t.Fatal(err)
		}
		return v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Platform: &pl, Digest: digest.FromString(p)}
	}
	idx := v1.Index{Manifests: []v1.Descriptor{
		m("windows/amd64:10.0.17763.1"),
		m("windows/amd64:10.0.17763.2061"),
		m("windows/amd64:10.0.17763.737"),
		m("windows/amd64:10.0.20348.5"),
		m("windows/arm64:10.0.17763.9999"),
		m("linux/amd64"),
	}}
	for want, got := range map[string]string{
		"windows/amd64:10.0.17763":      "10.0.17763.2061",
		"windows/amd64:10.0.17763.5":    "10.0.17763.2061", // the revision asked for does not bind
		"windows/amd64:10.0.20348":      "10.0.20348.5",
		"windows/amd64":                 "10.0.17763.1", // no version: the first
		"windows/amd64:10.0.14393":      "",
		"linux/amd64:10.0.17763":        "",
		"windows/arm64:10.0.17763.9999": "10.0.17763.9999",
	} {
		w, _ := ParsePlatform(want)
		d, err := ChoosePlatform(idx, w)
		if got == "" {
			if !errors.Is(err, ErrNoPlatform) {
				t.Errorf("ChoosePlatform(%s) = %v, %v; want ErrNoPlatform", want, d.Platform, err)
			}
			continue
		}
		if err != nil || d.Platform.OSVersion != got {
			t.Errorf("ChoosePlatform(%s) = %+v, %v; want os.version %s", want, d.Platform, err, got)
		}
	}
}

// TestIndexPlatforms: the index's image platforms in its order, with
// os.version; attestations, non-images and entries without a platform are
// left out.
func TestIndexPlatforms(t *testing.T) {
	m := func(p *v1.Platform, mt string) v1.Descriptor { return v1.Descriptor{MediaType: mt, Platform: p} }
	idx := v1.Index{Manifests: []v1.Descriptor{
		m(&v1.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.20348.1"}, v1.MediaTypeImageManifest),
		m(&v1.Platform{OS: "unknown", Architecture: "unknown"}, v1.MediaTypeImageManifest),
		m(&v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, MediaTypeDockerManifest),
		m(nil, v1.MediaTypeImageManifest),
		m(&v1.Platform{OS: "linux", Architecture: "s390x"}, "application/vnd.in-toto+json"),
		m(&v1.Platform{OS: "linux", Architecture: "amd64"}, v1.MediaTypeImageManifest),
	}}
	want := []string{"windows/amd64:10.0.20348.1", "linux/arm/v7", "linux/amd64"}
	if got := IndexPlatforms(idx); !slices.Equal(got, want) {
		t.Errorf("IndexPlatforms = %q, want %q", got, want)
	}
	if got := IndexPlatforms(v1.Index{}); got != nil {
		t.Errorf("IndexPlatforms of an empty index = %q", got)
	}
}
