package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/storagedriver"
)

// scrubRoot is a small registry: two images in "app" sharing nothing, a
// signature whose subject is the first, and a blob no manifest uses.
type scrubRoot struct {
	s                        *Store
	drv                      storagedriver.Driver
	l1, l3, orphan           digest.Digest
	imgA, imgB, sig          digest.Digest
	payloadA, payloadB       []byte
	blobsA, blobsB, blobsSig map[digest.Digest][]byte
}

func putBlob(t *testing.T, s *Store, name string, b []byte) digest.Digest {
	t.Helper()
	ctx := t.Context()
	u, err := s.StartUpload(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	d := digest.FromBytes(b)
	if _, err := u.Commit(ctx, d, bytes.NewReader(b), 0); err != nil {
		t.Fatal(err)
	}
	return d
}

func imageManifest(t *testing.T, config []byte, layers [][]byte, subject *v1.Descriptor, artifactType string) []byte {
	t.Helper()
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     MediaTypeOCIManifest,
		"config":        v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: digest.FromBytes(config), Size: int64(len(config))},
	}
	var ls []v1.Descriptor
	for _, l := range layers {
		ls = append(ls, v1.Descriptor{MediaType: v1.MediaTypeImageLayerGzip, Digest: digest.FromBytes(l), Size: int64(len(l))})
	}
	m["layers"] = ls
	if subject != nil {
		m["subject"] = subject
		m["artifactType"] = artifactType
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pushImage stores config and layers and the manifest of them.
func pushImage(t *testing.T, s *Store, name, tag string, config []byte, layers [][]byte, subject *v1.Descriptor) (digest.Digest, []byte) {
	t.Helper()
	putBlob(t, s, name, config)
	for _, l := range layers {
		putBlob(t, s, name, l)
	}
	payload := imageManifest(t, config, layers, subject, "application/vnd.example.signature")
	ref := tag
	if ref == "" {
		ref = digest.FromBytes(payload).String()
	}
	m, err := s.PutManifest(t.Context(), name, ref, MediaTypeOCIManifest, payload, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m.Digest, payload
}

func newScrubRoot(t *testing.T, drv storagedriver.Driver) *scrubRoot {
	r := &scrubRoot{s: New(drv), drv: drv}
	l1, l2, l3 := []byte("layer one"), []byte("layer two"), []byte("layer three")
	r.l1, r.l3 = digest.FromBytes(l1), digest.FromBytes(l3)
	r.imgA, r.payloadA = pushImage(t, r.s, "app", "v1", []byte(`{"config":"a"}`), [][]byte{l1, l2}, nil)
	r.imgB, r.payloadB = pushImage(t, r.s, "app", "v2", []byte(`{"config":"b"}`), [][]byte{l3}, nil)
	subject := &v1.Descriptor{MediaType: MediaTypeOCIManifest, Digest: r.imgA, Size: int64(len(r.payloadA))}
	r.sig, _ = pushImage(t, r.s, "app", "", []byte(`{}`), [][]byte{[]byte("signature")}, subject)
	r.orphan = putBlob(t, r.s, "app", []byte("uploaded, never used"))
	return r
}

// scrubAll runs Scrub and returns the problems' lines, sorted, with the
// summary.
func scrubAll(t *testing.T, s *Store, repair bool) ([]string, ScrubSummary) {
	t.Helper()
	var lines []string
	sum, err := s.Scrub(t.Context(), ScrubOptions{Repair: repair, Report: func(p Problem) { lines = append(lines, p.String()) }})
	if err != nil {
		t.Fatalf("scrub: %v", err)
	}
	slices.Sort(lines)
	return lines, sum
}

// TestScrub proves Scrub on every driver: a sound root is clean; each kind
// of damage injected is reported, and nothing changes without Repair
// (a second scrub reports the same); with Repair it is removed, the next
// scrub is clean, and pushing the images again heals the repository. The
// referrers index is rebuilt either way.
func TestScrub(t *testing.T) {
	for _, td := range testDrivers {
		t.Run(td.name, func(t *testing.T) {
			ctx := t.Context()
			r := newScrubRoot(t, td.new(t))
			lines, sum := scrubAll(t, r.s, false)
			if len(lines) != 0 || sum.Problems != 0 || sum.Orphans != 1 || sum.Blobs != 11 || sum.Tags != 2 || sum.Manifests != 3 {
				t.Fatalf("sound root: %v, %+v", lines, sum)
			}

			// Damage: a flipped byte in l1, l3 gone, a tag to nothing, the
			// signature's index entry gone and one for a manifest never
			// pushed.
			p := layout.BlobDataPath(r.l1)
			b, err := r.drv.GetContent(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			b[0] ^= 1
			if err := r.drv.PutContent(ctx, p, b); err != nil {
				t.Fatal(err)
			}
			if err := r.drv.Delete(ctx, layout.BlobDir(r.l3)); err != nil {
				t.Fatal(err)
			}
			ghost := digest.FromString("never pushed")
			if err := r.s.Tag(ctx, "app", "ghost", ghost); err != nil {
				t.Fatal(err)
			}
			if err := r.drv.Delete(ctx, layout.ReferrerPath("app", r.imgA, r.sig)); err != nil {
				t.Fatal(err)
			}
			if err := r.drv.PutContent(ctx, layout.ReferrerPath("app", r.imgA, ghost), []byte(`{}`)); err != nil {
				t.Fatal(err)
			}

			want := []string{
				fmt.Sprintf("corrupt-blob %s: 9 bytes hash to %s", r.l1, digest.FromBytes(b)),
				fmt.Sprintf("dangling-layer-link app %s: blob corrupt", r.l1),
				fmt.Sprintf("dangling-layer-link app %s: blob missing", r.l3),
				fmt.Sprintf("dangling-tag app:ghost %s: manifest missing", ghost),
				fmt.Sprintf("missing-reference app %s: layer %s corrupt", r.imgA, r.l1),
				fmt.Sprintf("missing-reference app %s: layer %s missing", r.imgB, r.l3),
				fmt.Sprintf("stale-referrer app %s: indexed as a referrer of %s but not in the repository", ghost, r.imgA),
			}
			slices.Sort(want)
			for range 2 {
				lines, sum = scrubAll(t, r.s, false)
				if !slices.Equal(lines, want) {
					t.Fatalf("scrub of the damaged root:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
				}
				if sum.Problems != 7 || sum.Repaired != 0 || sum.CorruptBytes != 9 {
					t.Errorf("summary %+v", sum)
				}
				refs, err := r.s.Referrers(ctx, "app", r.imgA, "")
				if err != nil || len(refs) != 2 { // the signature, reindexed, and the stale entry
					t.Errorf("referrers of the subject: %v, %v", refs, err)
				}
			}

			lines, sum = scrubAll(t, r.s, true)
			if sum.Problems != 9 || sum.Repaired != 9 { // and the tags v1 and v2 of the unlinked manifests
				t.Errorf("repair: %+v\n%s", sum, strings.Join(lines, "\n"))
			}
			lines, sum = scrubAll(t, r.s, false)
			if len(lines) != 0 {
				t.Fatalf("scrub after the repair:\n%s", strings.Join(lines, "\n"))
			}
			if _, err := r.s.GetManifest(ctx, "app", "v1"); err == nil {
				t.Error("v1, whose layer was corrupt, still resolves")
			}

			// A push heals.
			pushImage(t, r.s, "app", "v1", []byte(`{"config":"a"}`), [][]byte{[]byte("layer one"), []byte("layer two")}, nil)
			pushImage(t, r.s, "app", "v2", []byte(`{"config":"b"}`), [][]byte{[]byte("layer three")}, nil)
			lines, sum = scrubAll(t, r.s, false)
			if len(lines) != 0 || sum.Orphans != 1 || sum.Tags != 2 || sum.Manifests != 3 {
				t.Fatalf("after the push: %v, %+v", lines, sum)
			}
			refs, err := r.s.Referrers(ctx, "app", r.imgA, "")
			if err != nil || len(refs) != 1 || refs[0].Digest != r.sig || refs[0].ArtifactType != "application/vnd.example.signature" {
				t.Errorf("referrers after the repair: %+v, %v", refs, err)
			}
		})
	}
}

// TestScrubInvalidManifest: a revision that does not parse is reported
// and, being possibly a format this registry does not read, never removed.
func TestScrubInvalidManifest(t *testing.T) {
	drv := testDrivers[0].new(t)
	s := New(drv)
	ctx := t.Context()
	payload := []byte(`{"schemaVersion":1,"name":"app","tag":"old"}`)
	d := digest.FromBytes(payload)
	if err := drv.PutContent(ctx, layout.BlobDataPath(d), payload); err != nil {
		t.Fatal(err)
	}
	if err := s.link(ctx, layout.RevisionLinkPath("app", d), d); err != nil {
		t.Fatal(err)
	}
	if err := s.index.Add(ctx, "app", false); err != nil { // as a push would
		t.Fatal(err)
	}
	for _, repair := range []bool{false, true} {
		lines, sum := scrubAll(t, s, repair)
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "invalid-manifest app "+string(d)+": ") || sum.Repaired != 0 {
			t.Errorf("repair %v: %v, %+v", repair, lines, sum)
		}
	}
}

// hookDriver runs hook once, the first time path is listed.
type hookDriver struct {
	storagedriver.Driver
	path string
	once sync.Once
	hook func()
}

func (h *hookDriver) List(ctx context.Context, p string) ([]string, error) {
	if p == h.path {
		h.once.Do(h.hook)
	}
	return h.Driver.List(ctx, p)
}

// TestScrubDuringPush: an image pushed after Scrub has hashed the blobs
// but before it reads the repositories is no damage: a repairing scrub
// reports nothing and the image stays whole.
func TestScrubDuringPush(t *testing.T) {
	inner := testDrivers[0].new(t)
	r := newScrubRoot(t, inner)
	var img digest.Digest
	drv := &hookDriver{Driver: inner, path: layout.RepositoriesRoot(), hook: func() {
		img, _ = pushImage(t, New(inner), "app", "pushed-meanwhile", []byte(`{"config":"late"}`), [][]byte{[]byte("late layer")}, nil)
	}}
	lines, sum := scrubAll(t, New(drv), true)
	if img == "" {
		t.Fatal("the push never ran")
	}
	if len(lines) != 0 || sum.Repaired != 0 {
		t.Fatalf("scrub during a push: %+v\n%s", sum, strings.Join(lines, "\n"))
	}
	m, err := r.s.GetManifest(t.Context(), "app", "pushed-meanwhile")
	if err != nil || m.Digest != img {
		t.Fatalf("image pushed during the scrub: %v, %v", m, err)
	}
	if _, err := r.s.StatBlob(t.Context(), "app", digest.FromString("late layer")); err != nil {
		t.Errorf("its layer: %v", err)
	}
}

// TestScrubReferrerUnderWrongSubject: an index entry of a manifest that
// exists, but filed under a subject it does not have, is stale.
func TestScrubReferrerUnderWrongSubject(t *testing.T) {
	r := newScrubRoot(t, testDrivers[0].new(t))
	desc, err := r.drv.GetContent(t.Context(), layout.ReferrerPath("app", r.imgA, r.sig))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.drv.PutContent(t.Context(), layout.ReferrerPath("app", r.imgB, r.sig), desc); err != nil {
		t.Fatal(err)
	}
	lines, _ := scrubAll(t, r.s, true)
	want := fmt.Sprintf("stale-referrer app %s: indexed as a referrer of %s, which is not its subject (removed)", r.sig, r.imgB)
	if len(lines) != 1 || lines[0] != want {
		t.Fatalf("scrub: %q, want %q", lines, want)
	}
	if refs, err := r.s.Referrers(t.Context(), "app", r.imgB, ""); err != nil || len(refs) != 0 {
		t.Errorf("referrers of the wrong subject after the repair: %v, %v", refs, err)
	}
}
