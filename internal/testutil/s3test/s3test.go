// Package s3test runs a real S3 server for tests: versitygw with its posix
// backend, on 127.0.0.1, installed by hack/tools.sh.
//
// Shared starts one server per test binary, on first use, and every test
// gets its own root directory in its bucket (NewDriver), emptied when the
// test ends; the server and its directory go when the test binary exits,
// however it exits. Start runs a server of the test's own, which the test
// may Stop and Restart to inject faults.
//
// Without versitygw on PATH the tests skip, or fail under CI=true
// (testutil.RequireTool).
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/berth-registry/berth/internal/testutil"
	berths3 "github.com/berth-registry/berth/storagedriver/s3"
)

// Bucket is the bucket NewDriver uses on the shared server.
const Bucket = "berth"

const (
	region       = "us-east-1"
	startTimeout = 30 * time.Second
)

// Server is a versitygw process serving S3 on loopback.
type Server struct {
	Endpoint  string // http://127.0.0.1:port
	Addr      string // 127.0.0.1:port
	AccessKey string
	SecretKey string

	bin    string
	data   string // the posix backend's directory
	logf   string
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
	client *s3.Client
}

var shared struct {
	mu   sync.Mutex
	srv  *Server
	err  error
	keep *os.File // our end of the pipe whose closing stops the server
	seq  atomic.Int64
}

// Shared returns the server of this test binary, starting it on first use
// with the bucket Bucket. It runs until the test binary exits: it watches a
// pipe from this process and, once it closes, stops and removes its
// directory, so nothing outlives a crashed or killed test binary.
func Shared(t testing.TB) *Server {
	t.Helper()
	bin := testutil.RequireTool(t, "versitygw")
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv == nil && shared.err == nil {
		shared.srv, shared.err = startShared(bin)
	}
	if shared.err != nil {
		t.Fatalf("s3test: shared versitygw: %v", shared.err)
	}
	return shared.srv
}

func startShared(bin string) (*Server, error) {
	dir, err := os.MkdirTemp("", "berth-versitygw-")
	if err != nil {
		return nil, err
	}
	s := newServer(bin, dir)
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	// The shell waits for end of file on its standard input, the read end
	// of our pipe: it comes when this process exits and the kernel closes
	// the write end we keep.
	const script = `"$@" & pid=$!; cat >/dev/null; kill $pid; wait $pid; rm -rf "$DIR"`
	err = s.start(false, func(args []string) *exec.Cmd {
		cmd := exec.Command("sh", append([]string{"-c", script, "sh", bin}, args...)...)
		cmd.Env = append(os.Environ(), "DIR="+dir)
		cmd.Stdin = r
		// Its own process group, so that a failed start kills both.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		return cmd
	})
	r.Close()
	if err != nil {
		w.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	shared.keep = w
	if err := s.createBucket(Bucket); err != nil {
		return nil, err
	}
	return s, nil
}

// Start runs a server of the test's own, in its temporary directory,
// stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := testutil.RequireTool(t, "versitygw")
	s := newServer(bin, t.TempDir())
	if err := s.start(false, s.directCmd); err != nil {
		t.Fatalf("s3test: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Run starts versitygw from bin outside any test (for cmd/regbench), in
// dir (its data and log), with the bucket Bucket; the caller stops it with
// Stop. Like Start's, the server dies with the process that started it.
func Run(bin, dir string) (*Server, error) {
	s := newServer(bin, dir)
	if err := s.start(false, s.directCmd); err != nil {
		return nil, err
	}
	if err := s.createBucket(Bucket); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func newServer(bin, dir string) *Server {
	key := make([]byte, 12)
	rand.Read(key)
	return &Server{
		bin:       bin,
		data:      filepath.Join(dir, "data"),
		logf:      filepath.Join(dir, "versitygw.log"),
		AccessKey: "berth-test",
		SecretKey: hex.EncodeToString(key),
	}
}

func (s *Server) directCmd(args []string) *exec.Cmd {
	cmd := exec.Command(s.bin, args...)
	// Should the test binary die first, so does the server.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// start starts versitygw on a free port, or on the port it had when
// restart is set, and waits until it answers.
func (s *Server) start(restart bool, command func(args []string) *exec.Cmd) error {
	if err := os.MkdirAll(s.data, 0o755); err != nil {
		return err
	}
	var lastErr error
	for range 3 {
		addr := s.Addr
		if addr == "" {
			a, err := freeAddr()
			if err != nil {
				return err
			}
			addr = a
		}
		log, err := os.OpenFile(s.logf, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		// Keep-alive on, request logging off; the posix backend keeps
		// metadata in extended attributes of its files.
		cmd := command([]string{"--port", addr, "--access", s.AccessKey, "--secret", s.SecretKey,
			"--region", region, "--keep-alive", "--quiet", "posix", s.data})
		// Not the test's own stdout: go test would wait for it to close.
		cmd.Stdout, cmd.Stderr = log, log
		err = cmd.Start()
		log.Close()
		if err != nil {
			return fmt.Errorf("start versitygw: %w", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		s.Addr, s.Endpoint = addr, "http://"+addr
		s.client = s.newClient()
		if lastErr = s.waitReady(exited); lastErr == nil {
			s.cmd, s.exited = cmd, exited
			return nil
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // its group, if it has one
		_ = cmd.Process.Kill()
		<-exited
		if !restart { // a fresh server may try another port
			s.Addr = ""
		}
	}
	return lastErr
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func (s *Server) waitReady(exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := s.client.ListBuckets(ctx, &s3.ListBucketsInput{})
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("versitygw exited at start:\n%s", s.Log())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("versitygw on %s not ready after %v: %v\n%s", s.Addr, startTimeout, err, s.Log())
		}
	}
}

// Log returns the tail of the server's output.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.logf)
	return testutil.Tail(b, 8<<10)
}

// Stop kills a server started by Start and waits for it to exit. It may be
// called more than once.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Restart starts a stopped server again, on the same port and data.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.start(true, s.directCmd); err != nil {
		t.Fatalf("s3test: restart: %v", err)
	}
}

func (s *Server) newClient() *s3.Client {
	return s3.New(s3.Options{
		Region:       region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
}

// CreateBucket creates a bucket on the server.
func (s *Server) CreateBucket(t testing.TB, name string) {
	t.Helper()
	if err := s.createBucket(name); err != nil {
		t.Fatalf("s3test: %v", err)
	}
}

func (s *Server) createBucket(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	_, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	return nil
}

// Params are driver parameters for bucket and root on this server, sized
// for tests: the smallest part size S3 allows, so that a few MiB cross
// part boundaries, and few parallel copies on a small machine.
func (s *Server) Params(bucket, root string) berths3.Params {
	return berths3.Params{
		RegionEndpoint:              s.Endpoint,
		Region:                      region,
		Bucket:                      bucket,
		RootDirectory:               root,
		AccessKey:                   s.AccessKey,
		SecretKey:                   s.SecretKey,
		ForcePathStyle:              true,
		ChunkSize:                   berths3.MinChunkSize,
		MultipartCopyChunkSize:      berths3.MinChunkSize,
		MultipartCopyMaxConcurrency: 4,
		MultipartCopyThresholdSize:  berths3.MinChunkSize,
	}
}

// NewRoot returns a root directory on the shared server that no other
// test uses, emptied (objects and multipart uploads) when the test ends.
func NewRoot(t testing.TB) (*Server, string) {
	t.Helper()
	s := Shared(t)
	root := fmt.Sprintf("t%05d", shared.seq.Add(1))
	t.Cleanup(func() {
		if err := s.purge(Bucket, root+"/"); err != nil {
			t.Errorf("s3test: empty %s: %v", root, err)
		}
	})
	return s, root
}

// NewDriver returns a driver on the shared server, in a root directory of
// the test's own (NewRoot); opts adjust its parameters.
func NewDriver(t testing.TB, opts ...func(*berths3.Params)) *berths3.Driver {
	t.Helper()
	s, root := NewRoot(t)
	p := s.Params(Bucket, root)
	for _, o := range opts {
		o(&p)
	}
	d, err := berths3.New(t.Context(), p)
	if err != nil {
		t.Fatalf("s3test: driver: %v", err)
	}
	return d
}

// purge deletes every object and multipart upload under prefix.
func (s *Server) purge(bucket, prefix string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)}
	for pages := s3.NewListObjectsV2Paginator(s.client, in); pages.HasMorePages(); {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return err
		}
		if len(out.Contents) == 0 {
			continue
		}
		ids := make([]types.ObjectIdentifier, len(out.Contents))
		for i, o := range out.Contents {
			ids[i] = types.ObjectIdentifier{Key: o.Key}
		}
		if _, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(bucket), Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		}); err != nil {
			return err
		}
	}
	mu := &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix)}
	for {
		out, err := s.client.ListMultipartUploads(ctx, mu)
		if err != nil {
			return err
		}
		for _, u := range out.Uploads {
			if _, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
				Bucket: aws.String(bucket), Key: u.Key, UploadId: u.UploadId,
			}); err != nil && !strings.Contains(err.Error(), "NoSuchUpload") {
				return err
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return nil
		}
		mu.KeyMarker, mu.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// Uploads returns the keys of the multipart uploads in progress under
// prefix in bucket.
func (s *Server) Uploads(t testing.TB, bucket, prefix string) []string {
	t.Helper()
	out, err := s.client.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{
		Bucket: aws.String(bucket), Prefix: aws.String(prefix),
	})
	if err != nil {
		t.Fatalf("s3test: list uploads: %v", err)
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	return keys
}

// PartSizes returns the sizes of the parts uploaded so far to the one
// multipart upload in progress for key in bucket.
func (s *Server) PartSizes(t testing.TB, bucket, key string) []int64 {
	t.Helper()
	out, err := s.client.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{
		Bucket: aws.String(bucket), Prefix: aws.String(key),
	})
	if err != nil {
		t.Fatalf("s3test: list uploads: %v", err)
	}
	var ids []string
	for _, u := range out.Uploads {
		if aws.ToString(u.Key) == key {
			ids = append(ids, aws.ToString(u.UploadId))
		}
	}
	if len(ids) != 1 {
		t.Fatalf("s3test: %d uploads in progress for %s, want 1", len(ids), key)
	}
	var sizes []int64
	in := &s3.ListPartsInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(ids[0])}
	for pages := s3.NewListPartsPaginator(s.client, in); pages.HasMorePages(); {
		page, err := pages.NextPage(t.Context())
		if err != nil {
			t.Fatalf("s3test: list parts: %v", err)
		}
		for _, p := range page.Parts {
			sizes = append(sizes, aws.ToInt64(p.Size))
		}
	}
	return sizes
}
