package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/registry/storage/internal/walk"
	"github.com/berth-registry/berth/storagedriver"
)

// ProblemKind names a kind of damage Scrub finds.
type ProblemKind string

// The kinds of damage. Those marked "repair" are removed by Scrub with
// ScrubOptions.Repair, so that pushing the image again heals the
// repository; the others are reported only.
const (
	// CorruptBlob: the bytes stored under a digest hash to another
	// (repair: the blob goes; a push uploads it again).
	CorruptBlob ProblemKind = "corrupt-blob"
	// DanglingLayer: a layer link to a blob missing or corrupt, or a link
	// whose content is not its digest (repair: the link goes, so the
	// repository no longer claims the blob and a push uploads it).
	DanglingLayer ProblemKind = "dangling-layer-link"
	// DanglingManifest: a manifest revision link to a blob missing or
	// corrupt, or not naming its digest (repair: the link goes).
	DanglingManifest ProblemKind = "dangling-manifest-link"
	// DanglingTag: a tag pointing at a manifest the repository does not
	// have, or at no valid digest (repair: the tag goes).
	DanglingTag ProblemKind = "dangling-tag"
	// MissingReference: a manifest whose config, layer or child manifest
	// is missing from the repository. Reported only: the manifest itself
	// is sound, and a push of the image uploads what it lacks.
	MissingReference ProblemKind = "missing-reference"
	// InvalidManifest: a manifest revision that does not parse as a
	// manifest Berth serves. Reported only.
	InvalidManifest ProblemKind = "invalid-manifest"
	// IndexMissing: a repository without its marker in the repository
	// index, so the catalog does not list it (repair: the marker is
	// written, and the index stamped complete).
	IndexMissing ProblemKind = "index-missing"
	// IndexExtra: a marker in the repository index for a repository that
	// does not exist (repair: the marker goes).
	IndexExtra ProblemKind = "index-extra"
	// StaleReferrer: an entry of Berth's referrers index for a manifest
	// the repository no longer has, or filed under a subject the manifest
	// does not have (repair: the entry goes).
	StaleReferrer ProblemKind = "stale-referrer"
)

// Problem is one finding of Scrub.
type Problem struct {
	Kind       ProblemKind
	Repository string        // "" for a blob
	Digest     digest.Digest // the blob, manifest or link concerned
	Tag        string        // for DanglingTag
	Bytes      int64         // for CorruptBlob
	Detail     string
	Repaired   bool
}

// String is the problem's line in scrub's output.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(string(p.Kind))
	if p.Repository != "" {
		b.WriteString(" " + p.Repository)
		if p.Tag != "" {
			b.WriteString(":" + p.Tag)
		}
	}
	if p.Digest != "" {
		b.WriteString(" " + string(p.Digest))
	}
	if p.Detail != "" {
		b.WriteString(": " + p.Detail)
	}
	switch {
	case p.Repaired && p.Kind == IndexMissing:
		b.WriteString(" (indexed)")
	case p.Repaired:
		b.WriteString(" (removed)")
	}
	return b.String()
}

// ScrubOptions configure Scrub.
type ScrubOptions struct {
	// Repair removes what is corrupt (see ProblemKind).
	Repair bool
	// Report, when set, is called for every problem, as it is found.
	Report func(Problem)
	// Orphan, when set, is called for every orphan blob.
	Orphan func(d digest.Digest, size int64)
}

// ScrubSummary counts what Scrub checked and found.
type ScrubSummary struct {
	Blobs        int   // blobs re-hashed
	BlobBytes    int64 // their bytes
	Repositories int
	Manifests    int // revisions checked
	Tags         int
	LayerLinks   int
	Problems     int // every Problem reported
	Repaired     int // those removed
	CorruptBytes int64
	// Orphans are blobs that no manifest of any repository references
	// (nor are manifests themselves): garbage for the collector, not
	// damage, so not counted as problems.
	Orphans     int
	OrphanBytes int64
	// ReferrersIndexed counts the entries of Berth's referrers index
	// written because they were missing or differed from the manifest.
	ReferrersIndexed int
	// RepositoriesIndexed counts the markers written into a repository
	// index that was never built (no complete stamp): building it is
	// additive, so done with or without Repair, and no problem.
	RepositoriesIndexed int
	Elapsed             time.Duration
}

// Scrub checks the whole storage: it re-hashes every blob (streaming),
// checks every repository's layer links, manifest revisions (that they
// parse and that what they reference is there) and tags, finds orphan
// blobs, and brings Berth's referrers index into line with the manifests
// of the shared layout, so that a root Distribution wrote lists its
// referrers. Writing missing index entries is additive and derived from
// the manifests, so Scrub does it with or without Repair; everything else
// it only reports unless o.Repair is set.
//
// Scrub may run while the registry serves: before a link or a tag is
// reported it is checked again, directly, so that content pushed while the
// scrub ran is not taken for damage. It returns an error only when it
// cannot go on (storage unreachable, ctx ended); damage is reported
// through o.Report and counted in the summary.
func (s *Store) Scrub(ctx context.Context, o ScrubOptions) (ScrubSummary, error) {
	sc := &scrub{s: s, o: o, start: time.Now(), blobs: map[digest.Digest]int64{},
		corrupt: map[digest.Digest]bool{}, used: map[digest.Digest]bool{}}
	err := sc.run(ctx)
	sc.sum.Elapsed = time.Since(sc.start)
	return sc.sum, err
}

type scrub struct {
	s     *Store
	o     ScrubOptions
	start time.Time
	sum   ScrubSummary

	blobs   map[digest.Digest]int64 // sound blobs and their sizes
	corrupt map[digest.Digest]bool
	used    map[digest.Digest]bool // referenced by a manifest, or one
}

func (sc *scrub) report(p Problem) {
	sc.sum.Problems++
	if p.Repaired {
		sc.sum.Repaired++
	}
	if sc.o.Report != nil {
		sc.o.Report(p)
	}
}

// remove deletes p when repairing, and tells whether it did. A path
// already gone counts as removed.
func (sc *scrub) remove(ctx context.Context, p string) (bool, error) {
	if !sc.o.Repair {
		return false, nil
	}
	err := sc.s.driver.Delete(ctx, p)
	if err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
		return false, err
	}
	return true, nil
}

// repositoryIndex compares the repository index with the repositories the
// walk found, and with Repair brings it into line (SyncIndex). A root
// whose index was never built (Distribution's, or one from before the
// index) gets it built, as the first catalog would, with or without Repair.
func (sc *scrub) repositoryIndex(ctx context.Context, walked []string) error {
	built, err := sc.s.index.Built(ctx)
	if err != nil {
		return err
	}
	diff, err := sc.s.index.SyncWith(ctx, walked, sc.o.Repair || !built)
	if err != nil {
		return err
	}
	if !built {
		sc.sum.RepositoriesIndexed += len(diff.Missing)
		diff.Missing = nil
	}
	for _, name := range diff.Missing {
		sc.report(Problem{Kind: IndexMissing, Repository: name, Detail: "not in the repository index", Repaired: sc.o.Repair})
	}
	for _, name := range diff.Extra {
		sc.report(Problem{Kind: IndexExtra, Repository: name, Detail: "indexed, but no such repository", Repaired: sc.o.Repair})
	}
	return nil
}

func (sc *scrub) run(ctx context.Context) error {
	if err := sc.repoDeletes(ctx); err != nil {
		return err
	}
	if err := sc.hashBlobs(ctx); err != nil {
		return err
	}
	var names []string
	err := walk.Repositories(ctx, sc.s.driver, layout.RepositoriesRoot(), &names)
	if err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
		return err
	}
	indexed, err := sc.s.referrerRepositories(ctx)
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		if CheckName(name) != nil {
			continue
		}
		if err := sc.repository(ctx, name); err != nil {
			return fmt.Errorf("repository %s: %w", name, err)
		}
		delete(indexed, name)
	}
	if err := sc.repositoryIndex(ctx, names); err != nil {
		return err
	}
	// Index entries of repositories that no longer exist.
	for name := range indexed {
		if err := sc.staleReferrers(ctx, name, nil); err != nil {
			return err
		}
	}
	for d, size := range sc.blobs {
		if !sc.used[d] {
			sc.sum.Orphans++
			sc.sum.OrphanBytes += size
			if sc.o.Orphan != nil {
				sc.o.Orphan(d, size)
			}
		}
	}
	return nil
}

// hashBlobs re-hashes every blob under blobs/<alg>/<2 hex>/<hex>/data.
func (sc *scrub) hashBlobs(ctx context.Context) error {
	err := walk.Files(ctx, sc.s.driver, layout.BlobsRoot(), func(fi storagedriver.FileInfo) error {
		rel := strings.Split(strings.TrimPrefix(fi.Path, layout.BlobsRoot()+"/"), "/")
		if len(rel) != 4 || rel[3] != "data" {
			return nil // not a blob of the layout
		}
		d := digest.Digest(rel[0] + ":" + rel[2])
		if CheckDigest(d) != nil || !strings.HasPrefix(rel[2], rel[1]) || len(rel[1]) != 2 {
			return nil
		}
		got, n, err := sc.hash(ctx, fi.Path, d.Algorithm())
		if errors.Is(err, storagedriver.ErrPathNotFound) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return fmt.Errorf("blob %s: %w", d, err)
		}
		sc.sum.Blobs++
		sc.sum.BlobBytes += n
		if got == d {
			sc.blobs[d] = n
			return nil
		}
		sc.corrupt[d] = true
		sc.sum.CorruptBytes += n
		removed, err := sc.remove(ctx, layout.BlobDir(d))
		if err != nil {
			return err
		}
		if removed {
			sc.s.forgetBlobEverywhere(ctx, d)
		}
		sc.report(Problem{Kind: CorruptBlob, Digest: d, Bytes: n, Repaired: removed,
			Detail: fmt.Sprintf("%d bytes hash to %s", n, got)})
		return nil
	})
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return nil // no blob yet
	}
	return err
}

func (sc *scrub) hash(ctx context.Context, p string, alg digest.Algorithm) (digest.Digest, int64, error) {
	rc, err := sc.s.driver.Reader(ctx, p, 0)
	if err != nil {
		return "", 0, err
	}
	defer rc.Close()
	dg := alg.Digester()
	n, err := io.Copy(dg.Hash(), rc)
	if err != nil {
		return "", n, err
	}
	return dg.Digest(), n, nil
}

// sound tells whether blob d is stored and hashes to d: from the blob
// pass, or, for a blob that pass did not see, by asking the driver now (it
// was pushed meanwhile, and a push verifies what it stores).
func (sc *scrub) sound(ctx context.Context, d digest.Digest) (bool, error) {
	if _, ok := sc.blobs[d]; ok {
		return true, nil
	}
	if sc.corrupt[d] {
		return false, nil
	}
	size, err := sc.s.blobSize(ctx, d)
	if errors.Is(err, ErrBlobUnknown) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	sc.blobs[d] = size
	return true, nil
}

// links lists the links dir/<alg>/<hex>/link and reads each, calling fn
// with the digest its path names, its path and its content.
func (sc *scrub) links(ctx context.Context, dir string, fn func(d digest.Digest, linkPath string, content []byte) error) error {
	algs, err := sc.s.driver.List(ctx, dir)
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, a := range algs {
		encs, err := sc.s.driver.List(ctx, a)
		if errors.Is(err, storagedriver.ErrPathNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		for _, e := range encs {
			d := digest.Digest(path.Base(a) + ":" + path.Base(e))
			if CheckDigest(d) != nil {
				continue
			}
			lp := e + "/link"
			b, err := sc.s.driver.GetContent(ctx, lp)
			if errors.Is(err, storagedriver.ErrPathNotFound) {
				continue // not a link (or deleted meanwhile)
			}
			if err != nil {
				return err
			}
			if err := fn(d, lp, b); err != nil {
				return err
			}
		}
	}
	return nil
}
