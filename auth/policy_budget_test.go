package auth

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/yamlx"
)

// mergeBombPolicy is a policy of about 600 bytes whose rules each merge
// the one before ten times (<<: [*rN, *rN, ...]): decoding the last one
// expands 10^levels mappings.
func mergeBombPolicy(levels int) []byte {
	var b strings.Builder
	b.WriteString("rules:\n  - &r0 {repositories: [a], anonymous: true, actions: [pull]}\n")
	for i := 1; i <= levels; i++ {
		refs := strings.Repeat(fmt.Sprintf("*r%d,", i-1), 10)
		fmt.Fprintf(&b, "  - &r%d {<<: [%s]}\n", i, strings.TrimSuffix(refs, ","))
	}
	return []byte(b.String())
}

func TestParsePolicyMergeBomb(t *testing.T) {
	doc := mergeBombPolicy(9)
	done := make(chan error, 1)
	go func() {
		_, err := parsePolicy(doc)
		done <- err
	}()
	var err error
	select { // a guard against a hang, not a measurement
	case err = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("still decoding after 5s")
	}
	if !errors.Is(err, yamlx.ErrLimit) || !strings.HasPrefix(err.Error(), "document expands to more than") {
		t.Fatalf("parsePolicy(merge bomb of %d bytes) = %v, want a yamlx.ErrLimit naming the expansion", len(doc), err)
	}

	// The same anchors used a few times are fine.
	if _, err := parsePolicy(mergeBombPolicy(2)); err != nil {
		t.Fatalf("parsePolicy(two levels of merges) = %v", err)
	}
}
