package hostagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/oci"
)

// references lists what a manifest or an index points to.
func references(mediaType string, raw []byte) ([]v1.Descriptor, error) {
	if oci.IsIndex(mediaType) {
		var idx v1.Index
		if err := json.Unmarshal(raw, &idx); err != nil {
			return nil, fmt.Errorf("%v: %w", err, ErrCorrupt)
		}
		return idx.Manifests, nil
	}
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%v: %w", err, ErrCorrupt)
	}
	return append([]v1.Descriptor{m.Config}, m.Layers...), nil
}

// Problem is one finding of Verify.
type Problem struct {
	Digest digest.Digest `json:"digest"`
	// What is wrong: "corrupt" (content hashes to another digest, or the
	// size differs from what a manifest says), "missing" (an image needs
	// it), "unreadable".
	Kind   string   `json:"kind"`
	Detail string   `json:"detail"`
	Images []string `json:"images,omitempty"` // names of the images that need it
}

// VerifyReport is what Verify found.
type VerifyReport struct {
	Blobs    int       `json:"blobs"` // blobs hashed
	Bytes    int64     `json:"bytes"`
	Problems []Problem `json:"problems,omitempty"`
	// Repaired lists the corrupt blobs deleted (repair only).
	Repaired []digest.Digest `json:"repaired,omitempty"`
}

// deleteCorrupt removes the blobs found corrupt, under the store lock.
func (a *Agent) deleteCorrupt(ctx context.Context, rep *VerifyReport) error {
	unlock, err := a.store.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	for _, p := range rep.Problems {
		if p.Kind != "corrupt" || slices.Contains(rep.Repaired, p.Digest) {
			continue
		}
		if err := os.Remove(a.store.blobPath(p.Digest)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("repair: %w", err)
		}
		rep.Repaired = append(rep.Repaired, p.Digest)
	}
	return oci.SyncDir(a.store.path(blobsDir, "sha256"))
}

// Verify re-hashes every blob of the store and checks that every blob an
// image needs is there with the size its manifest gives. It returns a report
// and, when it found anything, an error wrapping ErrCorrupt. With repair,
// corrupt blobs are deleted (Repaired), so that installing the images that
// need them again fetches them afresh; otherwise it changes nothing.
func (a *Agent) Verify(ctx context.Context, repair bool) (VerifyReport, error) {
	var rep VerifyReport
	idx, err := a.store.readIndex()
	if err != nil {
		return rep, err
	}
	// What the images need, and who needs it.
	need := map[digest.Digest]v1.Descriptor{}
	users := map[digest.Digest][]string{}
	var problems []Problem
	for _, e := range idx.Manifests {
		name := entryName(e)
		var walk func(d v1.Descriptor)
		walk = func(d v1.Descriptor) {
			if !slices.Contains(users[d.Digest], name) {
				users[d.Digest] = append(users[d.Digest], name)
			}
			if _, seen := need[d.Digest]; seen {
				return
			}
			need[d.Digest] = d
			if !oci.IsIndex(d.MediaType) && !oci.IsImageManifest(d.MediaType) {
				return
			}
			raw, err := a.store.readBlob(d.Digest)
			if err != nil {
				return // reported below, when its file is hashed or found missing
			}
			refs, err := references(d.MediaType, raw)
			if err != nil {
				problems = append(problems, Problem{Digest: d.Digest, Kind: "corrupt", Detail: "manifest does not parse: " + err.Error()})
				return
			}
			for _, r := range refs {
				walk(r)
			}
		}
		walk(e)
	}

	dir := a.store.path(blobsDir, "sha256")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return rep, fmt.Errorf("verify: %w", err)
	}
	var mu sync.Mutex
	err = parallel(ctx, a.jobs, entries, func(ctx context.Context, e fs.DirEntry) error {
		p := problemOf(ctx, dir, e.Name(), need)
		mu.Lock()
		defer mu.Unlock()
		if p.n >= 0 {
			rep.Blobs++
			rep.Bytes += p.n
		}
		if p.Kind != "" {
			problems = append(problems, p.Problem)
		}
		return ctx.Err()
	})
	if err != nil {
		return rep, err
	}
	for d := range need {
		if _, err := os.Stat(a.store.blobPath(d)); errors.Is(err, fs.ErrNotExist) {
			problems = append(problems, Problem{Digest: d, Kind: "missing", Detail: "an image needs it"})
		}
	}
	for i := range problems {
		problems[i].Images = users[problems[i].Digest]
	}
	slices.SortFunc(problems, func(x, y Problem) int { return strings.Compare(string(x.Digest), string(y.Digest)) })
	rep.Problems = problems
	if repair {
		if err := a.deleteCorrupt(ctx, &rep); err != nil {
			return rep, err
		}
	}
	if len(problems) > 0 {
		return rep, fmt.Errorf("%d problem(s) in %s: %w", len(problems), a.store.root, ErrCorrupt)
	}
	return rep, nil
}

type blobCheck struct {
	Problem
	n int64 // bytes hashed, -1 when the file was not hashed
}

// problemOf hashes the blob file name in dir and compares it with its name
// and with the size the images expect.
func problemOf(ctx context.Context, dir, name string, need map[digest.Digest]v1.Descriptor) blobCheck {
	d := digest.NewDigestFromEncoded(digest.SHA256, name)
	if d.Validate() != nil {
		return blobCheck{n: -1} // not a blob: a stray file
	}
	f, err := os.Open(dir + "/" + name)
	if errors.Is(err, fs.ErrNotExist) {
		return blobCheck{n: -1} // pruned meanwhile
	}
	if err != nil {
		return blobCheck{Problem: Problem{Digest: d, Kind: "unreadable", Detail: err.Error()}, n: -1}
	}
	defer f.Close()
	h := digest.SHA256.Hash()
	n, err := io.Copy(h, ctxReader{ctx, f})
	if err != nil {
		return blobCheck{Problem: Problem{Digest: d, Kind: "unreadable", Detail: err.Error()}, n: n}
	}
	if got := digest.NewDigest(digest.SHA256, h); got != d {
		return blobCheck{Problem: Problem{Digest: d, Kind: "corrupt", Detail: "content hashes to " + got.String()}, n: n}
	}
	if want, ok := need[d]; ok && want.Size != n {
		return blobCheck{Problem: Problem{Digest: d, Kind: "corrupt", Detail: fmt.Sprintf("%d bytes, manifest says %d", n, want.Size)}, n: n}
	}
	return blobCheck{n: n}
}
