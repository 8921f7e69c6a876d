package registry_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/berth-registry/berth/internal/testutil/s3test"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/storagedriver/s3"
)

// writeSizes is a ResponseWriter that keeps the size of every Write, the
// system calls a pull makes on the client's connection.
type writeSizes struct {
	*httptest.ResponseRecorder
	sizes []int
}

func (w *writeSizes) Write(b []byte) (int, error) {
	w.sizes = append(w.sizes, len(b))
	return w.ResponseRecorder.Write(b)
}

// TestS3PullWritesLarge holds that a blob GET from S3 reaches the client
// in writes of a MiB, not in the 32 KiB of io.Copy's buffer (each write
// is a system call; see copyBufSize in blobs.go), whole and for a range;
// a short range (under 256 KiB) in writes of 64 KiB at most, in whole
// ones still: a request does not hold a MiB for a few KiB.
func TestS3PullWritesLarge(t *testing.T) {
	srv, root := s3test.NewRoot(t)
	drv, err := s3.New(t.Context(), srv.Params(s3test.Bucket, root))
	if err != nil {
		t.Fatal(err)
	}
	app, err := registry.New(context.Background(), drv)
	if err != nil {
		t.Fatal(err)
	}
	blob := make([]byte, 5<<20+123)
	for i := range blob {
		blob[i] = byte(i * 7 / 5)
	}
	d := pushBlob(t, app, "r", blob)
	for _, tc := range []struct {
		name, rng string
		want      []byte
		maxWrites int
		maxWrite  int
	}{
		{"whole", "", blob, 6, 1 << 20},
		{"range", "bytes=1000-3000999", blob[1000:3001000], 3, 1 << 20},
		{"short range", "bytes=5000-9095", blob[5000:9096], 1, 4096},
		{"200 KiB range", "bytes=7-204806", blob[7:204807], 4, 64 << 10},
	} {
		req := httptest.NewRequest(http.MethodGet, "/v2/r/blobs/"+d.String(), nil)
		if tc.rng != "" {
			req.Header.Set("Range", tc.rng)
		}
		w := &writeSizes{ResponseRecorder: httptest.NewRecorder()}
		app.ServeHTTP(w, req)
		if !bytes.Equal(w.Body.Bytes(), tc.want) {
			t.Fatalf("%s: %d, %d bytes, want %d bytes", tc.name, w.Code, w.Body.Len(), len(tc.want))
		}
		if len(w.sizes) > tc.maxWrites || slices.Max(w.sizes) > tc.maxWrite {
			t.Errorf("%s: %d bytes in writes of %v, want at most %d of at most %d", tc.name, len(tc.want), w.sizes, tc.maxWrites, tc.maxWrite)
		}
	}
}
