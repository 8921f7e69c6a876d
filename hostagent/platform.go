package hostagent

import (
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/store"
	"github.com/berth-registry/berth/internal/oci"
)

// ParsePlatform reads os/arch[/variant], e.g. linux/arm64 or linux/arm/v7.
// The empty string means the host's platform.
func ParsePlatform(s string) (v1.Platform, error) { return store.ParsePlatform(s) }

// HostPlatform is the platform this program runs on.
func HostPlatform() v1.Platform { return oci.HostPlatform() }
