package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/internal/yamlx"
)

// aliasBombConfig is a config.yml of a few kilobytes whose notification
// endpoints are n aliases of one endpoint with n headers, each an alias of
// one list of n values: decoding it visits n^3 values. config.yml has no
// merge keys (<<: is an unknown key), but this fan-out through the types'
// three nested collections is as much of a denial of service. (Disabled:
// enabled endpoints need unique names.)
func aliasBombConfig(n int) string {
	var b strings.Builder
	b.WriteString(minimal + "notifications:\n  endpoints:\n    - &e\n      name: a\n      disabled: true\n      url: http://127.0.0.1/\n      headers:\n")
	fmt.Fprintf(&b, "        h0: &v [%s]\n", strings.TrimSuffix(strings.Repeat("x,", n), ","))
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "        h%d: *v\n", i)
	}
	for range n - 1 {
		b.WriteString("    - *e\n")
	}
	return b.String()
}

func TestLoadAliasBomb(t *testing.T) {
	doc := aliasBombConfig(250)
	t.Logf("%d bytes", len(doc))
	err := testutil.Finishes(t, 5*time.Second, func() error {
		_, err := Load(strings.NewReader(doc), nil)
		return err
	})
	if !errors.Is(err, yamlx.ErrLimit) || !strings.HasPrefix(err.Error(), "config: document expands to more than") {
		t.Fatalf("Load(alias bomb) = %v, want a yamlx.ErrLimit naming the expansion", err)
	}

	// The same shape used a few times is fine.
	if _, err := Load(strings.NewReader(aliasBombConfig(3)), nil); err != nil {
		t.Fatalf("Load(three aliases) = %v", err)
	}
}

func TestLoadSelfAlias(t *testing.T) {
	err := testutil.Finishes(t, 5*time.Second, func() error {
		_, err := Load(strings.NewReader(minimal+"notifications:\n  endpoints: &l [*l]\n"), nil)
		return err
	})
	if !errors.Is(err, yamlx.ErrLimit) {
		t.Fatalf("Load(self-alias) = %v, want a yamlx.ErrLimit", err)
	}
}

func TestLoadTooDeep(t *testing.T) {
	doc := minimal + "http:\n  headers:\n    X: " + strings.Repeat("[", 200) + strings.Repeat("]", 200) + "\n"
	_, err := Load(strings.NewReader(doc), nil)
	if !errors.Is(err, yamlx.ErrLimit) || !strings.Contains(err.Error(), "nested deeper than") {
		t.Fatalf("Load(200 nested lists) = %v, want a yamlx.ErrLimit about nesting", err)
	}
}
