package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/berth-registry/berth/internal/oci"
	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Docker's manifest media types, which registries still serve alongside
// OCI's (internal/oci spells them).
const (
	MediaTypeDockerManifest     = oci.MediaTypeDockerManifest
	MediaTypeDockerManifestList = oci.MediaTypeDockerManifestList
)

// MaxManifestSize is the largest manifest the client reads (as registries
// accept).
const MaxManifestSize = 4 << 20

// manifestAccept lists every manifest type the client understands.
var manifestAccept = strings.Join([]string{
	v1.MediaTypeImageManifest, v1.MediaTypeImageIndex,
	MediaTypeDockerManifest, MediaTypeDockerManifestList,
}, ", ")

// Manifest is a manifest as the registry served it: its descriptor (media
// type, digest, size) and its exact bytes.
type Manifest struct {
	Descriptor v1.Descriptor
	Payload    []byte
}

// ManifestGet fetches the manifest ref names (by digest when it has one,
// else by tag) and verifies its bytes: against ref's digest, else against
// the Docker-Content-Digest the registry sent. Errors: ErrNotFound,
// ErrUnauthorized, ErrDenied, ErrUnavailable; ErrDigestMismatch; ErrTooLarge
// past MaxManifestSize.
func (c *Client) ManifestGet(ctx context.Context, ref Reference) (*Manifest, error) {
	req, err := c.manifestRequest(ctx, http.MethodGet, ref)
	if err != nil {
		return nil, err
	}
	resp, err := c.expect(req, http.StatusOK)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	payload, err := readCapped(resp.Body, MaxManifestSize)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", ref, err)
	}
	d, err := verifyManifest(ref, resp.Header.Get("Docker-Content-Digest"), payload)
	if err != nil {
		return nil, err
	}
	return &Manifest{
		Descriptor: v1.Descriptor{
			MediaType: manifestMediaType(resp.Header.Get("Content-Type"), payload),
			Digest:    d,
			Size:      int64(len(payload)),
		},
		Payload: payload,
	}, nil
}

// ManifestHead returns the descriptor of the manifest ref names without
// fetching it, falling back to ManifestGet when the registry's answer lacks
// the digest or size. Errors as ManifestGet.
func (c *Client) ManifestHead(ctx context.Context, ref Reference) (v1.Descriptor, error) {
	req, err := c.manifestRequest(ctx, http.MethodHead, ref)
	if err != nil {
		return v1.Descriptor{}, err
	}
	resp, err := c.expect(req, http.StatusOK)
	if err != nil {
		return v1.Descriptor{}, err
	}
	drain(resp.Body)
	desc := v1.Descriptor{MediaType: mediaTypeOnly(resp.Header.Get("Content-Type")), Size: resp.ContentLength}
	if d, err := digest.Parse(resp.Header.Get("Docker-Content-Digest")); err == nil {
		desc.Digest = d
	}
	if ref.Digest != "" {
		if desc.Digest != "" && desc.Digest.Algorithm() == ref.Digest.Algorithm() && desc.Digest != ref.Digest {
			return v1.Descriptor{}, fmt.Errorf("manifest %s: registry names it %s: %w", ref, desc.Digest, ErrDigestMismatch)
		}
		desc.Digest = ref.Digest
	}
	if desc.Digest == "" || desc.Size < 0 || desc.MediaType == "" || desc.MediaType == "application/json" {
		m, err := c.ManifestGet(ctx, ref)
		if err != nil {
			return v1.Descriptor{}, err
		}
		return m.Descriptor, nil
	}
	return desc, nil
}

// ManifestPut stores payload as a manifest of mediaType under ref's tag
// (or, without a tag, under ref's digest, which must be the payload's) and
// returns its digest. Errors: ErrUnauthorized, ErrDenied, ErrUnavailable,
// ErrDigestMismatch, or a *ResponseError (e.g. MANIFEST_BLOB_UNKNOWN).
func (c *Client) ManifestPut(ctx context.Context, ref Reference, mediaType string, payload []byte) (digest.Digest, error) {
	if err := validRepo(ref); err != nil {
		return "", err
	}
	alg := digest.Canonical
	if ref.Digest != "" {
		alg = ref.Digest.Algorithm()
		if !alg.Available() {
			return "", fmt.Errorf("manifest %s: digest algorithm %q unsupported", ref, alg)
		}
	}
	d := alg.FromBytes(payload)
	if ref.Digest != "" && ref.Digest != d {
		return "", fmt.Errorf("manifest %s: payload is %s: %w", ref, d, ErrDigestMismatch)
	}
	id := ref.Tag
	if id == "" {
		id = d.String()
	}
	req, err := c.request(ctx, http.MethodPut, c.repoURL(ref, "/manifests/"+id, nil), bytes.NewReader(payload),
		ref.Registry, pushScope(ref.Repository))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", mediaType)
	resp, err := c.expect(req, http.StatusCreated, http.StatusOK)
	if err != nil {
		return "", err
	}
	drain(resp.Body)
	if got, err := digest.Parse(resp.Header.Get("Docker-Content-Digest")); err == nil && got.Algorithm() == alg && got != d {
		return "", fmt.Errorf("manifest %s: registry stored %s, sent %s: %w", ref, got, d, ErrDigestMismatch)
	}
	return d, nil
}

// ManifestDelete deletes the manifest ref names: by digest when it has one
// (the manifest and every tag of it), else the tag alone, where the
// registry supports that. Errors: ErrNotFound, ErrUnsupported (deletes
// disabled), ErrUnauthorized, ErrDenied, ErrUnavailable.
func (c *Client) ManifestDelete(ctx context.Context, ref Reference) error {
	id, err := identifier(ref)
	if err != nil {
		return err
	}
	if err := validRepo(ref); err != nil {
		return err
	}
	req, err := c.request(ctx, http.MethodDelete, c.repoURL(ref, "/manifests/"+id, nil), nil,
		ref.Registry, deleteScope(ref.Repository))
	if err != nil {
		return err
	}
	resp, err := c.expect(req, http.StatusAccepted, http.StatusOK, http.StatusNoContent)
	if err != nil {
		return err
	}
	drain(resp.Body)
	return nil
}

func (c *Client) manifestRequest(ctx context.Context, method string, ref Reference) (*http.Request, error) {
	id, err := identifier(ref)
	if err != nil {
		return nil, err
	}
	if err := validRepo(ref); err != nil {
		return nil, err
	}
	req, err := c.request(ctx, method, c.repoURL(ref, "/manifests/"+id, nil), nil, ref.Registry, pullScope(ref.Repository))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", manifestAccept)
	return req, nil
}

// verifyManifest checks payload against ref's digest, else against the
// digest the registry announced (when it is well formed), and returns the
// manifest's digest.
func verifyManifest(ref Reference, announced string, payload []byte) (digest.Digest, error) {
	want := ref.Digest
	if want == "" {
		if d, err := digest.Parse(announced); err == nil && d.Algorithm().Available() {
			want = d
		}
	}
	if want == "" {
		return digest.FromBytes(payload), nil
	}
	if !want.Algorithm().Available() {
		return "", fmt.Errorf("manifest %s: digest algorithm %q unsupported", ref, want.Algorithm())
	}
	if got := want.Algorithm().FromBytes(payload); got != want {
		return "", fmt.Errorf("manifest %s: payload is %s, want %s: %w", ref, got, want, ErrDigestMismatch)
	}
	return want, nil
}

// manifestMediaType is the Content-Type of a manifest answer, or, when that
// says nothing useful, the mediaType field of the payload.
func manifestMediaType(contentType string, payload []byte) string {
	mt := mediaTypeOnly(contentType)
	if mt != "" && mt != "application/json" && mt != "text/plain" && mt != "application/octet-stream" {
		return mt
	}
	var probe struct {
		MediaType string          `json:"mediaType"`
		Manifests json.RawMessage `json:"manifests"`
	}
	if json.Unmarshal(payload, &probe) == nil {
		switch {
		case probe.MediaType != "":
			return probe.MediaType
		case probe.Manifests != nil:
			return v1.MediaTypeImageIndex
		}
	}
	if mt != "" {
		return mt
	}
	return v1.MediaTypeImageManifest
}

// mediaTypeOnly strips parameters from a Content-Type.
func mediaTypeOnly(ct string) string {
	if mt, _, err := mime.ParseMediaType(ct); err == nil {
		return mt
	}
	return strings.TrimSpace(strings.SplitN(ct, ";", 2)[0])
}

// referrersTag is the tag of the referrers tag schema for subject d:
// "<alg>-<encoded>", cut to the 128 characters a tag may have.
func referrersTag(d digest.Digest) string {
	t := d.Algorithm().String() + "-" + d.Encoded()
	if len(t) > 128 {
		t = t[:128]
	}
	return t
}
