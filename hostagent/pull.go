package hostagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/foreign"
	"github.com/berth-registry/berth/hostagent/mirror"
	"github.com/berth-registry/berth/hostagent/store"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/parallel"
	"github.com/berth-registry/berth/registry/client"
)

// PullOptions tune Pull.
type PullOptions struct {
	// Platform is os/arch[/variant]; empty means the host's. It picks the
	// manifest of an index and is ignored for a single image.
	Platform string
	// ForeignURLs, when set, are the only URLs a foreign or
	// non-distributable layer is fetched from (as a registry's
	// validation.manifests.urls.allow); nil allows any http or https URL.
	ForeignURLs *regexp.Regexp
}

// Pull installs the image ref names from its registry into the store under
// that name: for an index, the manifest of the platform asked for. Blobs
// already in the store are not fetched again; layers download in parallel
// (WithConcurrency), each hashed while it streams and published only when it
// matches its digest; an interrupted download resumes where it stopped. The
// index names the image only once all its blobs are in place. A foreign
// layer that neither its URLs nor the registry give is left out: the
// image is installed without it, and Image.Absent says which and why.
//
// Errors: ErrInvalid (bad reference or platform, or not an image),
// ErrNoPlatform, ErrCorrupt (content did not match its digest), and the
// registry client's classes (client.ErrNotFound, ErrUnauthorized,
// ErrDenied, ErrUnavailable) wrapped with ErrNotFound for an unknown image.
func (a *Agent) Pull(ctx context.Context, ref string, opts PullOptions) (Image, error) {
	r, err := client.ParseReference(ref)
	if err != nil {
		return Image{}, fmt.Errorf("%w: %w", err, ErrInvalid)
	}
	want, err := ParsePlatform(opts.Platform)
	if err != nil {
		return Image{}, err
	}
	desc, payload, err := a.resolveRemote(ctx, r, want)
	if err != nil {
		return Image{}, err
	}
	sourceDigest := desc.Digest
	var m v1.Manifest
	if err := json.Unmarshal(payload, &m); err != nil {
		return Image{}, fmt.Errorf("%s: manifest %s: %v: %w", r, desc.Digest, err, ErrInvalid)
	}
	newType, newPayload, err := store.ToOCI(desc.MediaType, payload)
	if err != nil {
		return Image{}, fmt.Errorf("%s: %w", r, err)
	}
	desc.MediaType, desc.Digest, desc.Size = newType, digest.FromBytes(newPayload), int64(len(newPayload))

	blobs := append([]v1.Descriptor{m.Config}, m.Layers...)
	leased := []digest.Digest{desc.Digest, sourceDigest}
	for _, b := range blobs {
		if err := oci.CheckDigest(b.Digest); err != nil {
			return Image{}, fmt.Errorf("%s: %w: %w", r, ErrInvalid, err)
		}
		leased = append(leased, b.Digest)
	}
	l, err := a.store.NewLease(ctx, leased)
	if err != nil {
		return Image{}, err
	}
	defer l.Release()

	var mu sync.Mutex
	absent := map[digest.Digest]AbsentLayer{}
	err = parallel.Each(ctx, a.jobs, blobs, func(ctx context.Context, b v1.Descriptor) error {
		if !store.IsForeign(b) {
			return a.download(ctx, r, b)
		}
		al, err := a.downloadForeign(ctx, r, b, opts.ForeignURLs)
		if al != nil {
			mu.Lock()
			absent[al.Digest] = *al
			mu.Unlock()
		}
		return err
	})
	if err != nil {
		return Image{}, fmt.Errorf("pull %s: %w", r, err)
	}
	if err := a.store.PutBlob(desc.Digest, newPayload); err != nil {
		return Image{}, err
	}
	if sourceDigest != desc.Digest {
		// The registry's bytes too, beside the OCI form: push sends them,
		// so the image keeps its digest.
		if err := a.store.PutBlob(sourceDigest, payload); err != nil {
			return Image{}, err
		}
	}
	entry := newEntry(r, desc, sourceDigest)
	err = a.store.UpdateIndex(ctx, func(idx *v1.Index) error {
		// A second platform of one index keeps the first: the name then
		// holds an index of both.
		merged, err := a.store.MergePlatform(idx, entry)
		if err != nil {
			return err
		}
		store.SetEntry(idx, merged)
		return nil
	})
	if err != nil {
		return Image{}, err
	}
	var blobDigests []digest.Digest
	for _, b := range blobs {
		if _, ok := absent[b.Digest]; !ok {
			blobDigests = append(blobDigests, b.Digest)
		}
	}
	// Only mounts on later pushes rest on this: a failure is not the pull's.
	_ = a.store.AddSources(ctx, r.Name(), blobDigests)
	// The image installed (the name may hold an index of it and others),
	// and why each layer absent is.
	img, err := a.store.loadImage(entry)
	for i, l := range img.Absent {
		img.Absent[i].Reason = absent[l.Digest].Reason
	}
	return img, err
}

// resolveRemote fetches the manifest ref names and, for an index, the
// manifest of platform want. It returns that manifest's descriptor (with
// the platform it was chosen for) and content.
func (a *Agent) resolveRemote(ctx context.Context, r client.Reference, want v1.Platform) (v1.Descriptor, []byte, error) {
	m, err := a.client().ManifestGet(ctx, r)
	if err != nil {
		return v1.Descriptor{}, nil, mirror.RemoteError(r, err)
	}
	if oci.IsIndex(m.Descriptor.MediaType) {
		var idx v1.Index
		if err := json.Unmarshal(m.Payload, &idx); err != nil {
			return v1.Descriptor{}, nil, fmt.Errorf("%s: index: %v: %w", r, err, ErrInvalid)
		}
		child, err := oci.ChoosePlatform(idx, want)
		if err != nil {
			return v1.Descriptor{}, nil, fmt.Errorf("%s: %w", r, err)
		}
		m, err = a.client().ManifestGet(ctx, r.WithDigest(child.Digest))
		if err != nil {
			return v1.Descriptor{}, nil, mirror.RemoteError(r, err)
		}
		if m.Descriptor.Digest != child.Digest {
			return v1.Descriptor{}, nil, fmt.Errorf("%s: manifest %s arrived as %s: %w", r, child.Digest, m.Descriptor.Digest, ErrCorrupt)
		}
		m.Descriptor.Platform = child.Platform
	}
	if !oci.IsImageManifest(m.Descriptor.MediaType) {
		return v1.Descriptor{}, nil, fmt.Errorf("%s: %s is not an image manifest: %w", r, m.Descriptor.MediaType, ErrInvalid)
	}
	if got := digest.FromBytes(m.Payload); got != m.Descriptor.Digest {
		return v1.Descriptor{}, nil, fmt.Errorf("%s: manifest hashes to %s, registry said %s: %w", r, got, m.Descriptor.Digest, ErrCorrupt)
	}
	return m.Descriptor, m.Payload, nil
}

// download brings one blob into the store, resuming a partial download.
func (a *Agent) download(ctx context.Context, r client.Reference, b v1.Descriptor) error {
	if a.store.HasBlob(b.Digest, b.Size) {
		a.emit(ProgressEvent{Kind: ProgressDone, Action: "exists", Descriptor: b})
		return nil
	}
	fetch := func(ctx context.Context, offset int64) (io.ReadCloser, int64, error) {
		rc, _, err := a.client().BlobGet(ctx, r, b.Digest, offset)
		if errors.Is(err, client.ErrRangeIgnored) && offset > 0 {
			rc, _, err = a.client().BlobGet(ctx, r, b.Digest, 0)
			offset = 0
		}
		if err != nil {
			return nil, 0, mirror.RemoteError(r, err)
		}
		return rc, offset, nil
	}
	started := false
	obs := store.IngestObserver{
		Start: func(resumed int64) {
			started = true
			a.emit(ProgressEvent{Kind: ProgressStart, Action: "download", Descriptor: b, Resumed: resumed})
		},
		Write: func(n int) {
			a.emit(ProgressEvent{Kind: ProgressAdvance, Action: "download", Descriptor: b, N: int64(n)})
		},
	}
	fetched, err := a.store.Ingest(ctx, b, fetch, obs)
	action := "download"
	if !fetched && err == nil {
		action = "exists" // another process brought it meanwhile
	}
	if started || err != nil || action == "exists" {
		a.emit(ProgressEvent{Kind: ProgressDone, Action: action, Descriptor: b, Err: err})
	}
	return err
}

// AbsentLayer is a foreign or non-distributable layer an image names that
// is not in the store: install could not fetch it from its URLs (refused
// by --foreign-urls, or unreachable) and the registry does not hold it.
// The image is installed without it; what needs its content (a container,
// push --allow-nondistributable) fails naming it, and verify --repair
// tries its URLs again.
type AbsentLayer struct {
	Digest    digest.Digest `json:"digest"`
	MediaType string        `json:"mediaType"`
	Size      int64         `json:"size"`
	URLs      []string      `json:"urls"`
	// Reason says why it was not fetched (install and verify --repair
	// only).
	Reason string `json:"reason,omitempty"`
}

func absentLayer(d v1.Descriptor, reason string) AbsentLayer {
	return AbsentLayer{Digest: d.Digest, MediaType: d.MediaType, Size: d.Size, URLs: d.URLs, Reason: reason}
}

// absentLayers lists the foreign layers of layers the store lacks.
func (s *imageStore) absentLayers(layers []v1.Descriptor) []AbsentLayer {
	var out []AbsentLayer
	for _, l := range s.AbsentForeign(layers) {
		out = append(out, absentLayer(l, ""))
	}
	return out
}

// absentError is the error of an operation that needs the content of the
// absent foreign layer l: it names the layer and its URLs.
func absentError(l v1.Descriptor, what string) error {
	return fmt.Errorf("foreign layer %s is not in the store (install could not fetch it from %s), so %s; fetch it with `verify --repair` once a URL is reachable and allowed: %w",
		l.Digest, strings.Join(l.URLs, ", "), what, ErrAbsent)
}

// downloadForeign brings the foreign or non-distributable layer b into
// the store from the URLs of its descriptor or, failing that, from the
// registry, which holds it when it was pushed with
// --allow-nondistributable. When neither has it (URLs refused or
// unreachable) it returns the layer as absent, with why, and no error:
// the image is installed without it. Content that does not match the
// digest is an error (ErrCorrupt), as for any blob.
func (a *Agent) downloadForeign(ctx context.Context, r client.Reference, b v1.Descriptor, allow *regexp.Regexp) (*AbsentLayer, error) {
	if a.store.HasBlob(b.Digest, b.Size) {
		a.emit(ProgressEvent{Kind: ProgressDone, Action: "exists", Descriptor: b})
		return nil, nil
	}
	why, err := a.fetchForeign(ctx, b, allow)
	if err != nil || why == "" {
		return nil, err
	}
	err = a.download(ctx, r, b)
	switch {
	case err == nil:
		return nil, nil
	case errors.Is(err, ErrCorrupt) || ctx.Err() != nil:
		return nil, fmt.Errorf("foreign layer %s from the registry: %w", b.Digest, err)
	}
	al := absentLayer(b, foreign.NotInRegistry(why))
	return &al, nil
}

// fetchForeign tries the URLs of the foreign layer b (see foreign.Fetch),
// reporting each download as progress.
func (a *Agent) fetchForeign(ctx context.Context, b v1.Descriptor, allow *regexp.Regexp) (string, error) {
	return foreign.Fetch(ctx, a.store.Store, b, allow, foreign.Observer{
		Start: func() { a.emit(ProgressEvent{Kind: ProgressStart, Action: "download", Descriptor: b}) },
		Write: func(n int) {
			a.emit(ProgressEvent{Kind: ProgressAdvance, Action: "download", Descriptor: b, N: int64(n)})
		},
		Done: func(err error) {
			a.emit(ProgressEvent{Kind: ProgressDone, Action: "download", Descriptor: b, Err: err})
		},
	})
}

// absentProblem is how Verify reports the foreign layer d the store lacks:
// not a problem (the image was installed without it).
func absentProblem(d v1.Descriptor) Problem {
	return Problem{Digest: d.Digest, Kind: "absent", Detail: "foreign layer not present (URLs " + strings.Join(d.URLs, ", ") + ")"}
}
