package hostagent

import (
	"fmt"
	"runtime"
	"strings"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// ParsePlatform reads os/arch[/variant], e.g. linux/arm64 or linux/arm/v7.
// The empty string means the host's platform.
func ParsePlatform(s string) (v1.Platform, error) {
	if s == "" {
		return HostPlatform(), nil
	}
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return v1.Platform{}, fmt.Errorf("platform %q: want os/arch[/variant]: %w", s, ErrInvalid)
	}
	p := v1.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// HostPlatform is the platform this program runs on.
func HostPlatform() v1.Platform {
	p := v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
	if p.Architecture == "arm" {
		p.Variant = "v7"
	}
	return p
}

// matchPlatform reports whether an index entry for have serves want. A
// wanted variant must match; arm64's only common variant, v8, is implied.
func matchPlatform(want, have v1.Platform) bool {
	if want.OS != have.OS || want.Architecture != have.Architecture {
		return false
	}
	if want.Variant == "" || want.Variant == have.Variant {
		return true
	}
	return want.Architecture == "arm64" && have.Variant == "" && want.Variant == "v8"
}

// choosePlatform picks the entry of an index for want. Entries that are not
// images (attestations carry platform unknown/unknown) never match.
func choosePlatform(idx v1.Index, want v1.Platform) (v1.Descriptor, error) {
	var offered []string
	for _, d := range idx.Manifests {
		if d.Platform == nil || !isImageManifest(d.MediaType) {
			continue
		}
		if matchPlatform(want, *d.Platform) {
			return d, nil
		}
		offered = append(offered, platformString(*d.Platform))
	}
	return v1.Descriptor{}, fmt.Errorf("want %s, index offers [%s]: %w",
		platformString(want), strings.Join(offered, " "), ErrNoPlatform)
}
