package registry_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// TestS3SmallPushNoProbes holds that pushing a small image to S3 (HEAD,
// POST and PUT of two blobs, then the manifest, as in regbench's storm)
// never lists a prefix to learn whether a missing record, marker or blob
// is a directory: those are files, stat with one HEAD
// (storagedriver.StatFile).
func TestS3SmallPushNoProbes(t *testing.T) {
	app, log := newS3LoggedApp(t, 0, func(r *http.Request) string {
		return r.Method + " " + r.URL.Path + "?" + r.URL.RawQuery
	})
	total := 0
	for i := range 2 {
		repo := "/v2/storm" + itoa(i)
		layer := []byte("layer " + itoa(i))
		cfg := []byte(`{"architecture":"amd64","os":"linux","n":` + itoa(i) + `}`)
		log.take()
		for _, b := range [][]byte{layer, cfg} {
			d := digest.FromBytes(b)
			if rec := do(t, app, "HEAD", repo+"/blobs/"+d.String(), nil); rec.Code != http.StatusNotFound {
				t.Fatalf("HEAD: %d", rec.Code)
			}
			rec := do(t, app, "POST", repo+"/blobs/uploads/", nil)
			if rec = do(t, app, "PUT", withDigest(rec.Header().Get("Location"), d), b); rec.Code != http.StatusCreated {
				t.Fatalf("PUT blob: %d %s", rec.Code, rec.Body)
			}
		}
		m := imageManifest(digest.FromBytes(cfg), len(cfg), map[digest.Digest]int{digest.FromBytes(layer): len(layer)}, "")
		if rec := do(t, app, "PUT", repo+"/manifests/latest", m, "Content-Type", "application/vnd.oci.image.manifest.v1+json"); rec.Code != http.StatusCreated {
			t.Fatalf("PUT manifest: %d %s", rec.Code, rec.Body)
		}
		reqs := log.take()
		total += len(reqs)
		for _, r := range reqs {
			if strings.Contains(r, "list-type=2") && strings.Contains(r, "max-keys=1&") {
				t.Errorf("image %d: %s: a directory probe", i, r)
			}
		}
	}
	t.Logf("%d S3 requests per image", total/2)
}
