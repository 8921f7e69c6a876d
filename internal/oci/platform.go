package oci

import (
	"errors"
	"fmt"
	"runtime"
	"strings"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// ErrNoPlatform is what ChoosePlatform returns when an index has no
// manifest for the wanted platform.
var ErrNoPlatform = errors.New("no matching platform")

// ParsePlatform reads os/arch[/variant], e.g. linux/arm64 or linux/arm/v7.
func ParsePlatform(s string) (v1.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return v1.Platform{}, fmt.Errorf("platform %q: want os/arch[/variant]", s)
	}
	p := v1.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// FormatPlatform writes p as os/arch[/variant]; "" when p names neither OS
// nor architecture.
func FormatPlatform(p v1.Platform) string {
	if p.OS == "" && p.Architecture == "" {
		return ""
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// HostPlatform is the platform this program runs on.
func HostPlatform() v1.Platform {
	p := v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
	if p.Architecture == "arm" {
		p.Variant = "v7"
	}
	return p
}

// MatchPlatform reports whether an index entry for have serves want. A
// wanted variant must match; arm64's only common variant, v8, is implied.
func MatchPlatform(want, have v1.Platform) bool {
	if want.OS != have.OS || want.Architecture != have.Architecture {
		return false
	}
	if want.Variant == "" || want.Variant == have.Variant {
		return true
	}
	return want.Architecture == "arm64" && have.Variant == "" && want.Variant == "v8"
}

// ChoosePlatform picks the entry of an index for want. Entries that are not
// images (attestations carry platform unknown/unknown) never match; when
// none does, the error wraps ErrNoPlatform and lists what is offered.
func ChoosePlatform(idx v1.Index, want v1.Platform) (v1.Descriptor, error) {
	var offered []string
	for _, d := range idx.Manifests {
		if d.Platform == nil || !IsImageManifest(d.MediaType) {
			continue
		}
		if MatchPlatform(want, *d.Platform) {
			return d, nil
		}
		offered = append(offered, FormatPlatform(*d.Platform))
	}
	return v1.Descriptor{}, fmt.Errorf("want %s, index offers [%s]: %w",
		FormatPlatform(want), strings.Join(offered, " "), ErrNoPlatform)
}
