package hostagent_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent"
	"github.com/berth-registry/berth/internal/testutil/hatest"
	"github.com/berth-registry/berth/registry/client"
)

// syncAgent opens a fresh store whose docker config holds creds.
func syncAgent(t *testing.T, creds map[string]client.Credential) *hostagent.Agent {
	t.Helper()
	dc, err := client.NewDockerConfig(filepath.Join(t.TempDir(), "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	for host, c := range creds {
		if err := dc.Save(host, c); err != nil {
			t.Fatal(err)
		}
	}
	a, err := hostagent.New(filepath.Join(t.TempDir(), "store"), hostagent.WithDockerConfig(dc))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func parseSyncYAML(t *testing.T, format string, args ...any) *hostagent.SyncConfig {
	t.Helper()
	cfg, err := hostagent.ParseSyncConfig(fmt.Appendf(nil, format, args...))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// runSync runs cfg and fails the test on any failure.
func runSync(t *testing.T, a *hostagent.Agent, cfg *hostagent.SyncConfig, opts hostagent.SyncOptions) map[string]hostagent.SyncSummary {
	t.Helper()
	sums, err := a.Sync(t.Context(), cfg, opts)
	if err != nil {
		t.Fatalf("Sync: %v\n%s", err, describeSummaries(sums))
	}
	out := map[string]hostagent.SyncSummary{}
	for _, s := range sums {
		out[s.Rule] = s
	}
	return out
}

func describeSummaries(sums []hostagent.SyncSummary) string {
	var b strings.Builder
	for _, s := range sums {
		fmt.Fprintf(&b, "  %s: images %+v blobs %+v bytes %d referrers %d stopped %v\n", s.Rule, s.Images, s.Blobs, s.Bytes, s.Referrers, s.Stopped)
		for _, f := range s.Failures {
			fmt.Fprintf(&b, "    failed %s: %s\n", f.Image, f.Error)
		}
	}
	return b.String()
}

// testImage is a small image: a layer shared by every image of a seed
// family ("base"), a layer of its own, a config.
func testImage(t *testing.T, family, name string, extra int) *hatest.Image {
	t.Helper()
	return hatest.NewImage(t, hatest.Spec{Layers: [][]hatest.File{
		{{Name: "base.bin", Data: hatest.Random("base-"+family, 64<<10)}},
		{{Name: "own.bin", Data: hatest.Random(family+"/"+name, extra)}},
	}})
}

// platformImage is testImage for one platform.
func platformImage(t *testing.T, family, plat string) *hatest.Image {
	t.Helper()
	parts := strings.Split(plat, "/")
	p := v1.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) > 2 {
		p.Variant = parts[2]
	}
	return hatest.NewImage(t, hatest.Spec{Platform: p, Layers: [][]hatest.File{
		{{Name: "bin", Data: hatest.Random(family+"-"+plat, 8<<10)}},
	}})
}

// pushSignature pushes an artifact whose subject is subject, as a signing
// tool would: with tagSchema, it also adds it to the referrers tag (for a
// registry without the referrers API).
func pushSignature(t *testing.T, c *client.Client, repo client.Reference, subject v1.Descriptor, tagSchema bool) v1.Descriptor {
	t.Helper()
	ctx := t.Context()
	empty := v1.Descriptor{MediaType: v1.MediaTypeEmptyJSON, Digest: digest.FromBytes([]byte("{}")), Size: 2}
	sig := []byte("signed " + subject.Digest.String())
	sigDesc := v1.Descriptor{MediaType: "application/vnd.example.signature.v1", Digest: digest.FromBytes(sig), Size: int64(len(sig))}
	for _, b := range []struct {
		d    v1.Descriptor
		data []byte
	}{{empty, []byte("{}")}, {sigDesc, sig}} {
		if err := c.BlobPut(ctx, repo, b.d, bytes.NewReader(b.data)); err != nil {
			t.Fatal(err)
		}
	}
	subject = v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	m, _ := json.Marshal(v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest,
		ArtifactType: "application/vnd.example.signature", Config: empty, Layers: []v1.Descriptor{sigDesc}, Subject: &subject,
	})
	desc := v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: digest.FromBytes(m), Size: int64(len(m)), ArtifactType: "application/vnd.example.signature"}
	if _, err := c.ManifestPut(ctx, repo.WithDigest(desc.Digest).WithTag(""), desc.MediaType, m); err != nil {
		t.Fatal(err)
	}
	if tagSchema {
		idx, _ := json.Marshal(v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex, Manifests: []v1.Descriptor{desc}})
		tag := "sha256-" + subject.Digest.Encoded()
		if _, err := c.ManifestPut(ctx, repo.WithTag(tag), v1.MediaTypeImageIndex, idx); err != nil {
			t.Fatal(err)
		}
	}
	return desc
}

// onlyMetadata fails the test when counts hold a request other than those
// a run over unchanged images may make: the API root, manifest HEADs and
// GETs, tag lists, catalog and referrers lists.
func onlyMetadata(t *testing.T, who string, counts map[string]int) {
	t.Helper()
	allowed := []string{"GET /v2/", "HEAD manifest", "GET manifest", "GET tags", "GET catalog", "GET referrers"}
	for kind, n := range counts {
		if !slices.Contains(allowed, kind) {
			t.Errorf("%s: %d %q request(s) on a run that had nothing to copy (all: %s)", who, n, kind, hatest.FormatCounts(counts))
		}
	}
}

// headDigest returns the digest ref names at its registry, "" if none.
func headDigest(t *testing.T, c *client.Client, ref string) digest.Digest {
	t.Helper()
	r, err := client.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.ManifestHead(t.Context(), r)
	if errors.Is(err, client.ErrNotFound) {
		return ""
	}
	if err != nil {
		t.Fatalf("HEAD %s: %v", ref, err)
	}
	return d.Digest
}

// snapshotStore lists every file of a's store but its lock, with a hash of
// its content: equal snapshots, unchanged store.
func snapshotStore(t *testing.T, a *hostagent.Agent) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(a.Root(), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "lock" {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(a.Root(), p)
		lines = append(lines, fmt.Sprintf("%s %s", rel, digest.FromBytes(b).Encoded()[:12]))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}
