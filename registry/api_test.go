package registry_test

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// TestChunkedUploadAcrossNodes proves upload state lives in storage: two
// Apps over one driver (two stateless nodes) share a chunked upload, and an
// out-of-order chunk is refused without harm.
func TestChunkedUploadAcrossNodes(t *testing.T) {
	a, drv := newApp(t)
	b, err := registry.New(context.Background(), drv)
	if err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("0123456789"), 10000)
	d := digest.FromBytes(content)

	rec := do(t, a, "POST", "/v2/x/blobs/uploads/", nil)
	loc := rec.Header().Get("Location")
	if rec.Code != 202 || loc == "" || rec.Header().Get("Range") != "0-0" {
		t.Fatalf("start: %d %q %q", rec.Code, loc, rec.Header().Get("Range"))
	}
	nodes := []http.Handler{a, b, a}
	for i, off := 0, 0; off < len(content); i++ {
		end := min(off+40000, len(content))
		if i == 1 { // out of order first: refused, upload unchanged
			bad := do(t, nodes[i%3], "PATCH", loc, content[end:end+10], "Content-Range", fmt.Sprintf("%d-%d", end, end+9))
			if bad.Code != 416 {
				t.Fatalf("out-of-order chunk: %d", bad.Code)
			}
			st := do(t, b, "GET", loc, nil)
			if st.Code != 204 || st.Header().Get("Range") != fmt.Sprintf("0-%d", off-1) {
				t.Fatalf("status after bad chunk: %d %q", st.Code, st.Header().Get("Range"))
			}
		}
		rec := do(t, nodes[i%3], "PATCH", loc, content[off:end], "Content-Range", fmt.Sprintf("%d-%d", off, end-1))
		if rec.Code != 202 || rec.Header().Get("Range") != fmt.Sprintf("0-%d", end-1) {
			t.Fatalf("chunk %d: %d %q %s", i, rec.Code, rec.Header().Get("Range"), rec.Body)
		}
		loc, off = rec.Header().Get("Location"), end
	}
	rec = do(t, b, "PUT", loc+"?digest="+d.String(), nil)
	if rec.Code != 201 || rec.Header().Get("Docker-Content-Digest") != d.String() {
		t.Fatalf("commit: %d %s", rec.Code, rec.Body)
	}
	got := do(t, a, "GET", rec.Header().Get("Location"), nil)
	if got.Code != 200 || !bytes.Equal(got.Body.Bytes(), content) {
		t.Fatalf("pull: %d, %d bytes", got.Code, got.Body.Len())
	}
	if rest := do(t, a, "GET", loc, nil); rest.Code != 404 {
		t.Fatalf("upload still there after commit: %d", rest.Code)
	}
}

// TestSHA512Upload pushes with a sha512 digest, streamed then chunked with
// the last chunk on PUT, and pulls by that digest.
func TestSHA512Upload(t *testing.T) {
	app, _ := newApp(t)
	content := []byte(strings.Repeat("sha512 content ", 100))
	sum := sha512.Sum512(content)
	d := digest.NewDigestFromBytes(digest.SHA512, sum[:])
	loc := do(t, app, "POST", "/v2/x/blobs/uploads/", nil).Header().Get("Location")
	do(t, app, "PATCH", loc, content[:700], "Content-Range", "0-699")
	rec := do(t, app, "PUT", loc+"?digest="+d.String(), content[700:], "Content-Range", fmt.Sprintf("700-%d", len(content)-1))
	if rec.Code != 201 {
		t.Fatalf("commit: %d %s", rec.Code, rec.Body)
	}
	got := do(t, app, "GET", "/v2/x/blobs/"+d.String(), nil)
	if !bytes.Equal(got.Body.Bytes(), content) || got.Header().Get("Docker-Content-Digest") != d.String() {
		t.Fatalf("pull: %d", got.Code)
	}
}

// TestDigestMismatchLeavesNothing: a commit whose bytes do not hash to the
// digest is refused and discards the upload.
func TestDigestMismatchLeavesNothing(t *testing.T) {
	app, drv := newApp(t)
	before := snapshot(t, drv)
	loc := do(t, app, "POST", "/v2/x/blobs/uploads/", nil).Header().Get("Location")
	do(t, app, "PATCH", loc, []byte("some bytes"))
	rec := do(t, app, "PUT", loc+"?digest="+digest.FromString("other").String(), nil)
	if rec.Code != 400 || errorCode(t, rec) != "DIGEST_INVALID" {
		t.Fatalf("commit: %d %s", rec.Code, rec.Body)
	}
	after := snapshot(t, drv)
	for p := range after {
		if _, ok := before[p]; !ok && !strings.HasSuffix(p, "/startedat") {
			t.Errorf("left behind: %s", p)
		}
	}
	if rec := do(t, app, "GET", loc, nil); rec.Code != 404 {
		t.Errorf("upload survives a failed commit: %d", rec.Code)
	}
}

func TestMount(t *testing.T) {
	app, _ := newApp(t)
	d := pushBlob(t, app, "src", []byte("shared layer"))
	for _, c := range []struct {
		name, query string
		status      int
	}{
		{"from a repository that has it", "?mount=" + d.String() + "&from=src", 201},
		{"anonymous", "?mount=" + d.String(), 201},
		{"from a repository that lacks it", "?mount=" + d.String() + "&from=empty", 202},
		{"unknown blob", "?mount=" + digest.FromString("none").String() + "&from=src", 202},
	} {
		t.Run(c.name, func(t *testing.T) {
			repo := "dst/" + strings.ReplaceAll(c.name, " ", "-")
			rec := do(t, app, "POST", "/v2/"+repo+"/blobs/uploads/"+c.query, nil)
			if rec.Code != c.status {
				t.Fatalf("status %d, want %d", rec.Code, c.status)
			}
			head := do(t, app, "HEAD", "/v2/"+repo+"/blobs/"+d.String(), nil)
			if (head.Code == 200) != (c.status == 201) {
				t.Fatalf("HEAD after mount: %d", head.Code)
			}
		})
	}
}

func TestManifestRoundTripAndDelete(t *testing.T) {
	app, _ := newApp(t)
	d, m := pushImage(t, app, "team/app", "v1", "")
	for _, ref := range []string{"v1", d.String()} {
		rec := do(t, app, "GET", "/v2/team/app/manifests/"+ref, nil)
		if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), m) ||
			rec.Header().Get("Content-Type") != v1.MediaTypeImageManifest ||
			rec.Header().Get("Docker-Content-Digest") != d.String() {
			t.Fatalf("GET %s: %d %v", ref, rec.Code, rec.Header())
		}
		head := do(t, app, "HEAD", "/v2/team/app/manifests/"+ref, nil)
		if head.Code != 200 || head.Body.Len() != 0 || head.Header().Get("Content-Length") != fmt.Sprint(len(m)) {
			t.Fatalf("HEAD %s: %d", ref, head.Code)
		}
	}
	do(t, app, "PUT", "/v2/team/app/manifests/v2", m, "Content-Type", v1.MediaTypeImageManifest)
	if rec := do(t, app, "DELETE", "/v2/team/app/manifests/v2", nil); rec.Code != 202 {
		t.Fatalf("delete tag: %d", rec.Code)
	}
	if rec := do(t, app, "GET", "/v2/team/app/manifests/v1", nil); rec.Code != 200 {
		t.Fatalf("deleting tag v2 removed v1: %d", rec.Code)
	}
	if rec := do(t, app, "DELETE", "/v2/team/app/manifests/"+d.String(), nil); rec.Code != 202 {
		t.Fatalf("delete manifest: %d", rec.Code)
	}
	for _, ref := range []string{"v1", d.String()} {
		if rec := do(t, app, "GET", "/v2/team/app/manifests/"+ref, nil); rec.Code != 404 {
			t.Fatalf("GET %s after delete: %d", ref, rec.Code)
		}
	}
}

func TestTagAndCatalogPagination(t *testing.T) {
	app, _ := newApp(t)
	_, m := pushImage(t, app, "a", "t0", "")
	tags := []string{"t0", "t1", "t2", "t3", "t4"}
	for _, tag := range tags[1:] {
		do(t, app, "PUT", "/v2/a/manifests/"+tag, m, "Content-Type", v1.MediaTypeImageManifest)
	}
	var got []string
	next := "/v2/a/tags/list?n=2"
	for next != "" {
		rec := do(t, app, "GET", next, nil)
		var page struct{ Tags []string }
		if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
			t.Fatal(err)
		}
		got = append(got, page.Tags...)
		next = strings.TrimSuffix(strings.TrimPrefix(strings.Split(rec.Header().Get("Link"), ";")[0], "<"), ">")
	}
	if fmt.Sprint(got) != fmt.Sprint(tags) {
		t.Fatalf("paged tags %v", got)
	}
	// Nested names sort byte-wise: "a" < "a-b" < "a/b" < "a0".
	for _, r := range []string{"a/b", "a-b", "a0"} {
		pushImage(t, app, r, "v", "")
	}
	got = nil
	next = "/v2/_catalog?n=1"
	for next != "" {
		rec := do(t, app, "GET", next, nil)
		var page struct{ Repositories []string }
		if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
			t.Fatal(err)
		}
		got = append(got, page.Repositories...)
		next = strings.TrimSuffix(strings.TrimPrefix(strings.Split(rec.Header().Get("Link"), ";")[0], "<"), ">")
	}
	if fmt.Sprint(got) != "[a a-b a/b a0]" {
		t.Fatalf("paged catalog %v", got)
	}
}

func TestReferrers(t *testing.T) {
	app, _ := newApp(t)
	subject, m := pushImage(t, app, "r", "v1", "")
	extra := `,"artifactType":"application/vnd.example.sbom","subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` +
		subject.String() + `","size":` + fmt.Sprint(len(m)) + `}`
	cfg := pushBlob(t, app, "r", []byte("{}"))
	art := imageManifest(cfg, 2, nil, extra)
	rec := do(t, app, "PUT", "/v2/r/manifests/"+digest.FromBytes(art).String(), art, "Content-Type", v1.MediaTypeImageManifest)
	if rec.Code != 201 || rec.Header().Get("OCI-Subject") != subject.String() {
		t.Fatalf("put referrer: %d %v", rec.Code, rec.Header())
	}
	for _, c := range []struct {
		query string
		n     int
	}{{"", 1}, {"?artifactType=application/vnd.example.sbom", 1}, {"?artifactType=other", 0}} {
		rec := do(t, app, "GET", "/v2/r/referrers/"+subject.String()+c.query, nil)
		var idx v1.Index
		if err := json.Unmarshal(rec.Body.Bytes(), &idx); err != nil {
			t.Fatal(err)
		}
		if rec.Code != 200 || len(idx.Manifests) != c.n || rec.Header().Get("Content-Type") != v1.MediaTypeImageIndex {
			t.Fatalf("referrers%s: %d %s", c.query, rec.Code, rec.Body)
		}
		if c.n == 1 && (idx.Manifests[0].ArtifactType != "application/vnd.example.sbom" || idx.Manifests[0].Digest != digest.FromBytes(art)) {
			t.Fatalf("descriptor %+v", idx.Manifests[0])
		}
		if (c.query != "") != (rec.Header().Get("OCI-Filters-Applied") == "artifactType") {
			t.Fatalf("OCI-Filters-Applied %q", rec.Header().Get("OCI-Filters-Applied"))
		}
	}
	do(t, app, "DELETE", "/v2/r/manifests/"+digest.FromBytes(art).String(), nil)
	rec = do(t, app, "GET", "/v2/r/referrers/"+subject.String(), nil)
	if strings.Contains(rec.Body.String(), digest.FromBytes(art).String()) {
		t.Fatalf("deleted referrer still listed: %s", rec.Body)
	}
}

func TestIndexValidationModes(t *testing.T) {
	missing := digest.FromString("absent child")
	index := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` +
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + missing.String() + `","size":9,"platform":{"os":"linux","architecture":"arm64"}}]}`)
	for _, c := range []struct {
		mode      string
		platforms []string
		status    int
	}{{"all", nil, 400}, {"none", nil, 201}, {"list", []string{"linux/amd64"}, 201}, {"list", []string{"linux/arm64"}, 400}} {
		app, _ := newApp(t, registry.WithIndexPlatforms(c.mode, c.platforms))
		rec := do(t, app, "PUT", "/v2/i/manifests/multi", index, "Content-Type", v1.MediaTypeImageIndex)
		if rec.Code != c.status {
			t.Errorf("mode %s %v: %d, want %d", c.mode, c.platforms, rec.Code, c.status)
		}
	}
}

func TestReadOnlyAndDeleteDisabled(t *testing.T) {
	app, drv := newApp(t)
	d, _ := pushImage(t, app, "ro", "v1", "")
	ro, _ := registry.New(context.Background(), drv, registry.WithReadOnly(true))
	nodel, _ := registry.New(context.Background(), drv)
	for _, c := range []struct {
		h              http.Handler
		method, target string
	}{
		{ro, "POST", "/v2/ro/blobs/uploads/"},
		{ro, "PUT", "/v2/ro/manifests/v2"},
		{ro, "DELETE", "/v2/ro/manifests/" + d.String()},
		{nodel, "DELETE", "/v2/ro/manifests/" + d.String()},
		{nodel, "DELETE", "/v2/ro/blobs/" + d.String()},
	} {
		rec := do(t, c.h, c.method, c.target, []byte("{}"))
		if rec.Code != 405 || errorCode(t, rec) != "UNSUPPORTED" {
			t.Errorf("%s %s: %d %s", c.method, c.target, rec.Code, rec.Body)
		}
	}
	if rec := do(t, ro, "GET", "/v2/ro/manifests/v1", nil); rec.Code != 200 {
		t.Errorf("read-only refuses reads: %d", rec.Code)
	}
}

func TestSparseImage(t *testing.T) {
	cfg := []byte("{}")
	missing := digest.FromString("layer never pushed")
	for _, required := range []bool{true, false} {
		app, _ := newApp(t, registry.WithLayerValidation(required))
		cd := pushBlob(t, app, "s", cfg)
		m := imageManifest(cd, 2, map[digest.Digest]int{missing: 18}, "")
		rec := do(t, app, "PUT", "/v2/s/manifests/sparse", m, "Content-Type", v1.MediaTypeImageManifest)
		if want := map[bool]int{true: 400, false: 201}[required]; rec.Code != want {
			t.Errorf("layers required=%v: %d, want %d", required, rec.Code, want)
		}
		// The config is required either way.
		m = imageManifest(digest.FromString("no config"), 2, nil, "")
		if rec := do(t, app, "PUT", "/v2/s/manifests/noconfig", m, "Content-Type", v1.MediaTypeImageManifest); rec.Code != 400 {
			t.Errorf("layers required=%v: manifest without its config stored: %d", required, rec.Code)
		}
	}
}

// redirectingDriver is the in-memory driver with a Redirector, to prove the
// registry redirects only blobs the repository has.
type redirectingDriver struct{ *inmemory.Driver }

func (redirectingDriver) RedirectURL(_ context.Context, method, p string) (string, error) {
	return "https://storage.example/" + p + "?m=" + method, nil
}

func TestBlobRedirect(t *testing.T) {
	drv := redirectingDriver{inmemory.New()}
	app, err := registry.New(context.Background(), drv)
	if err != nil {
		t.Fatal(err)
	}
	d := pushBlob(t, app, "r", []byte("redirected blob"))
	rec := do(t, app, "GET", "/v2/r/blobs/"+d.String(), nil)
	if rec.Code != http.StatusTemporaryRedirect || !strings.HasPrefix(rec.Header().Get("Location"), "https://storage.example/") {
		t.Fatalf("GET: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	if rec := do(t, app, "GET", "/v2/other/blobs/"+d.String(), nil); rec.Code != http.StatusNotFound {
		t.Fatalf("blob of another repository redirected: %d %q", rec.Code, rec.Header().Get("Location"))
	}
}
