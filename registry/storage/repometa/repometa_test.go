package repometa

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// metaImage pushes an image with labels into repo as tag.
func metaImage(t *testing.T, s *Store, repo, tag, label string) digest.Digest {
	t.Helper()
	cfg := `{"architecture":"arm64","os":"linux","variant":"v8","created":"2026-01-02T03:04:05Z","config":{"Labels":{"purpose":"` + label + `"}}}`
	c := putString(t, s, repo, cfg)
	l := putString(t, s, repo, "layer of "+repo+":"+tag+label)
	m, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": storage.MediaTypeOCIManifest,
		"config":      map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": c, "size": len(cfg)},
		"layers":      []map[string]any{{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": l, "size": 100}},
		"annotations": map[string]string{"org.example.note": "note-" + label}})
	return putManifest(t, s, repo, tag, m)
}

func tagNames(r *RepoInfo) []string {
	var out []string
	for _, t := range r.Tags {
		out = append(out, t.Tag)
	}
	return out
}

func TestRepoInfoDescribesTags(t *testing.T) {
	s := New(storage.New(inmemory.New()))
	d := metaImage(t, s, "team/app", "1.0", "web")
	metaImage(t, s, "team/app", "2.0", "api")
	r, err := s.RepoInfo(t.Context(), "team/app")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tagNames(r), []string{"1.0", "2.0"}) || !r.Known {
		t.Fatalf("tags %v", tagNames(r))
	}
	one, _ := r.Tag("1.0")
	m, _ := s.GetManifest(t.Context(), "team/app", "1.0")
	var doc manifestDoc
	if err := json.Unmarshal(m.Payload, &doc); err != nil {
		t.Fatal(err)
	}
	if one.Digest != d || one.Size != int64(len(m.Payload))+doc.Config.Size+100 {
		t.Errorf("1.0: %+v", one)
	}
	if !slices.Equal(one.Platforms, []string{"linux/arm64/v8"}) || one.Labels["purpose"] != "web" ||
		one.Annotations["org.example.note"] != "note-web" || one.Created.IsZero() || one.Pushed.IsZero() {
		t.Errorf("1.0: %+v", one)
	}
	two, _ := r.Tag("2.0")
	if r.Size != one.Size+two.Size || !r.Pushed.Equal(laterOf(one.Pushed, two.Pushed)) {
		t.Errorf("totals: size %d pushed %v", r.Size, r.Pushed)
	}
	if _, err := s.RepoInfo(t.Context(), "no/such"); err == nil {
		t.Error("RepoInfo of a missing repository did not fail")
	}
	if _, err := s.RepoInfo(t.Context(), "Bad..Name"); err == nil {
		t.Error("RepoInfo of an invalid name did not fail")
	}
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func TestRepoInfoFollowsPushesAndDeletes(t *testing.T) {
	drv := inmemory.New()
	s := New(storage.New(drv))
	metaImage(t, s, "team/app", "1.0", "web")
	if _, err := s.RepoInfo(t.Context(), "team/app"); err != nil {
		t.Fatal(err)
	}
	// Through the hooks, as the registry calls them: seen at once.
	d2 := metaImage(t, s, "team/app", "2.0", "api")
	m, _ := s.GetManifest(t.Context(), "team/app", "2.0")
	s.NoteManifestPut(t.Context(), "team/app", "2.0", nil, m)
	r, _ := s.RepoInfo(t.Context(), "team/app")
	if got, _ := r.Tag("2.0"); got.Digest != d2 || got.Labels["purpose"] != "api" {
		t.Errorf("after the push hook: %+v", r.Tags)
	}
	if err := s.DeleteManifest(t.Context(), "team/app", "1.0"); err != nil {
		t.Fatal(err)
	}
	s.NoteDeleted("team/app", "1.0")
	r, _ = s.RepoInfo(t.Context(), "team/app")
	if !slices.Equal(tagNames(r), []string{"2.0"}) {
		t.Errorf("after the delete hook: %v", tagNames(r))
	}
	// Flushed, another node reads the record without describing again.
	if err := s.FlushMeta(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := drv.GetContent(t.Context(), metaPath("team/app")); err != nil {
		t.Fatalf("record not written: %v", err)
	}
	other := New(storage.New(drv))
	r2, err := other.RepoInfo(t.Context(), "team/app")
	if err != nil || !slices.Equal(tagNames(r2), []string{"2.0"}) || r2.Size != r.Size {
		t.Fatalf("other node: %v %+v", err, r2)
	}
	// A change the hooks never saw (another node's push) shows once the
	// copy is older than metaRecheck.
	metaImage(t, s, "team/app", "3.0", "db")
	if r, _ := other.RepoInfo(t.Context(), "team/app"); len(r.Tags) != 1 {
		t.Errorf("rechecked too early: %v", tagNames(r))
	}
	// The stale copy is served at once and compared in the background:
	// the next reads see the change.
	other.now = func() time.Time { return time.Now().Add(metaRecheck + time.Second) }
	if r, _ := other.RepoInfo(t.Context(), "team/app"); len(r.Tags) != 1 {
		t.Errorf("a stale copy waited for its recheck: %v", tagNames(r))
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		r, _ := other.RepoInfo(t.Context(), "team/app")
		if slices.Equal(tagNames(r), []string{"2.0", "3.0"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the recheck: %v", tagNames(r))
		}
	}
	// A deleted repository's record goes with the flush.
	s.NoteRepositoryDeleted("team/app")
	if err := s.FlushMeta(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := drv.GetContent(t.Context(), metaPath("team/app")); err == nil {
		t.Error("the record of a deleted repository remains")
	}
}

func TestRepoInfosAndSearch(t *testing.T) {
	s := New(storage.New(inmemory.New()))
	metaImage(t, s, "team/app", "1.0", "web")
	metaImage(t, s, "team/db", "5.1", "database")
	metaImage(t, s, "other/x", "latest", "misc")
	infos, err := s.RepoInfos(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range infos {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, []string{"other/x", "team/app", "team/db"}) {
		t.Fatalf("RepoInfos %v", names)
	}
	if err := s.FillRepoInfos(t.Context()); err != nil {
		t.Fatal(err)
	}
	all := func(string) bool { return true }
	for _, c := range []struct {
		q    string
		want []string
	}{
		{"purpose=database", []string{"team/db:5.1"}},
		{"TEAM", []string{"team/app:1.0", "team/db:5.1"}},
		{"team note-web", []string{"team/app:1.0"}},
		{"application/vnd.oci.image.manifest.v1+json", []string{"other/x:latest", "team/app:1.0", "team/db:5.1"}},
		{"nothing", nil},
	} {
		hits, more, err := s.Search(t.Context(), c.q, all, 10)
		if err != nil || more {
			t.Fatalf("search %q: %v more=%v", c.q, err, more)
		}
		var got []string
		for _, h := range hits {
			got = append(got, h.Repository+":"+h.Tag)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("search %q: %v, want %v", c.q, got, c.want)
		}
	}
	hits, _, _ := s.Search(t.Context(), "team", func(n string) bool { return n != "team/app" }, 10)
	if len(hits) != 1 || hits[0].Repository != "team/db" {
		t.Errorf("search hides nothing the filter refuses: %+v", hits)
	}
	if hits, more, _ := s.Search(t.Context(), "linux", all, 2); len(hits) != 2 || !more {
		t.Errorf("limit: %d hits, more %v", len(hits), more)
	}
}

// putString uploads content into repo as a blob.
func putString(t *testing.T, s *Store, repo, content string) digest.Digest {
	t.Helper()
	u, err := s.StartUpload(t.Context(), repo)
	if err != nil {
		t.Fatal(err)
	}
	d := digest.FromString(content)
	if _, err := u.Commit(t.Context(), d, strings.NewReader(content), 0); err != nil {
		t.Fatal(err)
	}
	return d
}

// putManifest puts payload into repo under tag.
func putManifest(t *testing.T, s *Store, repo, tag string, payload []byte) digest.Digest {
	t.Helper()
	if _, err := s.PutManifest(t.Context(), repo, tag, "", payload, nil); err != nil {
		t.Fatalf("put manifest %s:%s: %v", repo, tag, err)
	}
	return digest.FromBytes(payload)
}
