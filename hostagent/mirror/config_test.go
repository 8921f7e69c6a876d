package mirror

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/registry/client"
)

const fullSyncYAML = `
version: 1
defaults:
  schedule: 1h
  referrers: true
registries:
  docker.io:
    concurrency: 2
    rps: 5
  registry.example.com:
    concurrency: 8
    rps: 20.5
    burst: 40
  localhost:5000:
    insecure: true
rules:
  - name: debian
    source: docker.io/library/debian
    destination: registry.example.com/mirror/debian
    tags:
      allow: ['^12', '^bookworm']
      deny: -rc
      semver: ">=12 <13"
      newest: 3
    platforms: [linux/amd64, linux/arm64/v8]
    schedule: "0 3 * * *"
  - source: ghcr.io/acme/*
    destination: registry.example.com/ghcr/*
    tags: {newest: 5, order: tag}
    platforms: all
  - name: pin
    source: registry.example.com/team/app:1.2@sha256:0123456789012345678901234567890123456789012345678901234567890123
    destination: local
  - name: publish
    source: local:localhost:5000/team/*
    destination: registry.example.com/published/*
    schedule: '@daily'
  - name: anchors
    <<: &common {platforms: linux/amd64, referrers: false}
    source: quay.io/org/tool:v2
    destination: registry.example.com/tools/tool:stable
`

func TestParseSyncConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte(fullSyncYAML))
	if err != nil {
		t.Fatal(err)
	}
	comp, err := cfg.compile()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.RuleNames(), "|"); got != "debian|ghcr.io/acme/* -> registry.example.com/ghcr/*|pin|publish|anchors" {
		t.Errorf("rule names %q", got)
	}
	if r := comp.registries["registry.example.com"]; r.Concurrency != 8 || r.RPS != 20.5 || r.Burst != 40 {
		t.Errorf("registry.example.com limits %+v", r)
	}
	if r := comp.registries["docker.io"]; r.Burst != 5 {
		t.Errorf("docker.io burst %d, want rps rounded up (5)", r.Burst)
	}
	if r := comp.registries["localhost:5000"]; r.Concurrency != DefaultConcurrency || !r.Insecure {
		t.Errorf("localhost:5000 defaults %+v", r)
	}

	deb := comp.rules[0]
	if deb.src.kind != epRepo || deb.dst.kind != epRepo || len(deb.platforms) != 2 || deb.platforms[1].Variant != "v8" || !deb.referrers {
		t.Errorf("debian rule %+v", deb)
	}
	if deb.sched.String() != "cron 0 3 * * *" {
		t.Errorf("debian schedule %s", deb.sched)
	}
	if got := deb.filter.apply([]string{"11", "12", "12.1", "12.2-rc1", "12.3", "12.4", "bookworm", "13"}); strings.Join(got, " ") != "12.1 12.3 12.4" {
		t.Errorf("debian tags %q", got)
	}
	if dst := deb.destFor(mustRef(t, "docker.io/library/debian:12.4")); dst.String() != "registry.example.com/mirror/debian:12.4" {
		t.Errorf("debian destination %s", dst)
	}

	ghcr := comp.rules[1]
	if ghcr.platforms != nil || ghcr.sched.String() != "every 1h0m0s" || ghcr.filter.order != OrderTag {
		t.Errorf("ghcr rule %+v", ghcr)
	}
	if dst := ghcr.destFor(mustRef(t, "ghcr.io/acme/tools/cli:5")); dst.String() != "registry.example.com/ghcr/tools/cli:5" {
		t.Errorf("ghcr destination %s", dst)
	}

	pin := comp.rules[2]
	if !pin.dst.local || pin.referrers || len(pin.platforms) != 1 || oci.FormatPlatform(pin.platforms[0]) != oci.FormatPlatform(oci.HostPlatform()) || pin.src.ref.Digest == "" {
		t.Errorf("pin rule %+v", pin)
	}
	if dst := pin.destFor(pin.src.ref); dst != pin.src.ref {
		t.Errorf("a local destination keeps the source's name: %s", dst)
	}

	pub := comp.rules[3]
	if !pub.src.local || pub.src.String() != "local:localhost:5000/team/*" || pub.referrers {
		t.Errorf("publish rule %+v", pub)
	}
	if dst := pub.destFor(mustRef(t, "localhost:5000/team/app:1")); dst.String() != "registry.example.com/published/app:1" {
		t.Errorf("publish destination %s", dst)
	}

	anch := comp.rules[4]
	if anch.referrers || len(anch.platforms) != 1 || oci.FormatPlatform(anch.platforms[0]) != "linux/amd64" {
		t.Errorf("merged keys: %+v", anch)
	}
	if dst := anch.destFor(anch.src.ref); dst.String() != "registry.example.com/tools/tool:stable" {
		t.Errorf("retag destination %s", dst)
	}

	// LoadConfig names the file.
	path := filepath.Join(t.TempDir(), "sync.yml")
	if err := os.WriteFile(path, []byte("rules: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "no rules") {
		t.Errorf("LoadConfig: %v", err)
	}
}

func mustRef(t *testing.T, s string) client.Reference {
	t.Helper()
	r, err := client.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestParseSyncConfigErrors(t *testing.T) {
	rule := func(extra string) string {
		return "rules:\n  - source: r.example.com/a\n    destination: s.example.com/b\n" + extra
	}
	for _, tc := range []struct{ name, yaml, want string }{
		{"empty", "", "empty"},
		{"not yaml", "rules: [", "did not find"},
		{"unknown top key", "rule:\n  - source: a\n", `top level: unknown key "rule" (line 1); known: version, defaults, registries, rules`},
		{"unknown rule key", rule("    sourc: x\n"), `rules[0]: unknown key "sourc" (line 4); known: name, source, destination, tags, platforms, referrers, schedule`},
		{"unknown tags key", rule("    tags:\n      alow: [x]\n"), `rules[0].tags: unknown key "alow" (line 5)`},
		{"unknown registry key", "registries:\n  r.example.com:\n    qps: 3\n" + rule("")[0:0] + rule(""), `registries.r.example.com: unknown key "qps" (line 3)`},
		{"repeated key", rule("    source: x\n"), `rules[0]: key "source" given twice (line 4)`},
		{"wrong type", rule("    tags:\n      newest: five\n"), `rules[0].tags.newest (line 5): "five" is not an integer`},
		{"wrong shape", rule("    tags: [a]\n"), `rules[0].tags (line 4): want a mapping of keys`},
		{"list wanted", "rules: {source: a}\n", `rules (line 1): want a list`},
		{"version", "version: 2\n" + rule(""), `version: 2 is not supported`},
		{"no rules", "version: 1\n", `rules: no rules`},
		{"no source", "rules:\n  - destination: s.example.com/b\n", `rules[0] (line 2): source: required`},
		{"bad source", "rules:\n  - {source: 'r.example.com/A', destination: local}\n", `rules[0] (line 2): source: "r.example.com/A"`},
		{"bad wildcard", "rules:\n  - {source: 'r.example.com/a*', destination: local}\n", `a wildcard may only end a prefix`},
		{"prefix without host", "rules:\n  - {source: 'team/*', destination: local}\n", `a prefix starts with a registry host`},
		{"digest destination", rule("")[:0] + "rules:\n  - {source: r.example.com/a:1, destination: 's.example.com/b@sha256:0123456789012345678901234567890123456789012345678901234567890123'}\n", `a destination names a tag, not a digest`},
		{"local name as destination", "rules:\n  - {source: r.example.com/a, destination: 'local:x.example.com/y'}\n", `destination: "local:x.example.com/y": the store as destination keeps the source's names`},
		{"local to local", "rules:\n  - {source: local, destination: local}\n", `both the store`},
		{"prefix into a repository", "rules:\n  - {source: 'r.example.com/t/*', destination: s.example.com/b}\n", `is one repository, but the source r.example.com/t/* names several`},
		{"repository into an image", "rules:\n  - {source: r.example.com/a, destination: 's.example.com/b:1'}\n", `is one image`},
		{"tags on an image", "rules:\n  - {source: 'r.example.com/a:1', destination: s.example.com/b, tags: {newest: 1}}\n", `tag filters apply to a repository or a prefix`},
		{"bad regex", rule("    tags: {allow: ['(']}\n"), `rules[0] (line 2): tags.allow[0]: error parsing regexp`},
		{"bad semver", rule("    tags: {semver: '>=banana'}\n"), `tags.semver: semver range ">=banana"`},
		{"negative newest", rule("    tags: {newest: -1}\n"), `tags.newest: -1 is negative`},
		{"bad order", rule("    tags: {newest: 1, order: date}\n"), `tags.order: "date": want semver or tag`},
		{"bad platform", rule("    platforms: [linux]\n"), `platforms[0]: "linux": want all, or os/arch[/variant]`},
		{"all among platforms", rule("    platforms: [all, linux/amd64]\n"), `platforms[0]: "all"`},
		{"bad schedule", rule("    schedule: every day\n"), `schedule: cron "every day": want 5 fields`},
		{"bad cron", rule("    schedule: '61 * * * *'\n"), `schedule: cron "61 * * * *": minute "61"`},
		{"referrers with the store", "rules:\n  - {source: r.example.com/a, destination: local, referrers: true}\n", `referrers: copied between registries only`},
		{"duplicate names", rule("  - {name: x, source: r.example.com/c, destination: local}\n  - {name: x, source: r.example.com/d, destination: local}\n"), `rules[2] (line 5) "x": the same name as rules[1]`},
		{"bad registry host", "registries:\n  'r.example.com/x': {}\n" + rule(""), `registries.r.example.com/x: want a registry host[:port]`},
		{"negative rps", "registries:\n  r.example.com: {rps: -1}\n" + rule(""), `registries.r.example.com.rps: -1: want 0 (no limit) or more`},
	} {
		_, err := ParseConfig([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("%s: %v\n  want an errdefs.ErrInvalid containing %q", tc.name, err, tc.want)
		}
	}
}
