package mirror

import (
	"errors"
	"strings"
	"testing"

	"github.com/berth-registry/berth/hostagent/errdefs"
)

// FuzzParseSyncConfig: no sync.yml makes ParseConfig panic or hang;
// every refusal wraps errdefs.ErrInvalid, and an accepted file compiles again to
// one named rule per rule.
func FuzzParseSyncConfig(f *testing.F) {
	for _, s := range []string{
		fullSyncYAML,
		"rules:\n  - source: docker.io/library/debian:12\n    destination: local\n",
		string(mergeBombSyncConfig(3)),
		"registries:\n  r: &r {<<: *r}\n",
		"defaults:\n  tags: {allow: ['^v[0-9]+$'], semver: '>=1.2 <2', newest: 3}\nrules:\n  - {source: 'reg.example/team/*', destination: 'local', schedule: '0 3 * * *'}\n",
		"",
		"rules: [",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := ParseConfig(b)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalid) {
				t.Fatalf("ParseConfig(%q) = %v, not an errdefs.ErrInvalid", b, err)
			}
			return
		}
		if _, err := cfg.compile(); err != nil {
			t.Fatalf("ParseConfig(%q) accepted a config that does not compile: %v", b, err)
		}
		names := cfg.RuleNames()
		if len(names) != len(cfg.Rules) {
			t.Fatalf("ParseConfig(%q): %d rules, names %q", b, len(cfg.Rules), names)
		}
		for _, n := range names {
			if strings.TrimSpace(n) == "" {
				t.Fatalf("ParseConfig(%q): a rule without a name: %q", b, names)
			}
		}
	})
}
