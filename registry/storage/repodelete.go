package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/storagedriver"
)

// Deleting a repository (DeleteRepository) removes its tags, manifests
// (revision links), layer links, uploads and Berth's records of it; the
// blobs stay for garbage collection, which frees those no other repository
// uses. It is marked first and resumable:
//
//	D1. Write the record /berth/v1/repodelete/<name>/_record, state
//	    "deleting".
//	D2. Delete the repository's tags, then its other directories
//	    (_manifests, _layers, _uploads; never a nested repository), then
//	    its referrers index, push and pull times and pull-through records,
//	    and, once the repository is gone, its repository index marker.
//	D3. Rewrite the record with state "done". It stays RepoDeleteStale,
//	    then garbage collection removes it.
//
// A process that dies after D1 leaves the record "deleting", and pushes
// into the repository are refused until the work is finished: by the next
// delete of the name, by ResumeRepositoryDeletes (which every garbage
// collection runs) or by Scrub with Repair, once the record is
// RepoDeleteStale. Tags go first, so what a crash leaves is untagged.
//
// A push racing the delete. Every write a push makes into the repository
// that a client is told of (a manifest PUT's links, an upload's or a
// mount's layer link) is followed by a look at the record (push side:
// checks C, writes W, then reads R; repodelete_push.go). Of the delete's
// write of the record and the push's read of it (each after its own
// writes, as in the garbage collection's rely protocol, doc.go) one sees
// the other:
//   - R finds no record: D1 comes after R, so W came before D1 and D2
//     deletes it: the push succeeded, then the repository was deleted.
//   - R finds "deleting": the push takes W back and answers
//     ErrRepositoryDeleting (the client pushes again once the delete is
//     done, into a new repository).
//   - R finds "done": the delete may have run between C and W, deleting
//     what C found. The push checks again that all it relies on is there
//     (its own links, and what its manifest references); if not, it takes
//     W back and answers ErrRepositoryDeleting.
//
// Taking a tag back is the tag handshake (untag, tags.go): a push of the
// new repository moving the tag meanwhile keeps it.
//
// What is left open: a process that dies between W and R leaves W when W
// landed after D2's pass; a request whose C and R are more than
// RepoDeleteStale apart may miss the "done" record; two deletes of one
// name at once may mark it done while the second still deletes; an upload
// started before the delete loses its data (BLOB_UPLOAD_UNKNOWN).

func repoDeleteRoot() string { return layout.BerthRoot + "/repodelete" }

func repoDeletePath(name string) string { return repoDeleteRoot() + "/" + name + "/_record" }

// The states of a repository delete's record.
const (
	repoDeleting    = "deleting"
	repoDeletedDone = "done"
)

// repoDeleteRecord is the content of repoDeletePath.
type repoDeleteRecord struct {
	Name  string `json:"name"`
	State string `json:"state"`
	// When, by the deleting node's clock, for humans; ages are judged by
	// the record's storage mtime.
	Time time.Time `json:"time"`
}

// readRepoDelete returns the record of a delete of name and its mtime, or
// nil when there is none. A record that does not parse counts as a delete
// under way: the safe reading.
func (s *Store) readRepoDelete(ctx context.Context, name string) (*repoDeleteRecord, time.Time, error) {
	p := repoDeletePath(name)
	fi, err := storagedriver.StatFile(ctx, s.driver, p)
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return nil, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	b, err := s.driver.GetContent(ctx, p)
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return nil, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	rec := &repoDeleteRecord{}
	if json.Unmarshal(b, rec) != nil || rec.State != repoDeletedDone {
		rec.State = repoDeleting
	}
	return rec, fi.ModTime, nil
}

func (s *Store) writeRepoDelete(ctx context.Context, name, state string) error {
	b, err := json.Marshal(repoDeleteRecord{Name: name, State: state, Time: s.now().UTC()})
	if err != nil {
		return err
	}
	return s.driver.PutContent(ctx, repoDeletePath(name), b)
}

// RepoDeletion is what DeleteRepository removed.
type RepoDeletion struct {
	Name      string `json:"repository"`
	Tags      int    `json:"tags"`
	Manifests int    `json:"manifests"`
}

// DeleteRepository deletes repository name (see above). With guard set, a
// repository that has a tag guard says is immutable is refused with an
// ImmutableTagError before anything is written; a nil guard forces the
// delete. ErrNameUnknown when there is no such repository and no
// unfinished delete of it.
func (s *Store) DeleteRepository(ctx context.Context, name string, guard TagGuard) (*RepoDeletion, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	rec, _, err := s.readRepoDelete(ctx, name)
	if err != nil {
		return nil, err
	}
	pending := rec != nil && rec.State == repoDeleting
	if !pending {
		if err := s.isRepository(ctx, name); err != nil {
			return nil, err
		}
	}
	tags, err := s.Tags(ctx, name)
	if errors.Is(err, ErrNameUnknown) && pending {
		tags, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	for _, t := range tags {
		if rule, ok := guard.check(t); ok {
			return nil, &ImmutableTagError{Name: name, Tag: t, Rule: rule, Doing: "deleted with its repository"}
		}
	}
	if err := s.writeRepoDelete(ctx, name, repoDeleting); err != nil {
		return nil, fmt.Errorf("repository %s: mark for deletion: %w", name, err)
	}
	manifests, err := s.linkedDigests(ctx, layout.ManifestsDir(name)+"/revisions")
	if err != nil {
		return nil, err
	}
	if err := s.finishRepoDelete(ctx, name); err != nil {
		return nil, err
	}
	return &RepoDeletion{Name: name, Tags: len(tags), Manifests: len(manifests)}, nil
}

// isRepository returns ErrNameUnknown unless name is a repository as the
// catalog sees one: it holds _manifests or _layers. (The directory of a
// name with only nested repositories below it is not one.)
func (s *Store) isRepository(ctx context.Context, name string) error {
	children, err := s.driver.List(ctx, layout.RepoDir(name))
	if err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
		return err
	}
	for _, c := range children {
		if b := path.Base(c); b == "_manifests" || b == "_layers" {
			return nil
		}
	}
	return fmt.Errorf("repository %s: %w", name, ErrNameUnknown)
}

// finishRepoDelete does D2 and D3 for name, whose record is written. The
// blob descriptor cache of this store forgets the repository's links (the
// caches of other nodes, when they are not a shared Redis, within their
// window: see doc.go).
func (s *Store) finishRepoDelete(ctx context.Context, name string) error {
	defer s.tagsChanged(name)
	var linked []digest.Digest
	if s.cache != nil {
		for _, dir := range []string{layout.RepoDir(name) + "/_layers", layout.ManifestsDir(name) + "/revisions"} {
			ds, err := s.linkedDigests(ctx, dir)
			if err != nil {
				return err
			}
			linked = append(linked, ds...)
		}
		defer func() {
			for _, d := range linked {
				s.forgetLinks(ctx, name, d)
			}
		}()
	}
	for _, p := range []string{
		layout.TagsDir(name),
		layout.ManifestsDir(name),
		layout.RepoDir(name) + "/_layers",
		layout.RepoDir(name) + "/_uploads",
		path.Join(layout.BerthRepositoriesRoot(), name, "_referrers"),
		// Push and pull times (internal/times): a new repository of the name
		// starts without the old one's history.
		path.Join(layout.BerthRepositoriesRoot(), name, "_pushed"),
		path.Join(layout.BerthRepositoriesRoot(), name, "_pulled"),
		// registry/proxy's records of the repository (its paths.go).
		path.Join(layout.BerthRoot, "proxy/repositories", name, "_tags"),
	} {
		if err := s.deleteTree(ctx, p); err != nil {
			if p == layout.RepoDir(name)+"/_uploads" {
				// An upload writing meanwhile can keep its directory
				// (a filesystem's rmdir of a directory being filled).
				// Its files are no part of the repository (the catalog
				// ignores them), its commit is refused while the record
				// is there, and the upload purger (package purge)
				// removes what stays.
				continue
			}
			return fmt.Errorf("repository %s: delete %s: %w", name, p, err)
		}
	}
	if err := s.index.RemoveIfGone(ctx, name); err != nil {
		return fmt.Errorf("repository %s: %w", name, err)
	}
	return s.writeRepoDelete(ctx, name, repoDeletedDone)
}

// deleteTree deletes the tree at p, trying again when writes into it make
// a driver fail (a directory filled while it is removed).
func (s *Store) deleteTree(ctx context.Context, p string) error {
	var err error
	for try := 0; try < 3; try++ {
		err = s.driver.Delete(ctx, p)
		if err == nil || errors.Is(err, storagedriver.ErrPathNotFound) {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
	return err
}

// linkedDigests lists the digests linked under dir, a repository's
// _layers or _manifests/revisions (<alg>/<hex>/link).
func (s *Store) linkedDigests(ctx context.Context, dir string) ([]digest.Digest, error) {
	algs, err := s.driver.List(ctx, dir)
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []digest.Digest
	for _, alg := range algs {
		encs, err := s.driver.List(ctx, alg)
		if err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
			return nil, err
		}
		for _, enc := range encs {
			if d, err := ParseDigest(path.Base(alg) + ":" + path.Base(enc)); err == nil {
				out = append(out, d)
			}
		}
	}
	return out, nil
}

// RepoDeleteStale is the age after which a repository delete's record
// "deleting" is taken for that of a process that died (and finished by
// ResumeRepositoryDeletes), and a record "done" has served its purpose
// (and is removed). A younger "deleting" record may belong to a delete
// still running, and a younger "done" one warns pushes that started
// before the delete ended.
const RepoDeleteStale = 10 * time.Minute

// ResumeRepositoryDeletes finishes the deletes a process left unfinished
// (their records "deleting" are older than olderThan), removes the records
// "done" older than that, and returns the names of the repositories whose
// delete it finished.
func (s *Store) ResumeRepositoryDeletes(ctx context.Context, olderThan time.Duration) ([]string, error) {
	var found, names []string
	if err := s.findRepoDeletes(ctx, repoDeleteRoot(), &found); err != nil {
		if errors.Is(err, storagedriver.ErrPathNotFound) {
			return nil, nil
		}
		return nil, err
	}
	for _, name := range found {
		rec, mtime, err := s.readRepoDelete(ctx, name)
		if err != nil {
			return names, err
		}
		if rec == nil || s.now().Sub(mtime) < olderThan {
			continue
		}
		if rec.State == repoDeletedDone {
			if err := s.deleteTree(ctx, repoDeletePath(name)); err != nil {
				return names, err
			}
			continue
		}
		if err := s.finishRepoDelete(ctx, name); err != nil {
			return names, err
		}
		names = append(names, name)
	}
	return names, nil
}

func (s *Store) findRepoDeletes(ctx context.Context, dir string, names *[]string) error {
	children, err := s.driver.List(ctx, dir)
	if err != nil {
		return err
	}
	for _, c := range children {
		if path.Base(c) == "_record" {
			name := strings.TrimPrefix(dir, repoDeleteRoot()+"/")
			if CheckName(name) == nil {
				*names = append(*names, name)
			}
			continue
		}
		if err := s.findRepoDeletes(ctx, c, names); err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
			return err
		}
	}
	return nil
}
