package conformance_test

// The image the storage cross-check pushes: real gzip'd tar layers, an OCI
// config, an OCI image manifest, an OCI index over it, a Docker schema2
// manifest over the same blobs, an SBOM artifact whose subject is the OCI
// manifest, and a second repository that mounts the blobs. Everything is
// derived from fixed seeds, so both directions push identical bytes.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	dcDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	dcDockerConfig   = "application/vnd.docker.container.image.v1+json"
	dcDockerLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	dcSBOMType       = "application/vnd.example.sbom.v1"
)

// dcPush is how a blob goes up.
type dcPush int

const (
	dcPushPut     dcPush = iota // POST, then PUT with the whole body
	dcPushPost                  // a single POST ?digest= (or PUT when declined)
	dcPushChunked               // POST, PATCH per chunk, empty PUT
	dcPushMount                 // POST ?mount=&from=
)

func (p dcPush) String() string {
	return [...]string{"put", "post", "chunked", "mount"}[p]
}

type dcBlob struct {
	Data   []byte
	Digest digest.Digest
	How    dcPush
}

type dcManifest struct {
	Name      string // for messages
	Tag       string // pushed under this tag, or by digest when ""
	MediaType string
	Data      []byte
	Digest    digest.Digest
}

// dcRepo is one repository's share of the fixture, in push order.
type dcRepo struct {
	Name      string
	MountFrom string // for dcPushMount blobs
	Blobs     []dcBlob
	Manifests []dcManifest
}

// Tags is the sorted tag list the repository must serve.
func (r dcRepo) Tags() []string {
	var tags []string
	for _, m := range r.Manifests {
		if m.Tag != "" && !slices.Contains(tags, m.Tag) {
			tags = append(tags, m.Tag)
		}
	}
	slices.Sort(tags)
	return tags
}

// dcFixture is the whole data set of one direction of the cross-check.
type dcFixture struct {
	Repos []dcRepo
	// Subject is the OCI manifest the SBOM refers to, Referrer the SBOM.
	Subject, Referrer dcManifest
}

// chunk is the PATCH size; the big layer spans several chunks.
const dcChunk = 256 << 10

func newDCFixture() (dcFixture, error) {
	var layers []dcBlob
	var diffIDs []digest.Digest
	for i, files := range []map[string]int{
		{"etc/os-release": 200, "bin/app": 900 << 10}, // > 3 chunks
		{"usr/share/doc/app/README": 4 << 10},
		{"var/lib/app/state": 64 << 10, "etc/app.conf": 512},
	} {
		gz, diffID, err := dcTarGzip(uint64(i+1), files)
		if err != nil {
			return dcFixture{}, err
		}
		layers = append(layers, newDCBlob(gz, []dcPush{dcPushChunked, dcPushPost, dcPushPut}[i]))
		diffIDs = append(diffIDs, diffID)
	}

	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	cfgJSON, err := json.Marshal(v1.Image{
		Created:  &created,
		Platform: v1.Platform{Architecture: "amd64", OS: "linux"},
		Config:   v1.ImageConfig{Cmd: []string{"/bin/app"}, Env: []string{"PATH=/bin"}},
		RootFS:   v1.RootFS{Type: "layers", DiffIDs: diffIDs},
	})
	if err != nil {
		return dcFixture{}, err
	}
	config := newDCBlob(cfgJSON, dcPushPut)

	oci, err := newDCManifest("oci manifest", "v1", v1.Manifest{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   v1.MediaTypeImageManifest,
		Config:      dcDesc(config, v1.MediaTypeImageConfig),
		Layers:      dcDescs(layers, v1.MediaTypeImageLayerGzip),
		Annotations: map[string]string{"org.opencontainers.image.version": "1.0.0"},
	})
	if err != nil {
		return dcFixture{}, err
	}
	index, err := newDCManifest("oci index", "latest", v1.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageIndex,
		Manifests: []v1.Descriptor{{
			MediaType: v1.MediaTypeImageManifest,
			Digest:    oci.Digest,
			Size:      int64(len(oci.Data)),
			Platform:  &v1.Platform{Architecture: "amd64", OS: "linux"},
		}},
	})
	if err != nil {
		return dcFixture{}, err
	}
	// Schema2 has the same JSON shape as an OCI manifest; only the media
	// types differ.
	docker, err := newDCManifest("docker schema2 manifest", "docker", v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: dcDockerManifest,
		Config:    dcDesc(config, dcDockerConfig),
		Layers:    dcDescs(layers, dcDockerLayer),
	})
	if err != nil {
		return dcFixture{}, err
	}

	sbomBody := newDCBlob([]byte(`{"spdxVersion":"SPDX-2.3","name":"app"}`), dcPushPut)
	empty := newDCBlob([]byte("{}"), dcPushPut)
	sbom, err := newDCManifest("sbom artifact", "", v1.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    v1.MediaTypeImageManifest,
		ArtifactType: dcSBOMType,
		Config:       dcDesc(empty, v1.MediaTypeEmptyJSON),
		Layers:       dcDescs([]dcBlob{sbomBody}, "application/spdx+json"),
		Subject:      &v1.Descriptor{MediaType: oci.MediaType, Digest: oci.Digest, Size: int64(len(oci.Data))},
		Annotations:  map[string]string{"org.example.kind": "sbom"},
	})
	if err != nil {
		return dcFixture{}, err
	}

	app := dcRepo{
		Name:      "distcompat/app",
		Blobs:     append(append([]dcBlob{config}, layers...), sbomBody, empty),
		Manifests: []dcManifest{oci, index, docker, sbom},
	}
	mirror := dcRepo{Name: "distcompat/mirror", MountFrom: app.Name, Manifests: []dcManifest{docker}}
	for _, b := range append([]dcBlob{config}, layers...) {
		b.How = dcPushMount
		mirror.Blobs = append(mirror.Blobs, b)
	}
	return dcFixture{Repos: []dcRepo{app, mirror}, Subject: oci, Referrer: sbom}, nil
}

func newDCBlob(data []byte, how dcPush) dcBlob {
	return dcBlob{Data: data, Digest: digest.FromBytes(data), How: how}
}

func dcDesc(b dcBlob, mediaType string) v1.Descriptor {
	return v1.Descriptor{MediaType: mediaType, Digest: b.Digest, Size: int64(len(b.Data))}
}

func dcDescs(bs []dcBlob, mediaType string) []v1.Descriptor {
	ds := make([]v1.Descriptor, len(bs))
	for i, b := range bs {
		ds[i] = dcDesc(b, mediaType)
	}
	return ds
}

// newDCManifest serializes m; its media type is read back from the JSON.
func newDCManifest(name, tag string, m any) (dcManifest, error) {
	data, err := json.Marshal(m)
	if err != nil {
		return dcManifest{}, err
	}
	var head struct {
		MediaType string `json:"mediaType"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return dcManifest{}, err
	}
	return dcManifest{Name: name, Tag: tag, MediaType: head.MediaType, Data: data, Digest: digest.FromBytes(data)}, nil
}

// dcTarGzip builds a layer of regular files filled from a seeded PRNG (so it
// does not compress) and returns it gzip'd, with the digest of the tar.
func dcTarGzip(seed uint64, files map[string]int) (gz []byte, diffID digest.Digest, err error) {
	rng := rand.NewChaCha8([32]byte{byte(seed)})
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	mtime := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, name := range names {
		content := make([]byte, files[name])
		_, _ = rng.Read(content)
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), ModTime: mtime, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, "", err
		}
		if _, err := tw.Write(content); err != nil {
			return nil, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	var gzBuf bytes.Buffer
	zw := gzip.NewWriter(&gzBuf)
	if _, err := zw.Write(tarBuf.Bytes()); err != nil {
		return nil, "", err
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	return gzBuf.Bytes(), digest.FromBytes(tarBuf.Bytes()), nil
}

// push sends the repository's blobs and manifests through c; logf notes
// when a registry declined a single-POST upload.
func (r dcRepo) push(ctx context.Context, c *dcClient, logf func(string, ...any)) error {
	for _, b := range r.Blobs {
		var err error
		switch b.How {
		case dcPushPut:
			err = c.PushBlobPut(ctx, r.Name, b.Data)
		case dcPushPost:
			var single bool
			if single, err = c.PushBlobPost(ctx, r.Name, b.Data); err == nil && !single {
				logf("%s: single POST upload declined (202), pushed with PUT", r.Name)
			}
		case dcPushChunked:
			err = c.PushBlobChunked(ctx, r.Name, b.Data, dcChunk)
		case dcPushMount:
			err = c.MountBlob(ctx, r.Name, r.MountFrom, b.Digest)
		}
		if err != nil {
			return fmt.Errorf("blob %s (%s): %w", b.Digest, b.How, err)
		}
	}
	for _, m := range r.Manifests {
		ref := m.Tag
		if ref == "" {
			ref = m.Digest.String()
		}
		if _, err := c.PutManifest(ctx, r.Name, ref, m.MediaType, m.Data); err != nil {
			return fmt.Errorf("%s: %w", m.Name, err)
		}
	}
	return nil
}

// dcObs is what a registry answered to one pull request, reduced to what two
// registries serving one root must agree on.
type dcObs struct {
	Status       int
	ContentType  string
	Digest       string // Docker-Content-Digest
	Length       string // Content-Length
	ContentRange string
	Body         digest.Digest // of the body ("" for HEAD)
}

// dcProbe is one pull request and what it must answer. A zero
// want.ContentType is not checked here, only compared across registries.
type dcProbe struct {
	key   string
	fetch func() (*dcReply, error)
	want  dcObs
}

// dcProbes lists the pull requests that cover everything in fx.
func dcProbes(ctx context.Context, c *dcClient, fx dcFixture) []dcProbe {
	var ps []dcProbe
	for _, repo := range fx.Repos {
		for _, b := range repo.Blobs {
			size := strconv.Itoa(len(b.Data))
			ps = append(ps, dcProbe{
				key:   fmt.Sprintf("GET %s blob %s (%s)", repo.Name, b.Digest, b.How),
				fetch: func() (*dcReply, error) { return c.Blob(ctx, http.MethodGet, repo.Name, b.Digest, "") },
				want:  dcObs{Status: 200, Digest: b.Digest.String(), Length: size, Body: b.Digest},
			}, dcProbe{
				key:   fmt.Sprintf("HEAD %s blob %s", repo.Name, b.Digest),
				fetch: func() (*dcReply, error) { return c.Blob(ctx, http.MethodHead, repo.Name, b.Digest, "") },
				want:  dcObs{Status: 200, Digest: b.Digest.String(), Length: size},
			})
			if len(b.Data) >= 1100 {
				ps = append(ps, dcProbe{
					key:   fmt.Sprintf("GET %s blob %s Range: bytes=100-1099", repo.Name, b.Digest),
					fetch: func() (*dcReply, error) { return c.Blob(ctx, http.MethodGet, repo.Name, b.Digest, "bytes=100-1099") },
					want: dcObs{
						Status: 206, Digest: b.Digest.String(), Length: "1000",
						ContentRange: "bytes 100-1099/" + size, Body: digest.FromBytes(b.Data[100:1100]),
					},
				})
			}
		}
		for _, m := range repo.Manifests {
			refs := []string{m.Digest.String()}
			if m.Tag != "" {
				refs = append(refs, m.Tag)
			}
			size := strconv.Itoa(len(m.Data))
			for _, ref := range refs {
				ps = append(ps, dcProbe{
					key:   fmt.Sprintf("GET %s manifest %s (%s)", repo.Name, ref, m.Name),
					fetch: func() (*dcReply, error) { return c.Manifest(ctx, http.MethodGet, repo.Name, ref) },
					want:  dcObs{Status: 200, ContentType: m.MediaType, Digest: m.Digest.String(), Length: size, Body: m.Digest},
				}, dcProbe{
					key:   fmt.Sprintf("HEAD %s manifest %s (%s)", repo.Name, ref, m.Name),
					fetch: func() (*dcReply, error) { return c.Manifest(ctx, http.MethodHead, repo.Name, ref) },
					want:  dcObs{Status: 200, ContentType: m.MediaType, Digest: m.Digest.String(), Length: size},
				})
			}
		}
	}
	return ps
}

// dcObserve pulls everything in fx from c, checks it against what was pushed
// (t.Errorf per mismatch), checks tags and catalog, and returns the answers
// keyed by request.
func dcObserve(t *testing.T, label string, c *dcClient, fx dcFixture) map[string]dcObs {
	t.Helper()
	ctx := t.Context()
	obs := make(map[string]dcObs)
	for _, p := range dcProbes(ctx, c, fx) {
		r, err := p.fetch()
		if err != nil {
			t.Errorf("%s: %s: %v", label, p.key, err)
			continue
		}
		got := dcObs{
			Status:       r.Status,
			ContentType:  r.Header.Get("Content-Type"),
			Digest:       r.Header.Get("Docker-Content-Digest"),
			Length:       r.Header.Get("Content-Length"),
			ContentRange: r.Header.Get("Content-Range"),
		}
		if r.Method == http.MethodGet {
			got.Body = digest.FromBytes(r.Body)
		}
		obs[p.key] = got
		want := p.want
		if want.ContentType == "" {
			want.ContentType = got.ContentType
		}
		if got != want {
			t.Errorf("%s: %s:\n got %+v\nwant %+v", label, p.key, got, want)
			if got.Status >= 400 {
				t.Logf("%s: %s: body %q", label, p.key, r.Body)
			}
		}
	}

	var repos []string
	for _, repo := range fx.Repos {
		repos = append(repos, repo.Name)
		tags, err := c.Tags(ctx, repo.Name, 0)
		if err != nil {
			t.Errorf("%s: tags of %s: %v", label, repo.Name, err)
		} else if !slices.Equal(tags, repo.Tags()) {
			t.Errorf("%s: tags of %s: %q, want %q", label, repo.Name, tags, repo.Tags())
		}
	}
	slices.Sort(repos)
	cat, err := c.Catalog(ctx, 0)
	if err != nil {
		t.Errorf("%s: catalog: %v", label, err)
	} else if !slices.Equal(cat, repos) {
		t.Errorf("%s: catalog %q, want %q", label, cat, repos)
	}
	return obs
}

// dcCompare reports every request the two registries answered differently.
func dcCompare(t *testing.T, nameA string, a map[string]dcObs, nameB string, b map[string]dcObs) {
	t.Helper()
	keys := slices.Sorted(maps.Keys(a))
	for _, k := range keys {
		if ob, ok := b[k]; ok && ob != a[k] {
			t.Errorf("%s: answers differ on one root:\n %-12s %+v\n %-12s %+v", k, nameA, a[k], nameB, ob)
		}
	}
}
