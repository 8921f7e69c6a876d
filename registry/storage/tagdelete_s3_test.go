package storage

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// TestTagDeleteRacingTagPut: on S3 a driver deletes a directory by listing
// its keys, then deleting what it listed (one DeleteObjects). A manifest
// PUT that moves the tag while a DELETE of the tag is between the two must
// leave the tag either gone or whole, never listed and resolving to
// nothing ("tag t: manifest unknown", which TestGCStress/s3 met with no
// collector involved: two pushers of one repository, one deleting the tag
// the other moves). Each DeleteObjects of the DELETE is held in turn, in a
// proxy in front of versitygw, while the PUT runs to its end.
func TestTagDeleteRacingTagPut(t *testing.T) {
	drv, _, hold := racingDrivers(t, "s3")
	s, ctx := New(drv), t.Context()
	for at := 1; ; at++ {
		repo := fmt.Sprintf("race/r%d", at)
		pushImage(t, s, repo, "t", []byte(`{"config":"one"}`), [][]byte{[]byte("layer")}, nil)
		second, payload := pushImage(t, s, repo, "other", []byte(`{"config":"two"}`), [][]byte{[]byte("layer")}, nil)
		var moved error
		ran := false
		move := func() {
			ran = true
			_, moved = s.PutManifest(ctx, repo, "t", MediaTypeOCIManifest, payload, nil)
		}
		hold.arm(at, move)
		err := s.DeleteManifest(ctx, repo, "t")
		hold.during.Store(nil)
		if !ran {
			if at == 1 {
				t.Fatal("the tag's DELETE made no DeleteObjects")
			}
			break
		}
		if err != nil && !errors.Is(err, ErrManifestUnknown) {
			t.Fatalf("DeleteObjects %d held: DELETE: %v", at, err)
		}
		if moved != nil {
			t.Fatalf("DeleteObjects %d held: the PUT moving the tag: %v", at, moved)
		}
		tags, err := s.Tags(ctx, repo)
		if err != nil {
			t.Fatal(err)
		}
		state := "gone"
		if slices.Contains(tags, "t") {
			state = "moved"
			m, err := s.GetManifest(ctx, repo, "t")
			if err != nil || m.Digest != second {
				t.Errorf("DeleteObjects %d of the DELETE held while a PUT moved the tag: the tag is listed, and resolves to %v, %v; want it gone or at %s",
					at, m, err, second)
				continue
			}
		}
		t.Logf("DeleteObjects %d of the DELETE held while a PUT moved the tag: the tag is %s", at, state)
	}
}
