package mirror

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/internal/yamlx"
)

// mergeBombSyncConfig is a sync.yml of about 600 bytes whose registries
// merge the one before ten times each (<<: [*rN, *rN, ...]): decoding the
// last one expands 10^levels mappings.
func mergeBombSyncConfig(levels int) []byte {
	var b strings.Builder
	b.WriteString("rules: [{source: docker.io/library/debian, destination: local}]\n")
	b.WriteString("registries:\n  r0: &r0 {concurrency: 1}\n")
	for i := 1; i <= levels; i++ {
		refs := strings.Repeat(fmt.Sprintf("*r%d,", i-1), 10)
		fmt.Fprintf(&b, "  r%d: &r%d {<<: [%s]}\n", i, i, strings.TrimSuffix(refs, ","))
	}
	return []byte(b.String())
}

func TestParseSyncConfigMergeBomb(t *testing.T) {
	doc := mergeBombSyncConfig(9)
	t.Logf("%d bytes", len(doc))
	err := testutil.Finishes(t, 5*time.Second, func() error {
		_, err := ParseConfig(doc)
		return err
	})
	if !errors.Is(err, yamlx.ErrLimit) || !errors.Is(err, errdefs.ErrInvalid) ||
		!strings.Contains(err.Error(), "sync config: document expands to more than") {
		t.Fatalf("ParseConfig(merge bomb) = %v, want an errdefs.ErrInvalid and yamlx.ErrLimit naming the expansion", err)
	}

	// The same anchors used a few times are fine.
	if _, err := ParseConfig(mergeBombSyncConfig(2)); err != nil {
		t.Fatalf("ParseConfig(two levels of merges) = %v", err)
	}
}

func TestParseSyncConfigSelfAlias(t *testing.T) {
	err := testutil.Finishes(t, 5*time.Second, func() error {
		_, err := ParseConfig([]byte("registries:\n  r: &r {<<: *r}\n"))
		return err
	})
	if !errors.Is(err, yamlx.ErrLimit) || !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("ParseConfig(self-merge) = %v, want an errdefs.ErrInvalid and yamlx.ErrLimit", err)
	}
}
