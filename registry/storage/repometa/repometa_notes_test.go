package repometa

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/berth-registry/berth/registry/storage"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// storedRecord reads name's record as another node would find it.
func storedRecord(t *testing.T, s *Store, name string) *RepoInfo {
	t.Helper()
	b, err := s.driver.GetContent(t.Context(), metaPath(name))
	if err != nil {
		t.Fatalf("record of %s: %v", name, err)
	}
	var r RepoInfo
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// notePush tells s of a push of tag, as the registry does after one.
func notePush(t *testing.T, s *Store, repo, tag string) {
	t.Helper()
	m, err := s.GetManifest(t.Context(), repo, tag)
	if err != nil {
		t.Fatal(err)
	}
	s.NoteManifestPut(t.Context(), repo, tag, nil, m)
}

// A node that has no copy of a repository keeps none for a push: the push
// goes into the stored record at the next flush (a tag that moved is
// described again), and nothing is held once flushed.
func TestColdPushesGoIntoTheStoredRecord(t *testing.T) {
	drv := inmemory.New()
	writer := New(storage.New(drv))
	metaImage(t, writer, "team/app", "1.0", "web")
	metaImage(t, writer, "team/app", "2.0", "api")
	if err := writer.FillRepoInfos(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := writer.FlushMeta(t.Context()); err != nil {
		t.Fatal(err)
	}
	old := storedRecord(t, writer, "team/app")
	one, _ := old.Tag("1.0")

	s := New(storage.New(drv)) // a node that never read the record
	dNew := metaImage(t, s, "team/app", "2.0", "db")
	notePush(t, s, "team/app", "2.0")
	m, _ := s.GetManifest(t.Context(), "team/app", "1.0")
	putManifest(t, s, "team/app", "latest", m.Payload)
	notePush(t, s, "team/app", "latest")
	c := s.metaCache()
	if len(c.repos) != 0 || len(c.pending) != 0 || len(c.notes["team/app"]) != 2 {
		t.Fatalf("a push made a copy: %d copies, %d pending, notes %v", len(c.repos), len(c.pending), c.notes)
	}
	if err := s.FlushMeta(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(c.repos) != 0 || len(c.notes) != 0 {
		t.Errorf("after the flush: %d copies, %d noted repositories", len(c.repos), len(c.notes))
	}
	r := storedRecord(t, s, "team/app")
	if !slices.Equal(tagNames(r), []string{"1.0", "2.0", "latest"}) {
		t.Fatalf("record's tags %v", tagNames(r))
	}
	two, _ := r.Tag("2.0")
	latest, _ := r.Tag("latest")
	if two.Digest != dNew || two.Labels["purpose"] != "db" || !two.Pushed.After(one.Pushed) {
		t.Errorf("moved tag: %+v", two)
	}
	if latest.Digest != one.Digest || latest.Labels["purpose"] != "web" || latest.Size != one.Size {
		t.Errorf("new tag of a described manifest: %+v, want %+v", latest, one)
	}
	if r.Size != one.Size+two.Size {
		t.Errorf("record's size %d, want %d", r.Size, one.Size+two.Size)
	}
}

// Without a stored record a flush writes none (the first reader describes
// every tag); a reader that makes the copy before the flush takes the
// notes, and a tag that moved is described from storage rather than from
// a record older than the push.
func TestColdPushesBeforeTheFirstRead(t *testing.T) {
	drv := inmemory.New()
	s := New(storage.New(drv))
	metaImage(t, s, "team/new", "1.0", "web")
	notePush(t, s, "team/new", "1.0")
	if err := s.FlushMeta(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := drv.GetContent(t.Context(), metaPath("team/new")); err == nil {
		t.Error("a flush wrote a record of a repository without one")
	}

	metaImage(t, s, "team/app", "1.0", "web")
	writer := New(storage.New(drv))
	if _, err := writer.RepoInfo(t.Context(), "team/app"); err != nil {
		t.Fatal(err)
	}
	if err := writer.FlushMeta(t.Context()); err != nil {
		t.Fatal(err)
	}
	d := metaImage(t, s, "team/app", "1.0", "api") // 1.0 moves
	notePush(t, s, "team/app", "1.0")
	r, err := s.RepoInfo(t.Context(), "team/app")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Tag("1.0"); got.Digest != d || got.Labels["purpose"] != "api" {
		t.Errorf("the copy describes the record's 1.0, not the pushed one: %+v", got)
	}
	if len(s.metaCache().notes) != 0 {
		t.Errorf("notes left after the copy was made: %v", s.metaCache().notes)
	}
	// Deleted before the flush: not put back into the record.
	metaImage(t, s, "team/gone", "1.0", "web")
	notePush(t, s, "team/gone", "1.0")
	s.NoteDeleted("team/gone", "1.0")
	if ns := s.metaCache().notes["team/gone"]; len(ns) != 0 {
		t.Errorf("notes of a deleted tag: %v", ns)
	}
}
