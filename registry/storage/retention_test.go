package storage

import (
	"errors"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// A push that moves a tag while a retention run deletes it is not lost:
// the push sees the run's untagging record and writes the tag again after
// the deletion. Without that wait (untagWaitOff) the same interleaving
// loses the push, which proves the test exercises the protection.
func TestRetentionRaceRetag(t *testing.T) {
	for _, protected := range []bool{true, false} {
		s := New(newFS(t))
		s.untagWaitOff = !protected
		d1, _ := pushImage(t, s, "team/app", "v1", []byte(`{"n":1}`), [][]byte{[]byte("one")}, nil)
		d2, _ := pushImage(t, s, "team/app", "", []byte(`{"n":2}`), [][]byte{[]byte("two")}, nil)
		p, err := s.NewPruner(t.Context(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		pushed := make(chan error, 1)
		p.beforeUntag = func() {
			// The run judged v1 -> d1 and checked it; now the push lands.
			go func() { pushed <- s.Tag(t.Context(), "team/app", "v1", d2) }()
			time.Sleep(300 * time.Millisecond)
		}
		why, err := p.Untag(t.Context(), "team/app", "v1", d1)
		if err != nil || why != "" {
			t.Fatalf("Untag: %q, %v", why, err)
		}
		if err := <-pushed; err != nil {
			t.Fatalf("push: %v", err)
		}
		got, err := s.resolve(t.Context(), "team/app", "v1")
		switch {
		case protected && (err != nil || got != d2):
			t.Errorf("protected: v1 -> %s, %v; want the push's %s", got, err, d2)
		case !protected && !errors.Is(err, ErrManifestUnknown):
			t.Errorf("unprotected: v1 -> %s, %v; want the push lost (the test does not exercise the protection)", got, err)
		}
		if protected {
			if pushedAt, err := s.TagPushed(t.Context(), "team/app", "v1", d2); err != nil || pushedAt.IsZero() {
				t.Errorf("the re-written tag has no push time: %v, %v", pushedAt, err)
			}
		}
	}
}

// A tag that moved between the decision and the deletion is spared, and a
// manifest relied on within the grace period is spared.
func TestRetentionSpares(t *testing.T) {
	s := New(newFS(t))
	d1, _ := pushImage(t, s, "team/app", "v1", []byte(`{"n":1}`), [][]byte{[]byte("one")}, nil)
	d2, _ := pushImage(t, s, "team/app", "v2", []byte(`{"n":2}`), [][]byte{[]byte("two")}, nil)
	if err := s.Tag(t.Context(), "team/app", "v1", d2); err != nil {
		t.Fatal(err)
	}
	p, err := s.NewPruner(t.Context(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if why, err := p.Untag(t.Context(), "team/app", "v1", d1); err != nil || why != "moved to "+d2.String()+" meanwhile" {
		t.Errorf("Untag of a moved tag: %q, %v", why, err)
	}
	if why, err := p.Untag(t.Context(), "team/app", "gone", digest.FromString("x")); err != nil || why != "deleted meanwhile" {
		t.Errorf("Untag of a missing tag: %q, %v", why, err)
	}
	// d1 was just pushed: its used record is younger than the grace.
	if why, err := p.DeleteManifest(t.Context(), "team/app", d1, ""); err != nil || why == "" {
		t.Errorf("DeleteManifest of a fresh manifest: %q, %v; want it spared", why, err)
	}
	if _, err := s.GetManifest(t.Context(), "team/app", d1.String()); err != nil {
		t.Errorf("the spared manifest: %v", err)
	}
	if _, err := p.Untag(t.Context(), "team/app", "bad tag", d1); !errors.Is(err, ErrTagInvalid) {
		t.Errorf("Untag of an invalid tag: %v", err)
	}
}
