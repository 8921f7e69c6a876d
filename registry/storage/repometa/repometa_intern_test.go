package repometa

import (
	"slices"
	"strconv"
	"testing"
	"unsafe"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// Pushes noted through the hook are merged on the next read, the later
// push of a tag winning, and tags of one manifest share its description.
func TestRepoInfoMergesNotedPushes(t *testing.T) {
	s := New(storage.New(inmemory.New()))
	metaImage(t, s, "team/app", "1.0", "web")
	metaImage(t, s, "team/lib", "1.0", "web")
	if _, err := s.RepoInfo(t.Context(), "team/app"); err != nil {
		t.Fatal(err)
	}
	note := func(repo, tag string, extra ...string) {
		t.Helper()
		m, err := s.GetManifest(t.Context(), repo, tag)
		if err != nil {
			t.Fatal(err)
		}
		s.NoteManifestPut(t.Context(), repo, tag, extra, m)
	}
	dAPI := metaImage(t, s, "team/app", "2.0", "api")
	note("team/app", "2.0")
	dWeb := metaImage(t, s, "team/app", "0.9", "web")
	note("team/app", "0.9", "latest")
	m, _ := s.GetManifest(t.Context(), "team/app", "0.9")
	putManifest(t, s, "team/app", "2.0", m.Payload) // 2.0 moves to 0.9's manifest
	note("team/app", "2.0")
	if n := len(s.metaCache().pending["team/app"]); n != 4 {
		t.Errorf("%d pending entries, want 4 (merged by reads only)", n)
	}
	infos, err := s.RepoInfos(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.metaCache().pending) != 0 {
		t.Error("RepoInfos left pushes unmerged")
	}
	var r *RepoInfo
	for _, i := range infos {
		if i.Name == "team/app" {
			r = i
		}
	}
	if r == nil || !slices.Equal(tagNames(r), []string{"0.9", "1.0", "2.0", "latest"}) {
		t.Fatalf("listing: %+v", r)
	}
	two, _ := r.Tag("2.0")
	old, _ := r.Tag("0.9")
	if two.Digest != dWeb || old.Digest != dWeb || dAPI == dWeb {
		t.Errorf("2.0 %s, 0.9 %s, want %s", two.Digest, old.Digest, dWeb)
	}
	if unsafe.StringData(two.text) != unsafe.StringData(old.text) || two.text == "" {
		t.Error("tags of one manifest do not share its search text")
	}
	if r.Size != old.Size+mustTag(t, r, "1.0").Size {
		t.Errorf("size %d counts a manifest twice", r.Size)
	}
	hits, _, err := s.Search(t.Context(), "team/app purpose=web 2.0", nil, 10)
	if err != nil || len(hits) != 1 || hits[0].Tag != "2.0" {
		t.Errorf("search: %+v %v", hits, err)
	}
	if hits, _, _ := s.Search(t.Context(), "api", nil, 10); len(hits) != 0 {
		t.Errorf("search finds the manifest 2.0 left: %+v", hits)
	}
}

func mustTag(t *testing.T, r *RepoInfo, tag string) TagInfo {
	t.Helper()
	ti, ok := r.Tag(tag)
	if !ok {
		t.Fatalf("no tag %s in %v", tag, tagNames(r))
	}
	return ti
}

func TestDistinctDigests(t *testing.T) {
	var s distinctDigests
	n := 0
	for i := range 100 {
		for range 2 {
			if s.add(digest.FromString(strconv.Itoa(i))) {
				n++
			}
		}
	}
	if n != 100 {
		t.Errorf("%d new of 100 distinct digests added twice", n)
	}
}
