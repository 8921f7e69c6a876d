package storage

// The checks of one repository, for Scrub (scrub.go).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/registry/storage/internal/manifest"
	"github.com/berth-registry/berth/registry/storage/internal/walk"
	"github.com/berth-registry/berth/storagedriver"
)

// repository checks repository name: its layer links, its manifest
// revisions and what they reference, its tags and its referrers index.
func (sc *scrub) repository(ctx context.Context, name string) error {
	sc.sum.Repositories++
	// Layer links.
	err := sc.links(ctx, layout.RepoDir(name)+"/_layers", func(d digest.Digest, lp string, b []byte) error {
		sc.sum.LayerLinks++
		_, err := sc.checkLink(ctx, DanglingLayer, name, d, lp, b)
		return err
	})
	if err != nil {
		return err
	}
	// Manifest revisions.
	revisions := map[digest.Digest]*manifest.Doc{} // sound ones; nil when unparseable
	err = sc.links(ctx, layout.ManifestsDir(name)+"/revisions", func(d digest.Digest, lp string, b []byte) error {
		sc.sum.Manifests++
		if ok, err := sc.checkLink(ctx, DanglingManifest, name, d, lp, b); err != nil || !ok {
			return err
		}
		sc.used[d] = true
		m, err := sc.manifest(ctx, name, d)
		if err != nil {
			return err
		}
		revisions[d] = m
		return nil
	})
	if err != nil {
		return err
	}
	// Image manifests first, then indexes, again while a repair removes
	// one: an index whose child a repair removed is broken in turn.
	var images, indexes []digest.Digest
	for d, m := range revisions {
		switch {
		case m == nil:
		case m.IsIndex():
			indexes = append(indexes, d)
		default:
			images = append(images, d)
		}
	}
	slices.Sort(images)
	slices.Sort(indexes)
	if _, err := sc.checkManifests(ctx, name, images, revisions); err != nil {
		return err
	}
	for {
		removed, err := sc.checkManifests(ctx, name, indexes, revisions)
		if err != nil {
			return err
		}
		if !removed {
			break
		}
	}
	if err := sc.tags(ctx, name); err != nil {
		return err
	}
	return sc.staleReferrers(ctx, name, revisions)
}

// checkManifests checks what each manifest of ds references and indexes
// its subject. A manifest missing something is reported and, with Repair,
// unlinked from the repository (and from revisions), so that a push of
// the image stores it again whole; it tells whether it unlinked any.
func (sc *scrub) checkManifests(ctx context.Context, name string, ds []digest.Digest, revisions map[digest.Digest]*manifest.Doc) (bool, error) {
	unlinked := false
	for _, d := range ds {
		m, ok := revisions[d]
		if !ok {
			continue // unlinked by an earlier round
		}
		missing, err := sc.references(ctx, name, m, revisions)
		if err != nil {
			return unlinked, err
		}
		if len(missing) > 0 {
			removed, err := sc.remove(ctx, pathDir(layout.RevisionLinkPath(name, d)))
			if err != nil {
				return unlinked, err
			}
			if removed {
				sc.s.forgetLinks(ctx, name, d)
			}
			sc.report(Problem{Kind: MissingReference, Repository: name, Digest: d, Detail: strings.Join(missing, ", "), Repaired: removed})
			if removed {
				delete(revisions, d)
				unlinked = true
				continue
			}
		}
		// Still served, whole or not: its referrers entry belongs.
		if err := sc.indexReferrer(ctx, name, d, m); err != nil {
			return unlinked, err
		}
	}
	return unlinked, nil
}

// checkLink tells whether the link at lp, of digest d, names d and blob d
// is sound; when not, it reports the link (and with Repair removes it).
func (sc *scrub) checkLink(ctx context.Context, kind ProblemKind, name string, d digest.Digest, lp string, content []byte) (bool, error) {
	detail := ""
	if digest.Digest(content) != d {
		detail = fmt.Sprintf("link holds %q", truncate(content))
	} else if ok, err := sc.sound(ctx, d); err != nil {
		return false, err
	} else if !ok {
		detail = "blob missing"
		if sc.corrupt[d] {
			detail = "blob corrupt"
		} else if ok, err := sc.soundNow(ctx, lp, d); err != nil || ok {
			return ok, err // pushed while we looked
		}
	}
	if detail == "" {
		return true, nil
	}
	removed, err := sc.remove(ctx, pathDir(lp))
	if err != nil {
		return false, err
	}
	if removed {
		sc.s.forgetLinks(ctx, name, d)
	}
	sc.report(Problem{Kind: kind, Repository: name, Digest: d, Detail: detail, Repaired: removed})
	return false, nil
}

// soundNow checks once more, directly, that the link at lp names d and
// that blob d exists: a push finishing while the scrub ran makes both
// true, and then nothing is wrong.
func (sc *scrub) soundNow(ctx context.Context, lp string, d digest.Digest) (bool, error) {
	if err := sc.s.readLink(ctx, lp, d); err != nil {
		if errors.Is(err, ErrBlobUnknown) {
			return false, nil
		}
		return false, err
	}
	return sc.s.blobExists(ctx, d)
}

// manifest reads and parses manifest d of repository name; nil, after
// reporting it, when it does not parse.
func (sc *scrub) manifest(ctx context.Context, name string, d digest.Digest) (*manifest.Doc, error) {
	if size := sc.blobs[d]; size > MaxManifestSize {
		sc.report(Problem{Kind: InvalidManifest, Repository: name, Digest: d, Detail: fmt.Sprintf("%d bytes, over the %d of a manifest", size, MaxManifestSize)})
		return nil, nil
	}
	payload, err := sc.s.driver.GetContent(ctx, layout.BlobDataPath(d))
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return nil, nil // deleted meanwhile
	}
	if err != nil {
		return nil, err
	}
	m, err := manifest.Parse(payload, "")
	if err != nil {
		sc.report(Problem{Kind: InvalidManifest, Repository: name, Digest: d, Detail: err.Error()})
		return nil, nil
	}
	return m, nil
}

// references lists what manifest m of repository name references and the
// repository lacks, as "layer sha256:... missing".
func (sc *scrub) references(ctx context.Context, name string, m *manifest.Doc, revisions map[digest.Digest]*manifest.Doc) ([]string, error) {
	var missing []string
	if m.IsIndex() {
		for _, c := range m.Manifests {
			sc.used[c.Digest] = true
			if _, ok := revisions[c.Digest]; ok || !sc.s.validation.requires(c.Platform) {
				continue
			}
			if err := sc.s.readLink(ctx, layout.RevisionLinkPath(name, c.Digest), c.Digest); err == nil {
				continue // pushed meanwhile
			} else if err != nil && !errors.Is(err, ErrBlobUnknown) {
				return nil, err
			}
			missing = append(missing, "child manifest "+string(c.Digest)+" missing")
		}
		return missing, nil
	}
	type ref struct {
		what string
		d    digest.Digest
		skip bool // a layer that may be absent
	}
	refs := []ref{{"config", m.Config.Digest, false}}
	for _, l := range m.Layers {
		refs = append(refs, ref{"layer", l.Digest, manifest.Nondistributable(l) || sc.s.validation.SkipLayers})
	}
	for _, r := range refs {
		sc.used[r.d] = true
		if r.skip {
			continue
		}
		ok, err := sc.sound(ctx, r.d)
		if err != nil {
			return nil, err
		}
		why := ""
		switch {
		case sc.corrupt[r.d]:
			why = "corrupt"
		case !ok:
			why = "missing"
		default:
			if err := sc.s.blobLinked(ctx, name, r.d); errors.Is(err, ErrBlobUnknown) {
				why = "not linked into the repository"
			} else if err != nil {
				return nil, err
			}
		}
		if why != "" {
			missing = append(missing, r.what+" "+string(r.d)+" "+why)
		}
	}
	return missing, nil
}

// indexReferrer files manifest d of repository name in Berth's referrers
// index when it has a subject and its entry is missing or differs.
func (sc *scrub) indexReferrer(ctx context.Context, name string, d digest.Digest, m *manifest.Doc) error {
	if m.Subject == nil {
		return nil
	}
	desc, err := json.Marshal(manifest.ReferrerDescriptor(m, d, sc.blobs[d]))
	if err != nil {
		return err
	}
	p := layout.ReferrerPath(name, m.Subject.Digest, d)
	have, err := sc.s.driver.GetContent(ctx, p)
	if err == nil && bytes.Equal(have, desc) {
		return nil
	}
	if err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
		return err
	}
	if err := sc.s.driver.PutContent(ctx, p, desc); err != nil {
		return err
	}
	sc.sum.ReferrersIndexed++
	return nil
}

func (sc *scrub) tags(ctx context.Context, name string) error {
	tags, err := sc.s.driver.List(ctx, layout.TagsDir(name))
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, t := range tags {
		tag := path.Base(t)
		if CheckTag(tag) != nil {
			continue
		}
		b, err := sc.s.driver.GetContent(ctx, layout.TagCurrentPath(name, tag))
		if errors.Is(err, storagedriver.ErrPathNotFound) {
			continue // no current link: not a tag (or deleted meanwhile)
		}
		if err != nil {
			return err
		}
		sc.sum.Tags++
		detail := ""
		d, err := ParseDigest(string(b))
		if err != nil {
			detail = fmt.Sprintf("link holds %q", truncate(b))
		} else if ok, err := sc.tagSound(ctx, name, tag, d); err != nil {
			return err
		} else if !ok {
			detail = "manifest missing"
		}
		if detail == "" {
			continue
		}
		removed := false
		if sc.o.Repair {
			why, err := sc.untagDangling(ctx, name, tag, b)
			if err != nil {
				return err
			}
			if why != "" && why != untagTooSlow {
				continue // moved, pushed again or deleted while we looked
			}
			removed = why == ""
		}
		sc.report(Problem{Kind: DanglingTag, Repository: name, Tag: tag, Digest: d, Detail: detail, Repaired: removed})
	}
	return nil
}

// untagDangling removes tag of repository name, whose current link held
// judged, with the tag handshake (untag): a push moving the tag
// meanwhile keeps it. The tag stays when it was found sound once the
// untagging record was written.
func (sc *scrub) untagDangling(ctx context.Context, name, tag string, judged []byte) (string, error) {
	return sc.s.untag(ctx, name, tag, untagging{judged: judged,
		spare: func(ctx context.Context, current []byte) (string, error) {
			d, err := ParseDigest(string(current))
			if err != nil {
				return "", nil // no digest still
			}
			ok, err := sc.tagSound(ctx, name, tag, d)
			if err != nil || !ok {
				return "", err
			}
			return "sound now", nil
		}})
}

// tagSound checks, now, that the tag still points at d and that manifest
// d is in the repository with its blob sound.
func (sc *scrub) tagSound(ctx context.Context, name, tag string, d digest.Digest) (bool, error) {
	if err := sc.s.readLink(ctx, layout.RevisionLinkPath(name, d), d); err != nil {
		if !errors.Is(err, ErrBlobUnknown) {
			return false, err
		}
		// Moved to a manifest pushed meanwhile?
		if cur, err := sc.s.resolve(ctx, name, tag); err == nil && cur != d {
			return sc.tagSound(ctx, name, tag, cur)
		}
		return false, nil
	}
	if sc.corrupt[d] {
		return false, nil
	}
	return sc.sound(ctx, d)
}

// staleReferrers checks the referrers index of repository name against
// its sound manifests (nil: it has none): an entry must name a manifest
// of the repository whose subject is the one it is filed under.
func (sc *scrub) staleReferrers(ctx context.Context, name string, revisions map[digest.Digest]*manifest.Doc) error {
	root := path.Join(layout.BerthRoot, "repositories", name, "_referrers")
	return sc.referrerEntries(ctx, root, func(subject, ref digest.Digest, p string) error {
		m, ok := revisions[ref]
		switch {
		case ok && (m == nil || m.Subject != nil && m.Subject.Digest == subject):
			return nil
		case !ok && sc.s.readLink(ctx, layout.RevisionLinkPath(name, ref), ref) == nil:
			return nil // indexed by a push that finished while we looked
		}
		removed, err := sc.remove(ctx, p)
		if err != nil {
			return err
		}
		detail := "indexed as a referrer of " + string(subject) + " but not in the repository"
		if ok {
			detail = "indexed as a referrer of " + string(subject) + ", which is not its subject"
		}
		sc.report(Problem{Kind: StaleReferrer, Repository: name, Digest: ref, Detail: detail, Repaired: removed})
		return nil
	})
}

// referrerEntries walks <root>/<alg>/<hex>/<alg>/<hex>, the referrers index of one
// repository, calling fn with the subject, the referrer and the entry.
func (sc *scrub) referrerEntries(ctx context.Context, root string, fn func(subject, ref digest.Digest, p string) error) error {
	var entries []string
	err := walk.Files(ctx, sc.s.driver, root, func(fi storagedriver.FileInfo) error {
		entries = append(entries, fi.Path)
		return nil
	})
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, p := range entries {
		rel := strings.Split(strings.TrimPrefix(p, root+"/"), "/")
		if len(rel) != 4 {
			continue
		}
		subject, ref := digest.Digest(rel[0]+":"+rel[1]), digest.Digest(rel[2]+":"+rel[3])
		if CheckDigest(subject) != nil || CheckDigest(ref) != nil {
			continue
		}
		if err := fn(subject, ref, p); err != nil {
			return err
		}
	}
	return nil
}

// referrerRepositories lists the repositories that have a referrers index.
func (s *Store) referrerRepositories(ctx context.Context) (map[string]bool, error) {
	names := map[string]bool{}
	root := layout.BerthRoot + "/repositories"
	var walk func(dir string) error
	walk = func(dir string) error {
		children, err := s.driver.List(ctx, dir)
		if errors.Is(err, storagedriver.ErrPathNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, c := range children {
			base := path.Base(c)
			switch {
			case base == "_referrers":
				names[strings.TrimPrefix(dir, root+"/")] = true
			case strings.HasPrefix(base, "_"):
			default:
				if err := walk(c); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return names, walk(root)
}

func truncate(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}
