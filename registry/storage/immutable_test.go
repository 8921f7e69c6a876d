package storage

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/opencontainers/go-digest"
)

// vTags makes tags starting with "v" immutable, as policies.immutable with
// tags: ["v*"] does.
func vTags(tag string) (string, bool) {
	if len(tag) > 0 && tag[0] == 'v' {
		return "rule v*", true
	}
	return "", false
}

func TestImmutableTags(t *testing.T) {
	for name, mk := range gcDrivers() {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			s := New(mk(t))
			c := putString(t, s, "team/app", "config")
			one := imageJSON(c, "", putString(t, s, "team/app", "layer one"))
			two := imageJSON(c, "", putString(t, s, "team/app", "layer two"))
			d1, d2 := digest.FromBytes(one), digest.FromBytes(two)
			put := func(ref string, payload []byte, tags ...string) error {
				_, err := s.PutManifestGuarded(ctx, "team/app", ref, "", payload, tags, vTags)
				return err
			}
			for i := 0; i < 2; i++ { // the second push of the same digest is accepted
				if err := put("v1", one); err != nil {
					t.Fatalf("push %d of v1: %v", i+1, err)
				}
			}
			err := put("v1", two)
			var ie *ImmutableTagError
			if !errors.Is(err, ErrTagImmutable) || !errors.As(err, &ie) || ie.Tag != "v1" || ie.Rule != "rule v*" {
				t.Fatalf("moving v1: %v, want an ImmutableTagError naming v1 and its rule", err)
			}
			if want := fmt.Sprintf("tag v1 of team/app is immutable (rule v*) and cannot be moved from %s to %s", d1, d2); err.Error() != want {
				t.Fatalf("message %q, want %q", err, want)
			}
			// Refused before anything was written: the other manifest is not even stored.
			if _, err := s.GetManifest(ctx, "team/app", d2.String()); !errors.Is(err, ErrManifestUnknown) {
				t.Fatalf("refused manifest stored anyway: %v", err)
			}
			// By digest with ?tag=: latest is mutable, v1 not; nothing moves.
			if err := put(d2.String(), two, "latest", "v1"); !errors.Is(err, ErrTagImmutable) {
				t.Fatalf("PUT by digest with tag=v1: %v", err)
			}
			if _, err := s.GetManifest(ctx, "team/app", "latest"); !errors.Is(err, ErrManifestUnknown) {
				t.Fatalf("latest tagged by a refused push: %v", err)
			}
			if err := put("latest", one); err != nil {
				t.Fatal(err)
			}
			if err := put("latest", two); err != nil {
				t.Fatalf("moving the mutable latest: %v", err)
			}
			if m, err := s.GetManifest(ctx, "team/app", "v1"); err != nil || m.Digest != d1 {
				t.Fatalf("v1 after the refusals: %v, %v; want %s", m, err, d1)
			}
			// Deletes: the tag, and the manifest it points at; latest and
			// the manifest only latest points at may go.
			for _, ref := range []string{"v1", d1.String()} {
				if err := s.DeleteManifestGuarded(ctx, "team/app", ref, vTags); !errors.Is(err, ErrTagImmutable) {
					t.Fatalf("delete %s: %v, want ErrTagImmutable", ref, err)
				}
			}
			if err := s.DeleteManifestGuarded(ctx, "team/app", "vnone", vTags); !errors.Is(err, ErrManifestUnknown) {
				t.Fatalf("delete of an absent immutable tag: %v, want ErrManifestUnknown", err)
			}
			if err := s.DeleteManifestGuarded(ctx, "team/none", d1.String(), vTags); !errors.Is(err, ErrManifestUnknown) {
				t.Fatalf("delete in an unknown repository: %v, want ErrManifestUnknown as without a guard", err)
			}
			if err := s.DeleteManifestGuarded(ctx, "team/app", d2.String(), vTags); err != nil {
				t.Fatalf("delete of the manifest only latest points at: %v", err)
			}
			if tags, _ := s.Tags(ctx, "team/app"); len(tags) != 1 || tags[0] != "v1" {
				t.Fatalf("tags after the deletes: %v, want [v1]", tags)
			}
		})
	}
}

// TestImmutableTagRace has two stores over one storage (two nodes) push
// different manifests to the same new immutable tags at once: never do
// both succeed, and the tag points at the one that did.
func TestImmutableTagRace(t *testing.T) {
	for name, mk := range gcDrivers() {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			drv := mk(t)
			nodes := []*Store{New(drv), New(drv)}
			c := putString(t, nodes[0], "team/app", "config")
			var payloads [2][]byte
			for i := range payloads {
				payloads[i] = imageJSON(c, "", putString(t, nodes[0], "team/app", fmt.Sprint("layer ", i)))
			}
			const tags = 12
			won, none := 0, 0
			for i := 0; i < tags; i++ {
				tag := fmt.Sprint("v", i)
				var errs [2]error
				var wg sync.WaitGroup
				for n := range nodes {
					wg.Add(1)
					go func() {
						defer wg.Done()
						_, errs[n] = nodes[n].PutManifestGuarded(ctx, "team/app", tag, "", payloads[n], nil, vTags)
					}()
				}
				wg.Wait()
				for _, err := range errs {
					if err != nil && !errors.Is(err, ErrTagImmutable) {
						t.Fatalf("%s: %v", tag, err)
					}
				}
				m, err := nodes[0].GetManifest(ctx, "team/app", tag)
				switch {
				case errs[0] == nil && errs[1] == nil:
					t.Fatalf("%s: both pushes of different manifests succeeded", tag)
				case errs[0] == nil || errs[1] == nil:
					w := 0
					if errs[0] != nil {
						w = 1
					}
					if err != nil || m.Digest != digest.FromBytes(payloads[w]) {
						t.Fatalf("%s: node %d won, but the tag resolves to %v (%v)", tag, w, m, err)
					}
					won++
				default: // both withdrew: the tag is free, and the next push takes it
					if !errors.Is(err, ErrManifestUnknown) {
						t.Fatalf("%s: both lost, but the tag resolves: %v", tag, err)
					}
					if _, err := nodes[1].PutManifestGuarded(ctx, "team/app", tag, "", payloads[1], nil, vTags); err != nil {
						t.Fatalf("%s: push after a race both lost: %v", tag, err)
					}
					none++
				}
			}
			t.Logf("%d races: %d won by one node, %d lost by both (clients push again)", tags, won, none)
		})
	}
}

// TestImmutableTagClaims plays the claim's interleavings one step at a time.
func TestImmutableTagClaims(t *testing.T) {
	ctx := t.Context()
	drv := newFS(t)
	s := New(drv)
	c := putString(t, s, "team/app", "config")
	one := imageJSON(c, "", putString(t, s, "team/app", "layer one"))
	two := imageJSON(c, "", putString(t, s, "team/app", "layer two"))
	d1 := digest.FromBytes(one)
	if _, err := s.PutManifest(ctx, "team/app", d1.String(), "", one, nil); err != nil {
		t.Fatal(err)
	}
	// Another node wrote its claim on v1 (step 1) and has not yet linked
	// current: this push sees the rival and withdraws.
	if err := s.link(ctx, layout.TagIndexPath("team/app", "v1", d1), d1); err != nil {
		t.Fatal(err)
	}
	_, err := s.PutManifestGuarded(ctx, "team/app", "v1", "", two, nil, vTags)
	if !errors.Is(err, ErrTagImmutable) {
		t.Fatalf("push against a live claim: %v, want ErrTagImmutable", err)
	}
	if _, err := drv.Stat(ctx, layout.TagIndexPath("team/app", "v1", digest.FromBytes(two))); err == nil {
		t.Fatal("the losing push left its claim")
	}
	// The rival died: once its claim is older than claimWindow, it blocks nobody.
	drv.age(t, claimWindow+time.Minute)
	if _, err := s.PutManifestGuarded(ctx, "team/app", "v1", "", two, nil, vTags); err != nil {
		t.Fatalf("push against a dead claim: %v", err)
	}
	if m, err := s.GetManifest(ctx, "team/app", "v1"); err != nil || m.Digest != digest.FromBytes(two) {
		t.Fatalf("v1: %v, %v", m, err)
	}
}
