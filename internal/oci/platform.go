package oci

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// ErrNoPlatform is what ChoosePlatform returns when an index has no
// manifest for the wanted platform.
var ErrNoPlatform = errors.New("no matching platform")

// ParsePlatform reads os/arch[/variant][:osversion], e.g. linux/arm64,
// linux/arm/v7 or windows/amd64:10.0.17763 (an os.version of two to four
// dot-separated numbers).
func ParsePlatform(s string) (v1.Platform, error) {
	spec, osVersion, hasVersion := strings.Cut(s, ":")
	parts := strings.Split(spec, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" || (len(parts) == 3 && parts[2] == "") {
		return v1.Platform{}, fmt.Errorf("platform %q: want os/arch[/variant][:osversion]", s)
	}
	p := v1.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	if hasVersion {
		if _, ok := parseOSVersion(osVersion); !ok {
			return v1.Platform{}, fmt.Errorf("platform %q: os version %q: want numbers such as 10.0.17763 or 10.0.17763.1", s, osVersion)
		}
		p.OSVersion = osVersion
	}
	return p, nil
}

// FormatPlatformVersion is FormatPlatform with ":osversion" when p has one.
func FormatPlatformVersion(p v1.Platform) string {
	s := FormatPlatform(p)
	if s != "" && p.OSVersion != "" {
		s += ":" + p.OSVersion
	}
	return s
}

// parseOSVersion reads major.minor[.build[.revision]] (Windows'
// os.version); missing parts are 0.
func parseOSVersion(s string) ([4]int, bool) {
	var v [4]int
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 4 {
		return v, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || p == "" || p[0] == '+' {
			return v, false
		}
		v[i] = n
	}
	return v, true
}

// matchOSVersion is containerd's rule for Windows: an index entry serves
// a wanted os.version when major, minor and build are equal; the revision
// (the fourth number) may differ, and ChoosePlatform takes the highest. A
// wanted version of only major.minor.build matches every revision.
func matchOSVersion(want, have string) bool {
	if want == "" {
		return true
	}
	w, ok1 := parseOSVersion(want)
	h, ok2 := parseOSVersion(have)
	return ok1 && ok2 && w[0] == h[0] && w[1] == h[1] && w[2] == h[2]
}

// revision is the fourth number of an os.version, -1 without one.
func revision(v string) int {
	n, ok := parseOSVersion(v)
	if !ok || strings.Count(v, ".") < 3 {
		return -1
	}
	return n[3]
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

// IndexPlatforms lists the platforms of an index's images, in the index's
// order, as FormatPlatformVersion writes them. Entries without a platform,
// entries that are no image manifest and attestations (platform
// unknown/unknown) are left out.
func IndexPlatforms(idx v1.Index) []string {
	var out []string
	for _, d := range idx.Manifests {
		if d.Platform == nil || !IsImageManifest(d.MediaType) || (d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown") {
			continue
		}
		if s := FormatPlatformVersion(*d.Platform); s != "" {
			out = append(out, s)
		}
	}
	return out
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
// A wanted os.version matches as matchOSVersion says.
func MatchPlatform(want, have v1.Platform) bool {
	if want.OS != have.OS || want.Architecture != have.Architecture || !matchOSVersion(want.OSVersion, have.OSVersion) {
		return false
	}
	if want.Variant == "" || want.Variant == have.Variant {
		return true
	}
	return want.Architecture == "arm64" && have.Variant == "" && want.Variant == "v8"
}

// ChoosePlatform picks the entry of an index for want. Entries that are not
// images (attestations carry platform unknown/unknown) never match; when
// none does, the error wraps ErrNoPlatform and lists what is offered. When
// want names an os.version, several entries of one build may match (as
// Windows images have one per monthly revision): the highest revision
// wins, as containerd chooses; otherwise the first match does.
func ChoosePlatform(idx v1.Index, want v1.Platform) (v1.Descriptor, error) {
	var offered []string
	best, found := v1.Descriptor{}, false
	for _, d := range idx.Manifests {
		if d.Platform == nil || !IsImageManifest(d.MediaType) {
			continue
		}
		if MatchPlatform(want, *d.Platform) {
			if want.OSVersion == "" {
				return d, nil
			}
			if !found || revision(d.Platform.OSVersion) > revision(best.Platform.OSVersion) {
				best, found = d, true
			}
			continue
		}
		offered = append(offered, FormatPlatformVersion(*d.Platform))
	}
	if found {
		return best, nil
	}
	return v1.Descriptor{}, fmt.Errorf("want %s, index offers [%s]: %w",
		FormatPlatformVersion(want), strings.Join(offered, " "), ErrNoPlatform)
}
