package registry_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// TestBadInput sends malformed requests to every endpoint, in its path,
// parameters, headers and body, and checks each gets its spec error code and
// status (never a 5xx), and that none of them changes storage: the stored
// paths and their bytes are the same before and after. A case with the
// header Transfer-Encoding: chunked sends its body without a length.
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
	indexCT := []string{"Content-Type", "application/vnd.oci.image.index.v1+json"}
	goodManifest := string(imageManifest(blob, 6, nil, ""))
	sha256Hex := strings.TrimPrefix(zero.String(), "sha256:")
	putZero := upload + "?digest=" + zero.String()
	// A manifest whose config is the blob, with one field replaced.
	manifestWith := func(field, value string) string {
		return `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` +
			blob.String() + `","size":6},"layers":[],` + `"` + field + `":` + value + `}`
	}

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

		// Names, on every endpoint that takes one.
		{"name ending with separator", "GET", "/v2/a-/tags/list", "", nil, 400, "NAME_INVALID"},
		{"name with three underscores", "GET", "/v2/a___b/tags/list", "", nil, 400, "NAME_INVALID"},
		{"name with dot component", "GET", "/v2/a/./b/tags/list", "", nil, 400, "NAME_INVALID"},
		{"name with space", "GET", "/v2/a%20b/tags/list", "", nil, 400, "NAME_INVALID"},
		{"name with non-ASCII letter", "GET", "/v2/%C3%A9/tags/list", "", nil, 400, "NAME_INVALID"},
		{"name invalid on manifest GET", "GET", "/v2/A/manifests/v1", "", nil, 400, "NAME_INVALID"},
		{"name invalid on manifest PUT", "PUT", "/v2/A/manifests/v1", goodManifest, manifestCT, 400, "NAME_INVALID"},
		{"name invalid on blob GET", "GET", "/v2/A/blobs/" + blob.String(), "", nil, 400, "NAME_INVALID"},
		{"name invalid on blob DELETE", "DELETE", "/v2/A/blobs/" + blob.String(), "", nil, 400, "NAME_INVALID"},
		{"name invalid on upload status", "GET", "/v2/A/blobs/uploads/00000000-0000-0000-0000-000000000000", "", nil, 400, "NAME_INVALID"},
		{"name invalid on upload PUT", "PUT", "/v2/A/blobs/uploads/00000000-0000-0000-0000-000000000000?digest=" + zero.String(), "", nil, 400, "NAME_INVALID"},
		{"name invalid on referrers", "GET", "/v2/A/referrers/" + blob.String(), "", nil, 400, "NAME_INVALID"},
		{"name too long on upload start", "POST", "/v2/" + strings.Repeat("a/", 128) + "b/blobs/uploads/", "", nil, 400, "NAME_INVALID"},

		// Digests: algorithm, length, case, in every place one is taken.
		{"blob digest hex too short", "GET", "/v2/ok/repo/blobs/sha256:" + sha256Hex[:63], "", nil, 400, "DIGEST_INVALID"},
		{"blob digest hex too long", "GET", "/v2/ok/repo/blobs/sha256:" + sha256Hex + "0", "", nil, 400, "DIGEST_INVALID"},
		{"blob digest without algorithm", "GET", "/v2/ok/repo/blobs/" + sha256Hex, "", nil, 400, "DIGEST_INVALID"},
		{"blob digest empty hex", "GET", "/v2/ok/repo/blobs/sha256:", "", nil, 400, "DIGEST_INVALID"},
		{"blob digest upper-case algorithm", "GET", "/v2/ok/repo/blobs/SHA256:" + sha256Hex, "", nil, 400, "DIGEST_INVALID"},
		{"blob digest sha512 of sha256 length", "GET", "/v2/ok/repo/blobs/sha512:" + sha256Hex, "", nil, 400, "DIGEST_INVALID"},
		{"blob HEAD unknown", "HEAD", "/v2/ok/repo/blobs/" + zero.String(), "", nil, 404, ""},
		{"blob DELETE bad digest", "DELETE", "/v2/ok/repo/blobs/sha256:abc", "", nil, 400, "DIGEST_INVALID"},
		{"monolithic digest upper-case hex", "POST", "/v2/ok/repo/blobs/uploads/?digest=sha256:" + strings.ToUpper(sha256Hex), "x", nil, 400, "DIGEST_INVALID"},
		{"monolithic digest unknown algorithm", "POST", "/v2/ok/repo/blobs/uploads/?digest=md5:d41d8cd98f00b204e9800998ecf8427e", "x", nil, 400, "DIGEST_INVALID"},
		{"mount digest upper-case hex", "POST", "/v2/ok/repo/blobs/uploads/?mount=" + strings.ToUpper(string(blob)) + "&from=ok/repo", "", nil, 400, "DIGEST_INVALID"},
		{"mount and monolithic digests malformed", "POST", "/v2/ok/repo/blobs/uploads/?mount=sha256:1&from=ok/repo&digest=sha256:2", "x", nil, 400, "DIGEST_INVALID"},
		{"put digest malformed", "PUT", upload + "?digest=sha256:zz", "", nil, 400, "DIGEST_INVALID"},
		{"put digest unknown algorithm", "PUT", upload + "?digest=md5:d41d8cd98f00b204e9800998ecf8427e", "", nil, 400, "DIGEST_INVALID"},
		{"put without digest, with a body", "PUT", upload, "abc", nil, 400, "DIGEST_INVALID"},
		{"referrers unknown algorithm", "GET", "/v2/ok/repo/referrers/md5:d41d8cd98f00b204e9800998ecf8427e", "", nil, 400, "DIGEST_INVALID"},
		{"referrers digest hex too short", "GET", "/v2/ok/repo/referrers/sha256:" + sha256Hex[:10], "", nil, 400, "DIGEST_INVALID"},

		// Upload ids.
		{"put on unknown upload", "PUT", unknownUpload + "?digest=" + zero.String(), "", nil, 404, "BLOB_UPLOAD_UNKNOWN"},
		{"put on upload id not a uuid", "PUT", "/v2/ok/repo/blobs/uploads/x?digest=" + zero.String(), "", nil, 404, "BLOB_UPLOAD_UNKNOWN"},
		{"patch on upload id in upper case", "PATCH", "/v2/ok/repo/blobs/uploads/" + strings.ToUpper(upload[len("/v2/ok/repo/blobs/uploads/"):]), "x", nil, 404, "BLOB_UPLOAD_UNKNOWN"},
		{"cancel upload id not a uuid", "DELETE", "/v2/ok/repo/blobs/uploads/nope", "", nil, 404, "BLOB_UPLOAD_UNKNOWN"},
		{"upload of another repository", "GET", "/v2/other/blobs/uploads/" + upload[len("/v2/ok/repo/blobs/uploads/"):], "", nil, 404, "BLOB_UPLOAD_UNKNOWN"},
		{"chunk on unknown upload with range", "PATCH", unknownUpload, "abc", []string{"Content-Range", "0-2"}, 404, "BLOB_UPLOAD_UNKNOWN"},

		// Content-Range of a chunk, every form that is not "<start>-<end>".
		{"range with leading plus", "PATCH", upload, "abc", []string{"Content-Range", "+0-2"}, 416, "BLOB_UPLOAD_INVALID"},
		{"range with negative start", "PATCH", upload, "abc", []string{"Content-Range", "-1-2"}, 416, "BLOB_UPLOAD_INVALID"},
		{"range with spaces", "PATCH", upload, "abc", []string{"Content-Range", "0 - 2"}, 416, "BLOB_UPLOAD_INVALID"},
		{"range without end", "PATCH", upload, "abc", []string{"Content-Range", "0-"}, 416, "BLOB_UPLOAD_INVALID"},
		{"range without start", "PATCH", upload, "abc", []string{"Content-Range", "-2"}, 416, "BLOB_UPLOAD_INVALID"},
		{"range of an unknown unit", "PATCH", upload, "abc", []string{"Content-Range", "items 0-2"}, 416, "BLOB_UPLOAD_INVALID"},
		{"range total malformed", "PATCH", upload, "abc", []string{"Content-Range", "bytes 0-2/x"}, 416, "BLOB_UPLOAD_INVALID"},
		{"range total before its end", "PATCH", upload, "abc", []string{"Content-Range", "bytes 0-2/2"}, 416, "BLOB_UPLOAD_INVALID"},
		{"range end past int64", "PATCH", upload, "abc", []string{"Content-Range", "0-9223372036854775808"}, 416, "BLOB_UPLOAD_INVALID"},
		{"range length past int64, chunked", "PATCH", upload, "abc", []string{"Content-Range", "0-9223372036854775807", "Transfer-Encoding", "chunked"}, 416, "BLOB_UPLOAD_INVALID"},
		{"range not at offset, chunked", "PATCH", upload, "abc", []string{"Content-Range", "3-5", "Transfer-Encoding", "chunked"}, 416, "BLOB_UPLOAD_INVALID"},
		{"range shorter than Content-Length", "PATCH", upload, "abc", []string{"Content-Range", "0-1"}, 416, "BLOB_UPLOAD_INVALID"},
		{"last chunk range malformed", "PUT", putZero, "abc", []string{"Content-Range", "a-b"}, 416, "BLOB_UPLOAD_INVALID"},
		{"last chunk not at offset", "PUT", putZero, "abc", []string{"Content-Range", "5-7"}, 416, "BLOB_UPLOAD_INVALID"},
		{"last chunk length past int64, chunked", "PUT", putZero, "abc", []string{"Content-Range", "0-9223372036854775807", "Transfer-Encoding", "chunked"}, 416, "BLOB_UPLOAD_INVALID"},

		// Pagination.
		{"tags n with plus sign", "GET", "/v2/ok/repo/tags/list?n=%2B1", "", nil, 400, "PAGINATION_NUMBER_INVALID"},
		{"tags n minus zero", "GET", "/v2/ok/repo/tags/list?n=-0", "", nil, 400, "PAGINATION_NUMBER_INVALID"},
		{"tags n with space", "GET", "/v2/ok/repo/tags/list?n=%201", "", nil, 400, "PAGINATION_NUMBER_INVALID"},
		{"tags n past int64", "GET", "/v2/ok/repo/tags/list?n=9223372036854775808", "", nil, 400, "PAGINATION_NUMBER_INVALID"},
		{"tags of unknown repository with paging", "GET", "/v2/no/such/tags/list?n=1&last=a", "", nil, 404, "NAME_UNKNOWN"},
		{"catalog n negative", "GET", "/v2/_catalog?n=-1", "", nil, 400, "PAGINATION_NUMBER_INVALID"},
		{"catalog n hexadecimal", "GET", "/v2/_catalog?n=0x10", "", nil, 400, "PAGINATION_NUMBER_INVALID"},
		{"catalog n past uint64", "GET", "/v2/_catalog?n=18446744073709551616", "", nil, 400, "PAGINATION_NUMBER_INVALID"},

		// Manifests: references, parameters, headers and bodies.
		{"manifest tag with plus", "GET", "/v2/ok/repo/manifests/a+b", "", nil, 400, "TAG_INVALID"},
		{"manifest HEAD unknown", "HEAD", "/v2/ok/repo/manifests/nope", "", nil, 404, ""},
		{"manifest digest reference empty hex", "PUT", "/v2/ok/repo/manifests/sha256:", goodManifest, manifestCT, 400, "DIGEST_INVALID"},
		{"manifest digest reference upper-case", "PUT", "/v2/ok/repo/manifests/sha256:" + strings.ToUpper(sha256Hex), goodManifest, manifestCT, 400, "DIGEST_INVALID"},
		{"manifest tag parameter invalid", "PUT", "/v2/ok/repo/manifests/t1?tag=-bad", goodManifest, manifestCT, 400, "TAG_INVALID"},
		{"manifest tag parameter too long", "PUT", "/v2/ok/repo/manifests/t1?tag=t2&tag=" + strings.Repeat("t", 129), goodManifest, manifestCT, 400, "TAG_INVALID"},
		{"manifest empty body", "PUT", "/v2/ok/repo/manifests/t1", "", manifestCT, 400, "MANIFEST_INVALID"},
		{"manifest declared as an index", "PUT", "/v2/ok/repo/manifests/t1", goodManifest, indexCT, 400, "MANIFEST_INVALID"},
		{"manifest schemaVersion 3", "PUT", "/v2/ok/repo/manifests/t1", strings.Replace(goodManifest, `"schemaVersion":2`, `"schemaVersion":3`, 1), manifestCT, 400, "MANIFEST_INVALID"},
		{"manifest schemaVersion a string", "PUT", "/v2/ok/repo/manifests/t1", strings.Replace(goodManifest, `"schemaVersion":2`, `"schemaVersion":"2"`, 1), manifestCT, 400, "MANIFEST_INVALID"},
		{"manifest layers an object", "PUT", "/v2/ok/repo/manifests/t2", strings.Replace(goodManifest, `"layers":[]`, `"layers":{}`, 1), manifestCT, 400, "MANIFEST_INVALID"},
		{"manifest layer digest upper-case", "PUT", "/v2/ok/repo/manifests/t1", strings.Replace(goodManifest, `"layers":[]`, `"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"`+strings.ToUpper(string(blob))+`","size":6}]`, 1), manifestCT, 400, "MANIFEST_INVALID"},
		{"manifest subject digest malformed", "PUT", "/v2/ok/repo/manifests/t1", manifestWith("subject", `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:1","size":1}`), manifestCT, 400, "MANIFEST_INVALID"},
		{"index child digest malformed", "PUT", "/v2/ok/repo/manifests/t1", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:1","size":2}]}`, indexCT, 400, "MANIFEST_INVALID"},
		{"manifest too large, chunked", "PUT", "/v2/ok/repo/manifests/t1", big, []string{"Content-Type", "application/vnd.oci.image.manifest.v1+json", "Transfer-Encoding", "chunked"}, 413, "SIZE_INVALID"},
		{"delete manifest bad digest", "DELETE", "/v2/ok/repo/manifests/sha256:abc", "", nil, 400, "DIGEST_INVALID"},
		{"delete manifest bad tag", "DELETE", "/v2/ok/repo/manifests/-x", "", nil, 400, "TAG_INVALID"},
		{"delete manifest of unknown repository", "DELETE", "/v2/no/such/manifests/" + good.String(), "", nil, 404, "MANIFEST_UNKNOWN"},
		{"delete blob of unknown repository", "DELETE", "/v2/no/such/blobs/" + blob.String(), "", nil, 404, "BLOB_UNKNOWN"},

		// Methods and endpoints.
		{"PATCH on a manifest", "PATCH", "/v2/ok/repo/manifests/v1", "x", nil, 405, "UNSUPPORTED"},
		{"PUT on the catalog", "PUT", "/v2/_catalog", "", nil, 405, "UNSUPPORTED"},
		{"DELETE on tags", "DELETE", "/v2/ok/repo/tags/list", "", nil, 405, "UNSUPPORTED"},
		{"POST on a blob", "POST", "/v2/ok/repo/blobs/" + blob.String(), "", nil, 405, "UNSUPPORTED"},
		{"API version 3", "GET", "/v3/", "", nil, 404, "NOT_FOUND"},
	}
	if len(cases) < 80 {
		t.Fatalf("%d cases; the catalogue of bad input keeps at least 80", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b []byte
			if c.body != "" {
				b = []byte(c.body)
			}
			var rec *httptest.ResponseRecorder
			if slices.Contains(c.hdr, "Transfer-Encoding") {
				rec = doChunked(app, c.method, c.path, b, c.hdr...)
			} else {
				rec = do(t, app, c.method, c.path, b, c.hdr...)
			}
			if rec.Code != c.status || rec.Code >= 500 {
				t.Fatalf("status %d, want %d; body %s", rec.Code, c.status, rec.Body)
			}
			if c.code != "" && errorCode(t, rec) != c.code {
				t.Fatalf("code %q, want %q; body %s", errorCode(t, rec), c.code, rec.Body)
			}
		})
	}
	sameSnapshot(t, before, snapshot(t, drv))
	// The good image is still whole.
	if rec := do(t, app, "GET", "/v2/ok/repo/manifests/"+good.String(), nil); rec.Code != 200 {
		t.Errorf("good manifest gone: %d", rec.Code)
	}
}

// doChunked sends a request whose body has no declared length, as one sent
// with Transfer-Encoding: chunked arrives (net/http moves that header into
// the request's TransferEncoding).
func doChunked(h http.Handler, method, target string, body []byte, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, io.NopCloser(bytes.NewReader(body)))
	req.ContentLength = -1
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Transfer-Encoding" {
			req.TransferEncoding = []string{hdr[i+1]}
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}
