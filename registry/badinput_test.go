package registry_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// TestBadInput sends malformed requests and checks each gets its spec error
// code and status, and that none of them stores anything: the catalog and
// the set of stored paths are the same before and after.
func TestBadInput(t *testing.T) {
	app, drv := newApp(t)
	good, _ := pushImage(t, app, "ok/repo", "v1", "")
	blob := pushBlob(t, app, "ok/repo", []byte("a blob"))
	start := do(t, app, "POST", "/v2/ok/repo/blobs/uploads/", nil)
	if start.Code != http.StatusAccepted {
		t.Fatalf("start upload: %d", start.Code)
	}
	upload := start.Header().Get("Location")
	unknownUpload := "/v2/ok/repo/blobs/uploads/00000000-0000-0000-0000-000000000000"
	zero := digest.FromString("never pushed")
	big := strings.Repeat(" ", 4<<20+1)
	manifestCT := []string{"Content-Type", "application/vnd.oci.image.manifest.v1+json"}

	before := snapshot(t, drv)
	cases := []struct {
		name, method, path string
		body               string
		hdr                []string
		status             int
		code               string
	}{
		{"name with uppercase", "GET", "/v2/Bad/tags/list", "", nil, 400, "NAME_INVALID"},
		{"name with dot-dot", "GET", "/v2/a/../b/tags/list", "", nil, 400, "NAME_INVALID"},
		{"name with empty component", "GET", "/v2/a//b/tags/list", "", nil, 400, "NAME_INVALID"},
		{"name starting with separator", "GET", "/v2/-a/manifests/x", "", nil, 400, "NAME_INVALID"},
		{"name with underscore component", "POST", "/v2/a/_layers/blobs/uploads/", "", nil, 400, "NAME_INVALID"},
		{"name too long", "GET", "/v2/" + strings.Repeat("a", 256) + "/tags/list", "", nil, 400, "NAME_INVALID"},
		{"unknown repository tags", "GET", "/v2/no/such/tags/list", "", nil, 404, "NAME_UNKNOWN"},
		{"blob digest malformed", "GET", "/v2/ok/repo/blobs/sha256:xyz", "", nil, 400, "DIGEST_INVALID"},
		{"blob digest unknown algorithm", "GET", "/v2/ok/repo/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", "", nil, 400, "DIGEST_INVALID"},
		{"blob digest upper-case hex", "GET", "/v2/ok/repo/blobs/" + strings.ToUpper(string(blob)), "", nil, 400, "DIGEST_INVALID"},
		{"blob unknown", "GET", "/v2/ok/repo/blobs/" + zero.String(), "", nil, 404, "BLOB_UNKNOWN"},
		{"blob of another repository", "GET", "/v2/other/blobs/" + blob.String(), "", nil, 404, "BLOB_UNKNOWN"},
		{"blob range past the end", "GET", "/v2/ok/repo/blobs/" + blob.String(), "", []string{"Range", "bytes=100-200"}, 416, ""},
		{"monolithic digest mismatch", "POST", "/v2/ok/repo/blobs/uploads/?digest=" + zero.String(), "other bytes", nil, 400, "DIGEST_INVALID"},
		{"monolithic digest malformed", "POST", "/v2/ok/repo/blobs/uploads/?digest=sha256:zz", "x", nil, 400, "DIGEST_INVALID"},
		{"mount digest malformed", "POST", "/v2/ok/repo/blobs/uploads/?mount=nope&from=ok/repo", "", nil, 400, "DIGEST_INVALID"},
		{"upload id unknown", "PATCH", unknownUpload, "x", nil, 404, "BLOB_UPLOAD_UNKNOWN"},
		{"upload id not a uuid", "GET", "/v2/ok/repo/blobs/uploads/not-a-uuid", "", nil, 404, "BLOB_UPLOAD_UNKNOWN"},
		{"upload id escaping", "GET", "/v2/ok/repo/blobs/uploads/..%2f..%2fx", "", nil, 404, "NOT_FOUND"},
		{"upload status unknown", "GET", unknownUpload, "", nil, 404, "BLOB_UPLOAD_UNKNOWN"},
		{"upload cancel unknown", "DELETE", unknownUpload, "", nil, 404, "BLOB_UPLOAD_UNKNOWN"},
		{"chunk not at offset", "PATCH", upload, "abc", []string{"Content-Range", "5-7"}, 416, "BLOB_UPLOAD_INVALID"},
		{"chunk range malformed", "PATCH", upload, "abc", []string{"Content-Range", "a-b"}, 416, "BLOB_UPLOAD_INVALID"},
		{"chunk range backwards", "PATCH", upload, "abc", []string{"Content-Range", "2-0"}, 416, "BLOB_UPLOAD_INVALID"},
		{"chunk range longer than body", "PATCH", upload, "abc", []string{"Content-Range", "0-9"}, 416, "BLOB_UPLOAD_INVALID"},
		{"put without digest", "PUT", upload, "", nil, 400, "DIGEST_INVALID"},
		{"manifest unknown tag", "GET", "/v2/ok/repo/manifests/nope", "", nil, 404, "MANIFEST_UNKNOWN"},
		{"manifest unknown digest", "GET", "/v2/ok/repo/manifests/" + zero.String(), "", nil, 404, "MANIFEST_UNKNOWN"},
		{"manifest bad tag", "GET", "/v2/ok/repo/manifests/-bad", "", nil, 400, "TAG_INVALID"},
		{"manifest tag too long", "PUT", "/v2/ok/repo/manifests/" + strings.Repeat("t", 129), "{}", manifestCT, 400, "TAG_INVALID"},
		{"manifest bad digest", "GET", "/v2/ok/repo/manifests/sha256:abc", "", nil, 400, "DIGEST_INVALID"},
		{"manifest invalid JSON", "PUT", "/v2/ok/repo/manifests/t1", "{not json", manifestCT, 400, "MANIFEST_INVALID"},
		{"manifest JSON array", "PUT", "/v2/ok/repo/manifests/t1", "[]", manifestCT, 400, "MANIFEST_INVALID"},
		{"manifest trailing data", "PUT", "/v2/ok/repo/manifests/t1", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]} {}`, manifestCT, 400, "MANIFEST_INVALID"},
		{"manifest schema 1", "PUT", "/v2/ok/repo/manifests/t1", `{"schemaVersion":1,"name":"ok/repo","tag":"t1","fsLayers":[]}`, nil, 400, "MANIFEST_INVALID"},
		{"manifest unknown media type", "PUT", "/v2/ok/repo/manifests/t1", `{"schemaVersion":2,"mediaType":"text/plain","config":{}}`, nil, 400, "MANIFEST_INVALID"},
		{"manifest type mismatch", "PUT", "/v2/ok/repo/manifests/t1", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`, manifestCT, 400, "MANIFEST_INVALID"},
		{"manifest without config", "PUT", "/v2/ok/repo/manifests/t1", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}`, manifestCT, 400, "MANIFEST_INVALID"},
		{"manifest descriptor bad digest", "PUT", "/v2/ok/repo/manifests/t1", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"sha256:1","size":1},"layers":[]}`, manifestCT, 400, "MANIFEST_INVALID"},
		{"manifest descriptor negative size", "PUT", "/v2/ok/repo/manifests/t1", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"` + blob.String() + `","size":-1},"layers":[]}`, manifestCT, 400, "MANIFEST_INVALID"},
		{"manifest blob unknown", "PUT", "/v2/ok/repo/manifests/t1", string(imageManifest(zero, 1, nil, "")), manifestCT, 400, "MANIFEST_BLOB_UNKNOWN"},
		{"manifest layer from another repository", "PUT", "/v2/other/manifests/t1", string(imageManifest(blob, 6, nil, "")), manifestCT, 400, "MANIFEST_BLOB_UNKNOWN"},
		{"index child unknown", "PUT", "/v2/ok/repo/manifests/t1", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + zero.String() + `","size":2}]}`, nil, 400, "MANIFEST_BLOB_UNKNOWN"},
		{"manifest digest mismatch", "PUT", "/v2/ok/repo/manifests/" + zero.String(), string(imageManifest(blob, 6, nil, "")), manifestCT, 400, "DIGEST_INVALID"},
		{"manifest too large", "PUT", "/v2/ok/repo/manifests/t1", big, manifestCT, 413, "SIZE_INVALID"},
		{"delete unknown manifest", "DELETE", "/v2/ok/repo/manifests/" + zero.String(), "", nil, 404, "MANIFEST_UNKNOWN"},
		{"delete unknown tag", "DELETE", "/v2/ok/repo/manifests/nope", "", nil, 404, "MANIFEST_UNKNOWN"},
		{"delete unknown blob", "DELETE", "/v2/ok/repo/blobs/" + zero.String(), "", nil, 404, "BLOB_UNKNOWN"},
		{"tags n negative", "GET", "/v2/ok/repo/tags/list?n=-1", "", nil, 400, "PAGINATION_NUMBER_INVALID"},
		{"tags n not a number", "GET", "/v2/ok/repo/tags/list?n=x", "", nil, 400, "PAGINATION_NUMBER_INVALID"},
		{"catalog n not a number", "GET", "/v2/_catalog?n=1e3", "", nil, 400, "PAGINATION_NUMBER_INVALID"},
		{"referrers bad digest", "GET", "/v2/ok/repo/referrers/sha256:nope", "", nil, 400, "DIGEST_INVALID"},
		{"method not allowed", "POST", "/v2/ok/repo/manifests/v1", "", nil, 405, "UNSUPPORTED"},
		{"unknown endpoint", "GET", "/v2/ok/repo/nothing", "", nil, 404, "NOT_FOUND"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b []byte
			if c.body != "" {
				b = []byte(c.body)
			}
			rec := do(t, app, c.method, c.path, b, c.hdr...)
			if rec.Code != c.status {
				t.Fatalf("status %d, want %d; body %s", rec.Code, c.status, rec.Body)
			}
			if c.code != "" && errorCode(t, rec) != c.code {
				t.Fatalf("code %q, want %q; body %s", errorCode(t, rec), c.code, rec.Body)
			}
		})
	}
	after := snapshot(t, drv)
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("bad input stored %s", p)
		}
	}
	// The good image is still whole.
	if rec := do(t, app, "GET", "/v2/ok/repo/manifests/"+good.String(), nil); rec.Code != 200 {
		t.Errorf("good manifest gone: %d", rec.Code)
	}
}
