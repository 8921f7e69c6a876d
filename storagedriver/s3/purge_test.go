package s3_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/berth-registry/berth/internal/testutil/drivertest"
	"github.com/berth-registry/berth/internal/testutil/s3test"
	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/s3"
)

// rawClient talks to the test server directly, to place what a crashed
// writer, or a newer writer than this one, leaves in the bucket.
func rawClient(srv *s3test.Server) *awss3.Client {
	return awss3.New(awss3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""),
	})
}

// waitParts waits until the one multipart upload on key has n parts: a
// writer uploads its parts in the background.
func waitParts(t *testing.T, srv *s3test.Server, key string, n int) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; {
		if len(srv.PartSizes(t, s3test.Bucket, key)) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: never got %d parts", key, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPurgePending proves PurgePending against a real S3 server: pending
// writes idle since before the cutoff go (a parked tail, a tail recording
// a part, a multipart upload no tail records), while young ones stay and
// so do writes that began before the cutoff but uploaded a part since,
// with or without a tail written at their start (the writer of commit
// eb0dba2 writes one; the writer here does not). A dry run counts the same
// and deletes nothing; a second purge finds nothing.
func TestPurgePending(t *testing.T) {
	srv, root := s3test.NewRoot(t)
	d, err := s3.New(t.Context(), srv.Params(s3test.Bucket, root))
	if err != nil {
		t.Fatal(err)
	}
	raw := rawClient(srv)
	ctx := t.Context()
	const chunk = s3.MinChunkSize
	park := func(p string, b []byte) { drivertest.Park(t, d, p, b) }
	open := func(p string, b []byte) storagedriver.FileWriter {
		t.Helper()
		w, err := d.Writer(ctx, p, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
		return w
	}

	// Old.
	park("/old/small", noise(1, 100))
	park("/old/big", noise(2, chunk+100))
	orphan := root + "/old/orphan"
	up, err := raw.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String(s3test.Bucket), Key: aws.String(orphan)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.UploadPart(ctx, &awss3.UploadPartInput{
		Bucket: aws.String(s3test.Bucket), Key: aws.String(orphan), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(noise(3, chunk)), ContentLength: aws.Int64(chunk),
	}); err != nil {
		t.Fatal(err)
	}
	// Begun before the cutoff, still being written after it.
	slow := map[string][]byte{"/active/notail": noise(4, 2*chunk+1), "/active/tail": noise(5, 2*chunk+1)}
	ws := map[string]storagedriver.FileWriter{}
	for p, b := range slow {
		ws[p] = open(p, b[:chunk+1])
	}
	// A start-of-write tail as the newer writer stores it: empty, no record.
	tail := root + "/~pending/active/tail"
	if _, err := raw.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(s3test.Bucket), Key: aws.String(tail), Body: bytes.NewReader(nil)}); err != nil {
		t.Fatal(err)
	}
	for p := range slow {
		waitParts(t, srv, root+p, 1)
	}

	// S3's Last-Modified has a resolution of one second.
	time.Sleep(1100 * time.Millisecond)
	cutoff := time.Now()
	time.Sleep(1100 * time.Millisecond)

	// Young, and the slow writers' second parts.
	park("/young/small", noise(6, 100))
	young := noise(7, chunk+1)
	wy := open("/young/open", young)
	waitParts(t, srv, root+"/young/open", 1)
	for p, b := range slow {
		if _, err := ws[p].Write(b[chunk+1 : 2*chunk+1]); err != nil {
			t.Fatal(err)
		}
		waitParts(t, srv, root+p, 2)
	}

	const wantN, wantBytes = 3, 100 + (chunk + 100) + chunk
	n, b, err := d.PurgePending(ctx, cutoff, true)
	if err != nil || n != wantN || b != wantBytes {
		t.Fatalf("dry run: %d writes, %d bytes, %v; want %d, %d", n, b, err, wantN, wantBytes)
	}
	for _, p := range []string{"/old/small", "/old/big"} {
		w, err := d.Writer(ctx, p, true)
		if err != nil {
			t.Fatalf("after the dry run, %s: %v", p, err)
		}
		w.Close()
	}
	if got := srv.Uploads(t, s3test.Bucket, orphan); len(got) != 1 {
		t.Fatalf("after the dry run, uploads of %s: %v", orphan, got)
	}

	n, b, err = d.PurgePending(ctx, cutoff, false)
	if err != nil || n != wantN || b != wantBytes {
		t.Fatalf("purge: %d writes, %d bytes, %v; want %d, %d", n, b, err, wantN, wantBytes)
	}
	for _, p := range []string{"/old/small", "/old/big"} {
		if _, err := d.Writer(ctx, p, true); !errors.Is(err, storagedriver.ErrPathNotFound) {
			t.Errorf("after the purge, resuming %s: %v, want ErrPathNotFound", p, err)
		}
	}
	if got := srv.Uploads(t, s3test.Bucket, root+"/old/"); len(got) != 0 {
		t.Errorf("after the purge, uploads under old/: %v", got)
	}
	if _, err := raw.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(s3test.Bucket), Key: aws.String(tail)}); err != nil {
		t.Errorf("the start-of-write tail of a writer at work was purged: %v", err)
	}
	if w, err := d.Writer(ctx, "/young/small", true); err != nil {
		t.Errorf("young parked write: %v", err)
	} else {
		w.Close()
	}
	commit := func(p string, w storagedriver.FileWriter, want []byte) {
		t.Helper()
		if err := w.Commit(ctx); err != nil {
			t.Fatalf("commit %s after the purge: %v", p, err)
		}
		got := read(t, d, p)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes after commit, want the %d written", p, len(got), len(want))
		}
	}
	commit("/young/open", wy, young)
	for p, b := range slow {
		commit(p, ws[p], b)
	}

	// The writer of eb0dba2 deletes its tail at Commit; this one never knew
	// of the tail placed for it.
	if _, err := raw.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(s3test.Bucket), Key: aws.String(tail)}); err != nil {
		t.Fatal(err)
	}
	if n, b, err := d.PurgePending(ctx, cutoff, false); err != nil || n != 0 || b != 0 {
		t.Errorf("second purge: %d writes, %d bytes, %v; want nothing", n, b, err)
	}
}

func read(t *testing.T, d storagedriver.Driver, p string) []byte {
	t.Helper()
	rc, err := d.Reader(context.WithoutCancel(t.Context()), p, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
