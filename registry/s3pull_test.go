package registry_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
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
// is a system call; see copyBufSize in blobs.go), whole and for a range.
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
	}{
		{"whole", "", blob, 6},
		{"range", "bytes=1000-3000999", blob[1000:3001000], 3},
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
		if len(w.sizes) > tc.maxWrites {
			t.Errorf("%s: %d bytes in %d writes, want at most %d", tc.name, len(tc.want), len(w.sizes), tc.maxWrites)
		}
	}
}
