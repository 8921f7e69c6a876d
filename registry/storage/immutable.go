package storage

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/storagedriver"
)

// TagGuard says whether a tag of the repository at hand is immutable (it
// may not move to another manifest nor be deleted), and names the rule
// that makes it so for the error message. A nil TagGuard guards nothing.
type TagGuard func(tag string) (rule string, immutable bool)

func (g TagGuard) check(tag string) (string, bool) {
	if g == nil {
		return "", false
	}
	return g(tag)
}

// ImmutableTagError is the refusal of a change to an immutable tag. It
// matches ErrTagImmutable.
type ImmutableTagError struct {
	Name, Tag, Rule string
	// Doing is what was refused, for the message: "moved to sha256:...",
	// "deleted".
	Doing string
}

func (e *ImmutableTagError) Error() string {
	return fmt.Sprintf("tag %s of %s is immutable (%s) and cannot be %s", e.Tag, e.Name, e.Rule, e.Doing)
}

// Is makes errors.Is(err, ErrTagImmutable) hold.
func (e *ImmutableTagError) Is(target error) bool { return target == ErrTagImmutable }

// claimWindow is how recent another manifest's entry in an immutable tag's
// history must be, when the tag has no current link, for a push creating
// the tag to take it for a rival push in progress. Older entries are left
// by pushes that died between the two writes of tagImmutable.
const claimWindow = time.Minute

// refuseMoves returns an ImmutableTagError when one of tags is immutable
// and points at a manifest other than d: checked before a manifest PUT
// writes anything.
func (s *Store) refuseMoves(ctx context.Context, name string, d digest.Digest, tags []string, guard TagGuard) error {
	for _, t := range tags {
		rule, ok := guard.check(t)
		if !ok {
			continue
		}
		cur, err := s.resolve(ctx, name, t)
		if errors.Is(err, ErrManifestUnknown) {
			continue
		}
		if err != nil {
			return err
		}
		if cur != d {
			return &ImmutableTagError{Name: name, Tag: t, Rule: rule, Doing: fmt.Sprintf("moved from %s to %s", cur, d)}
		}
	}
	return nil
}

// tagImmutable points the immutable tag of repository name at d. A tag
// pointing elsewhere is refused. A tag that does not exist yet is created
// with a claim, so that of two pushes racing to create it with different
// manifests (on any nodes) at most one succeeds:
//
//  1. write the history entry tags/<tag>/index/<d> (Distribution's layout);
//  2. list the tag's history: an entry for another manifest younger than
//     claimWindow (by storage mtime, against this one's) is a rival;
//  3. without a rival, and with the tag still absent or at d, write
//     tags/<tag>/current/link (Tag, which also records the push time).
//
// Of two such write-then-list sequences, one list sees the other's entry
// (storage is linearizable per key), so two rivals never both reach step 3
// without the later one seeing the first. A push that sees a rival
// withdraws its entry, waits a random moment and, while the tag is still
// absent, tries again (claimTries in all), so that simultaneous pushes
// rarely both lose; when they do, each client is refused and pushes again.
// A rival whose steps are more than claimWindow apart is taken for dead:
// that is the window left open.
func (s *Store) tagImmutable(ctx context.Context, name, tag string, d digest.Digest, rule string) error {
	for try := 1; ; try++ {
		cur, err := s.resolve(ctx, name, tag)
		switch {
		case err == nil && cur == d:
			return s.Tag(ctx, name, tag, d) // the same push again: rewrite both links, as a mutable tag does
		case err == nil:
			return &ImmutableTagError{Name: name, Tag: tag, Rule: rule, Doing: fmt.Sprintf("moved from %s to %s", cur, d)}
		case !errors.Is(err, ErrManifestUnknown):
			return err
		}
		rival, err := s.claimTag(ctx, name, tag, d)
		if err != nil || rival == "" {
			return err
		}
		if try == claimTries {
			return &ImmutableTagError{Name: name, Tag: tag, Rule: rule,
				Doing: fmt.Sprintf("created as %s while a push of %s to it is in progress", d, rival)}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(rand.Int64N(int64(claimBackoff)))):
		}
	}
}

// claimTries is how many claims tagImmutable makes before it refuses;
// between two it waits up to claimBackoff.
const (
	claimTries   = 3
	claimBackoff = 200 * time.Millisecond
)

// claimTag does steps 1 to 3 of tagImmutable once. It returns the rival's
// manifest when it lost (its own entry withdrawn), "" when it linked d.
func (s *Store) claimTag(ctx context.Context, name, tag string, d digest.Digest) (digest.Digest, error) {
	mine := layout.TagIndexPath(name, tag, d)
	if err := s.link(ctx, mine, d); err != nil {
		return "", err
	}
	rival, err := s.rivalClaim(ctx, name, tag, d)
	if err == nil && rival == "" {
		cur, rerr := s.resolve(ctx, name, tag)
		switch {
		case errors.Is(rerr, ErrManifestUnknown):
			return "", s.Tag(ctx, name, tag, d) // current link, push time
		case rerr == nil && cur == d:
			return "", nil
		case rerr == nil:
			rival = cur
		default:
			err = rerr
		}
	}
	// Lost (or failed): withdraw the claim so that it blocks nobody.
	if derr := s.driver.Delete(ctx, pathDir(mine)); derr != nil && !errors.Is(derr, storagedriver.ErrPathNotFound) && err == nil {
		err = derr
	}
	return rival, err
}

// rivalClaim returns the manifest of another recent entry in the history
// of tag, or "" when there is none. Called right after d's entry was
// written, whose mtime is then the storage's present time.
func (s *Store) rivalClaim(ctx context.Context, name, tag string, d digest.Digest) (digest.Digest, error) {
	now, err := s.driver.Stat(ctx, layout.TagIndexPath(name, tag, d))
	if err != nil {
		return "", err
	}
	algs, err := s.driver.List(ctx, layout.TagDir(name, tag)+"/index")
	if err != nil {
		return "", err
	}
	for _, alg := range algs {
		encs, err := s.driver.List(ctx, alg)
		if errors.Is(err, storagedriver.ErrPathNotFound) {
			continue
		}
		if err != nil {
			return "", err
		}
		for _, enc := range encs {
			other, err := ParseDigest(path.Base(alg) + ":" + path.Base(enc))
			if err != nil || other == d {
				continue
			}
			fi, err := s.driver.Stat(ctx, layout.TagIndexPath(name, tag, other))
			if errors.Is(err, storagedriver.ErrPathNotFound) {
				continue // withdrawn
			}
			if err != nil {
				return "", err
			}
			if fi.ModTime.Add(claimWindow).After(now.ModTime) {
				return other, nil
			}
		}
	}
	return "", nil
}

// refuseImmutableDelete returns an ImmutableTagError when a DELETE of
// manifest ref would remove an immutable tag: ref is one, or ref is a
// digest that one points at (deleting a manifest deletes its tags).
func (s *Store) refuseImmutableDelete(ctx context.Context, name, ref string, guard TagGuard) error {
	if guard == nil {
		return nil
	}
	if !IsDigest(ref) {
		if rule, ok := guard.check(ref); ok {
			if _, err := s.resolve(ctx, name, ref); err != nil {
				return err
			}
			return &ImmutableTagError{Name: name, Tag: ref, Rule: rule, Doing: "deleted"}
		}
		return nil
	}
	d, err := ParseDigest(ref)
	if err != nil {
		return err
	}
	tags, err := s.Tags(ctx, name)
	if errors.Is(err, ErrNameUnknown) {
		return nil // nothing to protect; the delete reports what is missing
	}
	if err != nil {
		return err
	}
	for _, t := range tags {
		rule, ok := guard.check(t)
		if !ok {
			continue
		}
		if cur, err := s.resolve(ctx, name, t); err == nil && cur == d {
			return &ImmutableTagError{Name: name, Tag: t, Rule: rule, Doing: fmt.Sprintf("deleted with its manifest %s", d)}
		}
	}
	return nil
}
