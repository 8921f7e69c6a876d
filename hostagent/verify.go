package hostagent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/store"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/parallel"
	"github.com/berth-registry/berth/registry/client"
)

// Problem is one finding of Verify.
type Problem = store.Problem

// VerifyReport is what Verify found.
type VerifyReport struct {
	Blobs    int       `json:"blobs"` // blobs hashed
	Bytes    int64     `json:"bytes"`
	Problems []Problem `json:"problems,omitempty"`
	// Absent are the foreign layers images name that are not in the
	// store (kind "absent"): not problems, as install left them out
	// when their URLs failed. Repair tries their URLs again.
	Absent []Problem `json:"absent,omitempty"`
	// Repaired lists the corrupt blobs deleted (repair only).
	Repaired []digest.Digest `json:"repaired,omitempty"`
	// Refetched lists the blobs an image needs that repair fetched again
	// from a registry the store got them from.
	Refetched []digest.Digest `json:"refetched,omitempty"`
	// Unrepaired counts the problems repair could not fix.
	Unrepaired int `json:"unrepaired,omitempty"`
}

// deleteCorrupt removes the blobs found corrupt, under the store lock.
func (a *Agent) deleteCorrupt(ctx context.Context, rep *VerifyReport) error {
	var corrupt []digest.Digest
	for _, p := range rep.Problems {
		if p.Kind == "corrupt" && !slices.Contains(rep.Repaired, p.Digest) && !slices.Contains(corrupt, p.Digest) {
			corrupt = append(corrupt, p.Digest)
		}
	}
	if err := a.store.DeleteBlobs(ctx, corrupt); err != nil {
		return fmt.Errorf("repair: %w", err)
	}
	rep.Repaired = append(rep.Repaired, corrupt...)
	return nil
}

// Verify re-hashes every blob of the store and checks that every blob an
// image needs is there with the size its manifest gives. It returns a report
// and, when it found anything, an error wrapping ErrCorrupt. With repair,
// corrupt blobs are deleted (Repaired), so that installing the images that
// need them again fetches them afresh, and absent foreign layers are
// fetched from their URLs if they can be; otherwise it changes nothing. An
// absent foreign layer is reported in Absent, not as a problem.
func (a *Agent) Verify(ctx context.Context, repair bool) (VerifyReport, error) {
	var rep VerifyReport
	idx, err := a.store.ReadIndex()
	if err != nil {
		return rep, err
	}
	// What the images need, and who needs it.
	need := map[digest.Digest]v1.Descriptor{}
	users := map[digest.Digest][]string{}
	var problems []Problem
	for _, e := range idx.Manifests {
		name := store.EntryName(e)
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
			raw, err := a.store.ReadBlob(d.Digest)
			if err != nil {
				return // reported below, when its file is hashed or found missing
			}
			refs, err := store.References(d.MediaType, raw)
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

	entries, err := os.ReadDir(a.store.Path(store.BlobsDir, "sha256"))
	if err != nil {
		return rep, fmt.Errorf("verify: %w", err)
	}
	var mu sync.Mutex
	err = parallel.Each(ctx, a.jobs, entries, func(ctx context.Context, e fs.DirEntry) error {
		p := a.store.CheckBlobFile(ctx, e.Name(), need)
		mu.Lock()
		defer mu.Unlock()
		if p.N >= 0 {
			rep.Blobs++
			rep.Bytes += p.N
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
		if _, err := os.Stat(a.store.BlobPath(d)); errors.Is(err, fs.ErrNotExist) {
			if desc := need[d]; store.IsForeign(desc) {
				rep.Absent = append(rep.Absent, absentProblem(desc))
				continue
			}
			problems = append(problems, Problem{Digest: d, Kind: "missing", Detail: "an image needs it"})
		}
	}
	byDigest := func(x, y Problem) int { return strings.Compare(string(x.Digest), string(y.Digest)) }
	for _, ps := range [][]Problem{problems, rep.Absent} {
		for i := range ps {
			ps[i].Images = users[ps[i].Digest]
		}
		slices.SortFunc(ps, byDigest)
	}
	rep.Problems = problems
	if repair {
		if err := a.deleteCorrupt(ctx, &rep); err != nil {
			return rep, err
		}
		a.refetch(ctx, &rep, need)
		for _, p := range problems {
			_, needed := need[p.Digest]
			fixed := p.Kind == "corrupt" && slices.Contains(rep.Repaired, p.Digest) && !needed ||
				slices.Contains(rep.Refetched, p.Digest)
			if !fixed {
				rep.Unrepaired++
			}
		}
		if rep.Unrepaired == 0 {
			return rep, nil
		}
		return rep, fmt.Errorf("%d problem(s) in %s, %d not repaired: %w", len(problems), a.store.Root(), rep.Unrepaired, ErrCorrupt)
	}
	if len(problems) > 0 {
		return rep, fmt.Errorf("%d problem(s) in %s: %w", len(problems), a.store.Root(), ErrCorrupt)
	}
	return rep, nil
}

// refetch downloads again, from a repository the store got it from, each
// blob an image needs that is now missing (deleted as corrupt, or lost); a
// foreign layer from its URLs first (WithForeignURLs). Absent foreign
// layers it fetched leave rep.Absent; the others say why they stay.
func (a *Agent) refetch(ctx context.Context, rep *VerifyReport, need map[digest.Digest]v1.Descriptor) {
	srcs, err := a.store.ReadSources()
	if err != nil {
		return
	}
	why := map[digest.Digest]string{}
	for d, desc := range need {
		if a.store.HasBlob(d, -1) {
			continue
		}
		if store.IsForeign(desc) {
			w, err := a.fetchForeign(ctx, desc, a.foreignURLs)
			if err == nil && w == "" {
				rep.Refetched = append(rep.Refetched, d)
				continue
			}
			why[d] = w
			if err != nil {
				why[d] = err.Error()
			}
		}
		for _, repo := range srcs[d] {
			r, err := client.ParseReference(repo)
			if err != nil {
				continue
			}
			if err := a.download(ctx, r, desc); err == nil {
				rep.Refetched = append(rep.Refetched, d)
				break
			}
		}
	}
	slices.Sort(rep.Refetched)
	var still []Problem
	for _, p := range rep.Absent {
		if !slices.Contains(rep.Refetched, p.Digest) {
			p.Detail += ": " + why[p.Digest]
			still = append(still, p)
		}
	}
	rep.Absent = still
}
