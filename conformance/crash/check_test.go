package crash

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/storagedriver"
)

// tally counts the expectations checked after a crash. acknowledged are
// those that must hold (acknowledged and not undone by an acknowledged
// delete); uncertain those of operations cut by the crash, where either
// outcome is allowed. lost counts every failed check, including an
// uncertain item that is present but wrong.
type tally struct {
	acknowledged, verified, lost, uncertain int
	problems                                []string
}

func (t *tally) add(o tally) {
	t.acknowledged += o.acknowledged
	t.verified += o.verified
	t.lost += o.lost
	t.uncertain += o.uncertain
	t.problems = append(t.problems, o.problems...)
}

// verifyLedger checks every worker's expectations through the API: each
// acknowledged blob pulls with its digest, each manifest that must be
// there pulls with its digest and so do all its blobs, each tag resolves
// to a digest it may point to.
func verifyLedger(ctx context.Context, c *client, ws []*worker) tally {
	var mu sync.Mutex
	var out tally
	record := func(sure bool, err error) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case sure:
			out.acknowledged++
		default:
			out.uncertain++
		}
		switch {
		case err != nil:
			out.lost++
			out.problems = append(out.problems, err.Error())
		case sure:
			out.verified++
		}
	}
	jobs := make(chan func(), 64)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for job := range jobs {
				job()
			}
		})
	}

	// Blobs first: the manifests' checks look their blobs up here.
	pulled := map[string]error{} // repo@digest -> result of the pull
	var pulledMu sync.Mutex
	for _, w := range ws {
		for _, b := range w.blobs {
			jobs <- func() {
				found, err := c.checkBlob(ctx, b.repo, b.digest, b.size)
				if err == nil && !found {
					err = fmt.Errorf("blob %s of %s: acknowledged, now 404", b.digest, b.repo)
				}
				pulledMu.Lock()
				pulled[b.repo+"@"+b.digest.String()] = err
				pulledMu.Unlock()
				record(true, err)
			}
		}
	}
	// Wait for the blob pulls by cycling the pool.
	close(jobs)
	wg.Wait()
	jobs = make(chan func(), 64)
	for range 8 {
		wg.Go(func() {
			for job := range jobs {
				job()
			}
		})
	}
	blobOK := func(repo string, d digest.Digest) error {
		pulledMu.Lock()
		err, ok := pulled[repo+"@"+d.String()]
		pulledMu.Unlock()
		if !ok { // not acknowledged on its own: pull it now
			var found bool
			if found, err = c.checkBlob(ctx, repo, d, -1); err == nil && !found {
				err = fmt.Errorf("blob %s of %s: 404", d, repo)
			}
		}
		return err
	}
	for _, w := range ws {
		for _, m := range w.manifests {
			if m.gone {
				continue
			}
			jobs <- func() {
				d, _, found, err := c.getManifest(ctx, m.repo, m.digest.String())
				switch {
				case err != nil:
				case !found && m.sure:
					err = fmt.Errorf("manifest %s@%s: acknowledged, now 404", m.repo, m.digest)
				case found && d != m.digest:
					err = fmt.Errorf("manifest %s@%s: pulled %s", m.repo, m.digest, d)
				case found:
					for _, b := range m.blobs {
						if berr := blobOK(m.repo, b); berr != nil {
							err = fmt.Errorf("manifest %s@%s: %w", m.repo, m.digest, berr)
							break
						}
					}
				}
				record(m.sure, err)
			}
		}
		for _, te := range w.tags {
			jobs <- func() {
				d, _, found, err := c.getManifest(ctx, te.repo, te.tag)
				switch {
				case err != nil:
				case !found && te.sure:
					err = fmt.Errorf("tag %s:%s: acknowledged, now 404", te.repo, te.tag)
				case found && !slices.Contains(te.allowed, d):
					err = fmt.Errorf("tag %s:%s: points to %s, want one of %v", te.repo, te.tag, d, te.allowed)
				}
				record(te.sure, err)
			}
		}
	}
	close(jobs)
	wg.Wait()
	return out
}

// storeStats counts what checkStore walked.
type storeStats struct {
	blobs, manifests, tags, layerLinks int
}

// checkStore walks the storage under the registry's layout through drv and
// returns every broken invariant: a blob whose content does not hash to its
// name, a link that names another digest, a layer link or manifest without
// its blob, a tag pointing to a manifest the repository does not have, a
// manifest referencing a blob the repository does not have. Uploads in
// progress and the drivers' pending writes are not published and not
// checked.
func checkStore(ctx context.Context, drv storagedriver.Driver) (storeStats, []string, error) {
	var st storeStats
	wk, ok := drv.(storagedriver.Walker)
	if !ok {
		return st, nil, fmt.Errorf("%s driver cannot walk", drv.Name())
	}
	const v2 = "/docker/registry/v2"
	var blobs []string
	links := map[string]digest.Digest{} // path -> the digest it names
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	err := wk.Walk(ctx, v2, func(fi storagedriver.FileInfo) error {
		if fi.IsDir {
			if strings.HasSuffix(fi.Path, "/_uploads") {
				return storagedriver.ErrSkipDir
			}
			return nil
		}
		switch {
		case strings.HasPrefix(fi.Path, v2+"/blobs/") && strings.HasSuffix(fi.Path, "/data"):
			blobs = append(blobs, fi.Path)
		case strings.HasPrefix(fi.Path, v2+"/repositories/") && strings.HasSuffix(fi.Path, "/link"):
			b, err := drv.GetContent(ctx, fi.Path)
			if err != nil {
				return err
			}
			d, err := digest.Parse(string(b))
			if err != nil {
				bad("%s: names %q: %v", fi.Path, b, err)
				return nil
			}
			links[fi.Path] = d
		}
		return nil
	})
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return st, nil, nil // nothing pushed yet
	}
	if err != nil {
		return st, nil, fmt.Errorf("walk: %w", err)
	}

	// Every blob hashes to its path.
	stored := map[digest.Digest]bool{}
	for _, p := range blobs {
		rest := strings.TrimSuffix(strings.TrimPrefix(p, v2+"/blobs/"), "/data")
		parts := strings.Split(rest, "/") // alg, first two hex, hex
		if len(parts) != 3 {
			bad("%s: not a blob path", p)
			continue
		}
		d := digest.NewDigestFromEncoded(digest.Algorithm(parts[0]), parts[2])
		if err := d.Validate(); err != nil || !strings.HasPrefix(parts[2], parts[1]) {
			bad("%s: not a blob path", p)
			continue
		}
		got, err := hashFile(ctx, drv, p, d.Algorithm())
		if err != nil {
			return st, nil, err
		}
		if got != d {
			bad("blob %s: content hashes to %s", d, got)
			continue
		}
		stored[d] = true
		st.blobs++
	}

	// Links: each names the digest of its path, and what it names exists.
	repoOf := func(p string) (repo, kind, rest string) {
		for _, k := range []string{"/_layers/", "/_manifests/revisions/", "/_manifests/tags/"} {
			if i := strings.Index(p, k); i >= 0 {
				return strings.TrimPrefix(p[:i], v2+"/repositories/"), k, p[i+len(k):]
			}
		}
		return "", "", ""
	}
	has := func(repo, kind string, d digest.Digest) bool {
		_, ok := links[v2+"/repositories/"+repo+kind+d.Algorithm().String()+"/"+d.Encoded()+"/link"]
		return ok
	}
	for p, d := range links {
		repo, kind, rest := repoOf(p)
		switch kind {
		case "/_layers/", "/_manifests/revisions/":
			if want := d.Algorithm().String() + "/" + d.Encoded() + "/link"; rest != want {
				bad("%s: names %s", p, d)
				continue
			}
			if !stored[d] {
				bad("%s: blob %s is missing", p, d)
				continue
			}
			if kind == "/_layers/" {
				st.layerLinks++
				continue
			}
			st.manifests++
			refs, err := references(ctx, drv, d)
			if err != nil {
				bad("manifest %s@%s: %v", repo, d, err)
				continue
			}
			for _, r := range refs {
				if !stored[r] || !has(repo, "/_layers/", r) && !has(repo, "/_manifests/revisions/", r) {
					bad("manifest %s@%s: references %s, which the repository does not have", repo, d, r)
				}
			}
		case "/_manifests/tags/":
			if !strings.HasSuffix(rest, "/current/link") {
				continue // a tag's history (index/) may name deleted manifests
			}
			st.tags++
			if !has(repo, "/_manifests/revisions/", d) || !stored[d] {
				bad("tag %s:%s: points to %s, which the repository does not have", repo, strings.TrimSuffix(rest, "/current/link"), d)
			}
		}
	}
	slices.Sort(problems)
	return st, problems, nil
}

func hashFile(ctx context.Context, drv storagedriver.Driver, p string, alg digest.Algorithm) (digest.Digest, error) {
	rc, err := drv.Reader(ctx, p, 0)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	dg := alg.Digester()
	if _, err := io.Copy(dg.Hash(), rc); err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	return dg.Digest(), nil
}

// references returns the digests manifest d references: config and layers
// of an image, children of an index, and its subject.
func references(ctx context.Context, drv storagedriver.Driver, d digest.Digest) ([]digest.Digest, error) {
	payload, err := drv.GetContent(ctx, v2BlobData(d))
	if err != nil {
		return nil, err
	}
	var m struct {
		Config    *struct{ Digest digest.Digest }
		Layers    []struct{ Digest digest.Digest }
		Manifests []struct{ Digest digest.Digest }
	}
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, fmt.Errorf("not a manifest: %w", err)
	}
	var out []digest.Digest
	if m.Config != nil {
		out = append(out, m.Config.Digest)
	}
	for _, l := range m.Layers {
		out = append(out, l.Digest)
	}
	for _, c := range m.Manifests {
		out = append(out, c.Digest)
	}
	return out, nil
}

func v2BlobData(d digest.Digest) string {
	return "/docker/registry/v2/blobs/" + d.Algorithm().String() + "/" + d.Encoded()[:2] + "/" + d.Encoded() + "/data"
}
