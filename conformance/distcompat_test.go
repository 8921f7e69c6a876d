package conformance_test

// Storage cross-check with CNCF Distribution: Berth serves what Distribution
// wrote and Distribution serves what Berth wrote, byte for byte and header
// for header, over the shared filesystem layout. Distribution v3 runs
// in-process from its Go module (handlers.NewApp).

import (
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/testutil/disttest"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/storagedriver/filesystem"
)

// TestDistcompatDistributionToBerth: push through Distribution into a root,
// then serve that root with Berth.
func TestDistcompatDistributionToBerth(t *testing.T) {
	fx := dcMustFixture(t)
	root := t.TempDir()
	dist := dcStartDistribution(t, root)
	dcPushAll(t, "distribution", dist, fx)

	berth, _ := dcStartBerth(t, root)
	want := dcObserve(t, "distribution", dist, fx)
	got := dcObserve(t, "berth", berth, fx)
	dcCompare(t, "distribution", want, "berth", got)

	// Distribution keeps no referrers index, so this says whether Berth
	// rebuilds its own from the shared layout. Informational only: the
	// design promises a rebuild, not when it happens.
	if idx, _, err := berth.Referrers(t.Context(), fx.Repos[0].Name, fx.Subject.Digest, ""); err != nil {
		t.Logf("note: Berth referrers on a Distribution-written root: %v", err)
	} else {
		t.Logf("note: Berth lists %d referrer(s) of %s pushed through Distribution (1 stored)", len(idx.Manifests), fx.Subject.Digest)
	}
}

// TestDistcompatBerthToDistribution: push through Berth into a root, then
// serve that root with Distribution.
func TestDistcompatBerthToDistribution(t *testing.T) {
	fx := dcMustFixture(t)
	root := t.TempDir()
	berth, _ := dcStartBerth(t, root)
	dcPushAll(t, "berth", berth, fx)

	dist := dcStartDistribution(t, root)
	want := dcObserve(t, "berth", berth, fx)
	got := dcObserve(t, "distribution", dist, fx)
	dcCompare(t, "berth", want, "distribution", got)
}

// TestDistcompatSameLayout: the same pushes through each registry leave the
// same files with the same contents under docker/registry/v2 (empty
// directories aside, e.g. the _uploads Distribution keeps).
func TestDistcompatSameLayout(t *testing.T) {
	fx := dcMustFixture(t)
	distRoot, berthRoot := t.TempDir(), t.TempDir()
	dist := dcStartDistribution(t, distRoot)
	berth, _ := dcStartBerth(t, berthRoot)
	dcPushAll(t, "distribution", dist, fx)
	dcPushAll(t, "berth", berth, fx)

	want, got := dcLayoutFiles(t, distRoot), dcLayoutFiles(t, berthRoot)
	for _, p := range slices.Sorted(maps.Keys(want)) {
		switch g, ok := got[p]; {
		case !ok:
			t.Errorf("Berth did not write %s (Distribution did)", p)
		case g != want[p]:
			t.Errorf("%s: Berth wrote %s, Distribution %s", p, g, want[p])
		}
	}
	for _, p := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[p]; !ok {
			t.Errorf("Berth wrote %s, Distribution did not", p)
		}
	}
	if len(want) == 0 {
		t.Error("Distribution wrote no files under docker/registry/v2")
	}
}

// dcLayoutFiles maps every file under root/docker/registry/v2 to a short
// description of its content: the text of a link, the digest of data.
func dcLayoutFiles(t *testing.T, root string) map[string]string {
	t.Helper()
	base := filepath.Join(root, "docker", "registry", "v2")
	files := make(map[string]string)
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(base, p)
		if err != nil {
			return err
		}
		desc := fmt.Sprintf("%q", b)
		if len(b) > 100 {
			desc = fmt.Sprintf("%d bytes %s", len(b), digest.FromBytes(b))
		}
		files[filepath.ToSlash(rel)] = desc
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", base, err)
	}
	return files
}

// TestDistcompatReferrersSurviveRestart: manifests with a subject pushed
// through Berth are listed by its referrers API, also by a new Berth process
// on the same root (the Berth-only index under <root>/berth is durable), and
// Distribution still serves the artifacts themselves.
func TestDistcompatReferrersSurviveRestart(t *testing.T) {
	ctx := t.Context()
	fx := dcMustFixture(t)
	repo := fx.Repos[0]
	root := t.TempDir()
	berth, stop := dcStartBerth(t, root)
	dcPushAll(t, "berth", berth, dcFixture{Repos: []dcRepo{repo}})

	// A second referrer without artifactType: the referrers API must report
	// its config media type instead.
	const sigConfigType = "application/vnd.example.signature.config.v1+json"
	sigConfig := newDCBlob([]byte(`{"signer":"distcompat"}`), dcPushPut)
	sigPayload := newDCBlob([]byte("not really a signature"), dcPushPut)
	sig, err := newDCManifest("signature artifact", "", v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageManifest,
		Config:    dcDesc(sigConfig, sigConfigType),
		Layers:    dcDescs([]dcBlob{sigPayload}, "application/octet-stream"),
		Subject:   &v1.Descriptor{MediaType: fx.Subject.MediaType, Digest: fx.Subject.Digest, Size: int64(len(fx.Subject.Data))},
	})
	if err != nil {
		t.Fatal(err)
	}
	sigRepo := dcRepo{Name: repo.Name, Blobs: []dcBlob{sigConfig, sigPayload}}
	if err := sigRepo.push(ctx, berth, t.Logf); err != nil {
		t.Fatalf("berth: push signature blobs: %v", err)
	}
	reply, err := berth.PutManifest(ctx, repo.Name, sig.Digest.String(), sig.MediaType, sig.Data)
	if err != nil {
		t.Fatalf("berth: push %s: %v", sig.Name, err)
	}
	if got := reply.Header.Get("OCI-Subject"); got != fx.Subject.Digest.String() {
		t.Errorf("PUT %s with a subject: OCI-Subject %q, want %q", reply.URL, got, fx.Subject.Digest)
	}

	want := map[digest.Digest]v1.Descriptor{
		fx.Referrer.Digest: {
			MediaType: v1.MediaTypeImageManifest, Digest: fx.Referrer.Digest, Size: int64(len(fx.Referrer.Data)),
			ArtifactType: dcSBOMType, Annotations: map[string]string{"org.example.kind": "sbom"},
		},
		sig.Digest: {
			MediaType: v1.MediaTypeImageManifest, Digest: sig.Digest, Size: int64(len(sig.Data)),
			ArtifactType: sigConfigType,
		},
	}
	dcCheckReferrers(t, "berth", berth, repo.Name, fx.Subject.Digest, want)

	stop()
	berth2, _ := dcStartBerth(t, root)
	dcCheckReferrers(t, "berth after restart", berth2, repo.Name, fx.Subject.Digest, want)

	var berthFiles int
	_ = filepath.WalkDir(filepath.Join(root, "berth"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			berthFiles++
		}
		return nil
	})
	t.Logf("%d file(s) under <root>/berth", berthFiles)

	dist := dcStartDistribution(t, root)
	for _, m := range []dcManifest{fx.Referrer, sig} {
		r, err := dist.Manifest(ctx, http.MethodGet, repo.Name, m.Digest.String())
		if err == nil {
			err = r.expect(http.StatusOK)
		}
		if err != nil {
			t.Errorf("distribution: %s: %v", m.Name, err)
		} else if string(r.Body) != string(m.Data) {
			t.Errorf("distribution: GET %s: body differs from the pushed %s", r.URL, m.Name)
		}
	}
}

// dcCheckReferrers lists the referrers of subject, unfiltered and filtered by
// the SBOM type, and of a digest nothing refers to.
func dcCheckReferrers(t *testing.T, label string, c *dcClient, repo string, subject digest.Digest, want map[digest.Digest]v1.Descriptor) {
	t.Helper()
	ctx := t.Context()
	idx, _, err := c.Referrers(ctx, repo, subject, "")
	if err != nil {
		t.Errorf("%s: %v", label, err)
		return
	}
	got := make(map[digest.Digest]v1.Descriptor)
	for _, d := range idx.Manifests {
		got[d.Digest] = d
	}
	for dg, w := range want {
		g, ok := got[dg]
		switch {
		case !ok:
			t.Errorf("%s: referrers of %s lack %s (got %v)", label, subject, dg, slices.Collect(maps.Keys(got)))
		case g.MediaType != w.MediaType || g.Size != w.Size || g.ArtifactType != w.ArtifactType || !maps.Equal(g.Annotations, w.Annotations):
			t.Errorf("%s: referrer %s:\n got %+v\nwant %+v", label, dg, g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d referrers of %s, want %d", label, len(got), subject, len(want))
	}

	idx, reply, err := c.Referrers(ctx, repo, subject, dcSBOMType)
	switch {
	case err != nil:
		t.Errorf("%s: %v", label, err)
	case len(idx.Manifests) != 1 || idx.Manifests[0].ArtifactType != dcSBOMType:
		t.Errorf("%s: GET %s: want only the %s referrer, got %+v", label, reply.URL, dcSBOMType, idx.Manifests)
	case reply.Header.Get("OCI-Filters-Applied") != "artifactType":
		t.Errorf("%s: GET %s: OCI-Filters-Applied %q, want \"artifactType\"", label, reply.URL, reply.Header.Get("OCI-Filters-Applied"))
	}

	idx, reply, err = c.Referrers(ctx, repo, digest.FromString("nothing refers to this"), "")
	if err != nil {
		t.Errorf("%s: referrers of an unknown digest: %v", label, err)
	} else if len(idx.Manifests) != 0 {
		t.Errorf("%s: GET %s: want an empty index, got %+v", label, reply.URL, idx.Manifests)
	}
}

func dcMustFixture(t *testing.T) dcFixture {
	t.Helper()
	fx, err := newDCFixture()
	if err != nil {
		t.Fatal(err)
	}
	return fx
}

func dcPushAll(t *testing.T, label string, c *dcClient, fx dcFixture) {
	t.Helper()
	for _, r := range fx.Repos {
		if err := r.push(t.Context(), c, func(f string, a ...any) { t.Logf(label+": "+f, a...) }); err != nil {
			t.Fatalf("%s: push %s: %v", label, r.Name, err)
		}
	}
}

// dcStartDistribution serves root with Distribution's own App, configured
// the way its binary is (see disttest).
func dcStartDistribution(t *testing.T, root string) *dcClient {
	t.Helper()
	srv := disttest.Start(t, disttest.Options{Root: root})
	c, err := newDCClient(srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(t.Context()); err != nil {
		t.Fatalf("distribution: %v", err)
	}
	return c
}

// dcStartBerth serves root with Berth's filesystem driver; stop ends it early
// (it also ends with the test).
func dcStartBerth(t *testing.T, root string) (c *dcClient, stop func()) {
	t.Helper()
	drv, err := filesystem.New(root)
	if err != nil {
		t.Fatalf("berth: filesystem.New: %v", err)
	}
	app, err := registry.New(t.Context(), drv, registry.WithDelete(true))
	if err != nil {
		t.Fatalf("berth: registry.New: %v", err)
	}
	srv := httptest.NewServer(app)
	stop = sync.OnceFunc(func() {
		srv.Close()
		if cl, ok := any(app).(io.Closer); ok {
			_ = cl.Close()
		}
	})
	t.Cleanup(stop)
	if c, err = newDCClient(srv.URL, srv.Client()); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(t.Context()); err != nil {
		t.Fatalf("berth: %v", err)
	}
	return c, stop
}
