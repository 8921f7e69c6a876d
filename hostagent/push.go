package hostagent

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/store"
	"github.com/berth-registry/berth/internal/iox"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/parallel"
	"github.com/berth-registry/berth/registry/client"
)

// PushResult tells what a push moved.
type PushResult struct {
	Reference string        `json:"reference"`
	Digest    digest.Digest `json:"digest"`
	Uploaded  int           `json:"uploaded"` // blobs sent
	Mounted   int           `json:"mounted"`  // blobs mounted from another repository
	Existing  int           `json:"existing"` // blobs the registry had
	Bytes     int64         `json:"bytes"`    // bytes uploaded
}

// Push sends the image src of the store to dest (src's own name when dest
// is ""). A blob the registry has already (HEAD) is skipped; one the store
// knows to be in another repository of the same registry is mounted from
// there; the others are uploaded, in chunks when large (the client's
// threshold), several at once. The manifest goes last, under dest's tag or,
// for a digest-only dest, by digest.
//
// Errors: ErrNotFound (src not in the store), ErrInvalid, ErrCorrupt (a
// blob of src is missing), ErrAbsent (WithPushNondistributable, and a
// foreign layer of src is not in the store) and the registry client's
// classes.
func (a *Agent) Push(ctx context.Context, src, dest string) (PushResult, error) {
	idx, err := a.store.ReadIndex()
	if err != nil {
		return PushResult{}, err
	}
	desc, hits, err := parseLocalRef(src).resolve(idx)
	if err != nil {
		return PushResult{}, err
	}
	if dest == "" {
		dest = store.EntryName(idx.Manifests[hits[0]])
	}
	r, err := client.ParseReference(dest)
	if err != nil {
		return PushResult{}, fmt.Errorf("%w: %w", err, ErrInvalid)
	}
	if oci.IsIndex(desc.MediaType) {
		return a.pushIndex(ctx, src, r, desc)
	}
	return a.pushImage(ctx, src, r, desc, idx.Manifests[hits[0]])
}

// pushImage pushes the image manifest desc and its blobs to r. entry is the
// store's index entry that named it (desc itself for an index's child): the
// registry's original manifest bytes, when the store kept them, hang off it.
func (a *Agent) pushImage(ctx context.Context, src string, r client.Reference, desc, entry v1.Descriptor) (PushResult, error) {
	if !oci.IsImageManifest(desc.MediaType) {
		return PushResult{}, fmt.Errorf("push %s: %s is not an image manifest: %w", src, desc.MediaType, ErrInvalid)
	}
	payload, err := a.store.ReadBlob(desc.Digest)
	if err != nil {
		return PushResult{}, fmt.Errorf("push %s: %w", src, err)
	}
	mediaType, sendPayload := desc.MediaType, payload
	if orig, mt, ok := a.originalManifest(entry, r); ok {
		mediaType, sendPayload = mt, orig
	}
	sendDigest := digest.FromBytes(sendPayload)
	var m v1.Manifest
	if err := json.Unmarshal(payload, &m); err != nil {
		return PushResult{}, fmt.Errorf("push %s: manifest: %v: %w", src, err, ErrInvalid)
	}
	blobs := []v1.Descriptor{m.Config}
	for _, l := range m.Layers {
		// As docker does: foreign and non-distributable layers stay
		// where their URLs point, unless told otherwise.
		if oci.IsNondistributable(l.MediaType) && !a.pushNondistributable {
			continue
		}
		if store.IsForeign(l) && !a.store.HasBlob(l.Digest, l.Size) {
			return PushResult{}, fmt.Errorf("push %s: %w", src, absentError(l, "--allow-nondistributable cannot upload it (push without it to leave the layer at its URLs)"))
		}
		blobs = append(blobs, l)
	}
	leased := []digest.Digest{desc.Digest}
	for _, b := range blobs {
		leased = append(leased, b.Digest)
	}
	l, err := a.store.NewLease(ctx, leased)
	if err != nil {
		return PushResult{}, err
	}
	defer l.Release()
	srcs, err := a.store.ReadSources()
	if err != nil {
		return PushResult{}, err
	}

	var uploaded, mounted, existing atomic.Int32
	var sent atomic.Int64
	err = parallel.Each(ctx, a.jobs, blobs, func(ctx context.Context, b v1.Descriptor) error {
		action, n, err := a.pushBlob(ctx, r, b, srcs[b.Digest])
		switch action {
		case "upload":
			uploaded.Add(1)
			sent.Add(n)
		case "mount":
			mounted.Add(1)
		case "exists":
			existing.Add(1)
		}
		return err
	})
	if err != nil {
		return PushResult{}, fmt.Errorf("push %s: %w", r, err)
	}
	got, err := a.client().ManifestPut(ctx, r, mediaType, sendPayload)
	if err != nil {
		return PushResult{}, fmt.Errorf("push %s: manifest: %w", r, err)
	}
	if got != "" && got != sendDigest {
		return PushResult{}, fmt.Errorf("push %s: registry stored the manifest as %s, not %s: %w", r, got, sendDigest, ErrCorrupt)
	}
	var blobDigests []digest.Digest
	for _, b := range blobs {
		blobDigests = append(blobDigests, b.Digest)
	}
	_ = a.store.AddSources(ctx, r.Name(), blobDigests)
	return PushResult{
		Reference: r.String(), Digest: sendDigest,
		Uploaded: int(uploaded.Load()), Mounted: int(mounted.Load()), Existing: int(existing.Load()),
		Bytes: sent.Load(),
	}, nil
}

// originalManifest returns the registry's own bytes of the manifest of
// entry e and their media type (store.Original): pushing those keeps the
// digest, and so the signatures of the image. ok is false when there are
// none, or when dest names the OCI form's digest.
func (a *Agent) originalManifest(e v1.Descriptor, dest client.Reference) ([]byte, string, bool) {
	if dest.Digest == e.Digest {
		return nil, "", false
	}
	return a.store.Original(e)
}

// pushBlob makes the registry hold b in r's repository and says how:
// "exists", "mount" or "upload" (with the bytes sent).
func (a *Agent) pushBlob(ctx context.Context, r client.Reference, b v1.Descriptor, known []string) (string, int64, error) {
	if size, err := a.client().BlobHead(ctx, r, b.Digest); err == nil && size == b.Size {
		a.emit(ProgressEvent{Kind: ProgressDone, Action: "exists", Descriptor: b})
		return "exists", 0, nil
	}
	for _, from := range known {
		fr, err := client.ParseReference(from)
		if err != nil || fr.Registry != r.Registry || fr.Repository == r.Repository {
			continue
		}
		if ok, err := a.client().BlobMount(ctx, r, fr.Repository, b.Digest); err == nil && ok {
			a.emit(ProgressEvent{Kind: ProgressDone, Action: "mount", Descriptor: b})
			return "mount", 0, nil
		}
	}
	f, err := a.store.OpenBlob(b.Digest)
	if err != nil {
		return "", 0, fmt.Errorf("blob %s: %w", b.Digest, ErrCorrupt)
	}
	defer f.Close()
	a.emit(ProgressEvent{Kind: ProgressStart, Action: "upload", Descriptor: b})
	pr := &iox.ProgressReader{R: f, Fn: func(n int) {
		a.emit(ProgressEvent{Kind: ProgressAdvance, Action: "upload", Descriptor: b, N: int64(n)})
	}}
	err = a.client().BlobPut(ctx, r, b, pr)
	a.emit(ProgressEvent{Kind: ProgressDone, Action: "upload", Descriptor: b, Err: err})
	if err != nil {
		return "", 0, fmt.Errorf("blob %s: %w", b.Digest, err)
	}
	return "upload", b.Size, nil
}

// pushIndex pushes an index the store composed (several platforms under one
// name): each child image by digest, then the index under r's tag.
func (a *Agent) pushIndex(ctx context.Context, src string, r client.Reference, desc v1.Descriptor) (PushResult, error) {
	payload, err := a.store.ReadBlob(desc.Digest)
	if err != nil {
		return PushResult{}, fmt.Errorf("push %s: %w", src, err)
	}
	var idx v1.Index
	if err := json.Unmarshal(payload, &idx); err != nil {
		return PushResult{}, fmt.Errorf("push %s: index: %v: %w", src, err, ErrCorrupt)
	}
	var total PushResult
	for _, child := range idx.Manifests {
		cr := r
		cr.Tag, cr.Digest = "", child.Digest
		res, err := a.pushImage(ctx, src, cr, child, child)
		if err != nil {
			return PushResult{}, err
		}
		total.Uploaded += res.Uploaded
		total.Mounted += res.Mounted
		total.Existing += res.Existing
		total.Bytes += res.Bytes
	}
	got, err := a.client().ManifestPut(ctx, r, desc.MediaType, payload)
	if err != nil {
		return PushResult{}, fmt.Errorf("push %s: index: %w", r, err)
	}
	if got != "" && got != desc.Digest {
		return PushResult{}, fmt.Errorf("push %s: registry stored the index as %s, not %s: %w", r, got, desc.Digest, ErrCorrupt)
	}
	total.Reference, total.Digest = r.String(), desc.Digest
	return total, nil
}
