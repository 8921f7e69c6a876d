package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/registry/storage/internal/manifest"
	"github.com/berth-registry/berth/storagedriver"
)

// The push side of a repository delete (repodelete.go), and its findings
// in Scrub.

// refuseIfDeleting is called after a push's last write into repository
// name. With a delete of the repository under way, or done since the push
// checked what it relies on and verify now failing, it calls undo to take
// back the push's writes and returns ErrRepositoryDeleting.
func (s *Store) refuseIfDeleting(ctx context.Context, name string, verify func(context.Context) error, undo func(context.Context)) error {
	rec, _, err := s.readRepoDelete(ctx, name)
	if err != nil || rec == nil {
		return err
	}
	msg := "push again once it is done"
	if rec.State == repoDeletedDone {
		err := verify(ctx)
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrBlobUnknown) && !errors.Is(err, ErrManifestUnknown) && !errors.Is(err, ErrManifestBlobUnknown) {
			return err
		}
		msg = "it was deleted while this push ran (" + err.Error() + "); push again"
	}
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	undo(cctx)
	// What undo left of the repository may be nothing: then its marker
	// in the repository index goes too (scrub finds one a failure left).
	_ = s.index.RemoveIfGone(cctx, name)
	return fmt.Errorf("repository %s: %w; %s", name, ErrRepositoryDeleting, msg)
}

// refuseLayerIfDeleting is refuseIfDeleting for an upload's or a mount's
// link of blob d into repository name.
func (s *Store) refuseLayerIfDeleting(ctx context.Context, name string, d digest.Digest) error {
	return s.refuseIfDeleting(ctx, name, func(ctx context.Context) error {
		return s.readLink(ctx, layout.LayerLinkPath(name, d), d)
	}, func(ctx context.Context) {
		_ = s.driver.Delete(ctx, pathDir(layout.LayerLinkPath(name, d)))
		s.cache.ForgetLink(ctx, name, d)
	})
}

// refuseManifestIfDeleting is refuseIfDeleting for the PUT of manifest m
// (digest d) with tags: it relies on its tags, its revision link and the
// links of what m references.
func (s *Store) refuseManifestIfDeleting(ctx context.Context, name string, d digest.Digest, m *manifest.Doc, tags []string) error {
	verify := func(ctx context.Context) error {
		for _, t := range tags {
			// Missing, not moved: another push may move a tag.
			if _, err := s.resolve(ctx, name, t); err != nil {
				return err
			}
		}
		if err := s.readLink(ctx, layout.RevisionLinkPath(name, d), d); err != nil {
			return err
		}
		return s.referencesLinked(ctx, name, m, s.requiredRefs(m))
	}
	undo := func(ctx context.Context) {
		defer s.tagsChanged(name, tags...)
		for _, t := range tags {
			// A push moving the tag meanwhile keeps it (untag).
			_, _ = s.untag(ctx, name, t, untagging{judged: []byte(d), spare: func(_ context.Context, current []byte) (string, error) {
				if cur, err := ParseDigest(string(current)); err != nil || cur != d {
					return "moved meanwhile", nil
				}
				return "", nil
			}})
		}
		_ = s.driver.Delete(ctx, pathDir(layout.RevisionLinkPath(name, d)))
		s.forgetLinks(ctx, name, d)
		if m.Subject != nil {
			_ = s.driver.Delete(ctx, layout.ReferrerPath(name, m.Subject.Digest, d))
		}
	}
	return s.refuseIfDeleting(ctx, name, verify, undo)
}

// UnfinishedRepoDelete is the Scrub finding of a repository delete that
// stopped half way: its record is "deleting" and older than
// RepoDeleteStale, and pushes into the repository are refused (repair: the
// delete is finished).
const UnfinishedRepoDelete ProblemKind = "unfinished-repository-delete"

// repoDeletes reports (and with Repair finishes) the unfinished repository
// deletes.
func (sc *scrub) repoDeletes(ctx context.Context) error {
	var found []string
	if err := sc.s.findRepoDeletes(ctx, repoDeleteRoot(), &found); err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
		return err
	}
	for _, name := range found {
		rec, mtime, err := sc.s.readRepoDelete(ctx, name)
		if err != nil {
			return err
		}
		age := sc.s.now().Sub(mtime)
		if rec == nil || rec.State != repoDeleting || age < RepoDeleteStale {
			continue // done, or may still be running
		}
		p := Problem{Kind: UnfinishedRepoDelete, Repository: name,
			Detail: "deleted half way, " + age.Round(time.Second).String() + " ago; pushes into it are refused until the delete is finished"}
		if sc.o.Repair {
			if err := sc.s.finishRepoDelete(ctx, name); err != nil {
				return err
			}
			p.Repaired = true
		}
		sc.report(p)
	}
	return nil
}
