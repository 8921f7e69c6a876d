package registry_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/filesystem"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// TestAbortedUploadsLeaveNothing: 50 uploads whose client goes away over a
// real TCP connection, monolithic and chunked, leave storage byte for byte
// as it was, pending writes included (+pending on the filesystem driver).
// The client cuts the connection in the middle of a body (POST ?digest=, PUT,
// PATCH with Content-Length or chunked), or sends a whole body that does not
// hash to its digest and half-closes without reading the answer. Either way
// the request's context is canceled before the handler cleans up, so the
// clean-up must not depend on it. An upload in progress that nobody aborted
// stays as it was.
func TestAbortedUploadsLeaveNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T) (drv storagedriver.Driver, root string)
	}{
		{"inmemory", func(t *testing.T) (storagedriver.Driver, string) { return inmemory.New(), "" }},
		{"filesystem", func(t *testing.T) (storagedriver.Driver, string) {
			root := t.TempDir()
			drv, err := filesystem.New(root)
			if err != nil {
				t.Fatal(err)
			}
			return drv, root
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			drv, root := tc.open(t)
			app, err := registry.New(t.Context(), drv, registry.WithDelete(true))
			if err != nil {
				t.Fatal(err)
			}
			h := &handlerCount{h: app}
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			c := &abortClient{t: t, srv: srv, h: h}

			// What must survive: an image, and an upload in progress.
			pushImage(t, app, "abort/repo", "v1", "")
			kept := c.post()
			c.expect("PATCH", kept, strings.NewReader("kept bytes"), 202, "Content-Range", "0-9")
			before, beforeDisk := snapshot(t, drv), diskSnapshot(t, root)

			const n = 50
			for i := range n {
				content := bytes.Repeat([]byte{byte('a' + i%26)}, 4096+i)
				d := digest.FromBytes(content)
				wrong := digest.FromString(fmt.Sprint("not ", i))
				half := content[:len(content)/2]
				switch i % 6 {
				case 0: // monolithic POST, body cut
					c.cut("POST", "/v2/abort/repo/blobs/uploads/?digest="+d.String(), len(content), half)
				case 1: // monolithic PUT after POST, body cut
					c.cut("PUT", c.post()+"?digest="+d.String(), len(content), half)
				case 2: // chunked upload, second PATCH cut
					loc := c.post()
					c.expect("PATCH", loc, bytes.NewReader(content[:100]), 202, "Content-Range", "0-99")
					c.cut("PATCH", loc, len(content)-100, content[100:200], "Content-Range", fmt.Sprintf("100-%d", len(content)-1))
				case 3: // chunked upload, PATCH with a chunked body cut
					c.cut("PATCH", c.post(), -1, half)
				case 4: // chunked upload, PUT with the wrong digest, then a half-close
					loc := c.post()
					c.expect("PATCH", loc, bytes.NewReader(content[:100]), 202)
					c.halfClose("PUT", loc+"?digest="+wrong.String(), content[100:])
				case 5: // monolithic POST with the wrong digest, then a half-close
					c.halfClose("POST", "/v2/abort/repo/blobs/uploads/?digest="+wrong.String(), content)
				}
			}
			c.settle()

			sameSnapshot(t, before, snapshot(t, drv))
			if after := diskSnapshot(t, root); after != beforeDisk {
				t.Errorf("files on disk changed:\nbefore:\n%s\nafter:\n%s", beforeDisk, after)
			}
			// The upload nobody aborted goes on.
			c.expect("GET", kept, nil, 204)
			c.expect("PUT", kept+"?digest="+digest.FromString("kept bytes").String(), nil, 201)
		})
	}
}

// diskSnapshot describes the files under a filesystem driver's root,
// including its pending writes, which the driver never lists; "" without
// a root.
func diskSnapshot(t *testing.T, root string) string {
	t.Helper()
	if root == "" {
		return ""
	}
	return testutil.SnapshotDir(t, root)
}

// handlerCount counts the requests the registry started and finished
// serving, so that a test can wait for the handlers of requests whose
// client is gone.
type handlerCount struct {
	h                 http.Handler
	started, finished atomic.Int64
}

func (c *handlerCount) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.started.Add(1)
	defer c.finished.Add(1)
	c.h.ServeHTTP(w, r)
}

// abortClient sends the requests of TestAbortedUploadsLeaveNothing: whole
// ones through net/http, broken ones by hand on a TCP connection.
type abortClient struct {
	t   *testing.T
	srv *httptest.Server
	h   *handlerCount
}

// expect sends a whole request and checks its status; it returns the
// response's Location.
func (c *abortClient) expect(method, path string, body io.Reader, status int, hdr ...string) string {
	c.t.Helper()
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.srv.URL+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.srv.Client().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != status {
		b, _ := io.ReadAll(resp.Body)
		c.t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, status, b)
	}
	return resp.Header.Get("Location")
}

// post starts an upload and returns its path.
func (c *abortClient) post() string {
	c.t.Helper()
	return c.expect("POST", "/v2/abort/repo/blobs/uploads/", nil, 202)
}

// dial opens a connection and writes a request's head: with Content-Length
// size, or a chunked body when size < 0.
func (c *abortClient) dial(method, path string, size int, hdr ...string) net.Conn {
	c.t.Helper()
	conn, err := net.Dial("tcp", c.srv.Listener.Addr().String())
	if err != nil {
		c.t.Fatal(err)
	}
	var head strings.Builder
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\n", method, path, c.srv.Listener.Addr())
	if size >= 0 {
		fmt.Fprintf(&head, "Content-Length: %d\r\n", size)
	} else {
		head.WriteString("Transfer-Encoding: chunked\r\n")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		fmt.Fprintf(&head, "%s: %s\r\n", hdr[i], hdr[i+1])
	}
	head.WriteString("\r\n")
	if _, err := io.WriteString(conn, head.String()); err != nil {
		c.t.Fatal(err)
	}
	return conn
}

// cut sends a request's head and part of its body (a chunk of a chunked
// body when size < 0), waits until the registry serves it, and closes the
// connection.
func (c *abortClient) cut(method, path string, size int, part []byte, hdr ...string) {
	c.t.Helper()
	started := c.h.started.Load()
	conn := c.dial(method, path, size, hdr...)
	if size < 0 {
		fmt.Fprintf(conn, "%x\r\n%s\r\n", len(part), part)
	} else {
		_, _ = conn.Write(part)
	}
	c.wait(func() bool { return c.h.started.Load() > started })
	conn.Close()
	c.settle()
}

// halfClose sends a whole request, then shuts the connection's sending side
// down and, once the registry serves it, closes it without reading the
// answer.
func (c *abortClient) halfClose(method, path string, body []byte) {
	c.t.Helper()
	started := c.h.started.Load()
	conn := c.dial(method, path, len(body))
	defer conn.Close()
	if _, err := conn.Write(body); err != nil {
		c.t.Fatal(err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		c.t.Fatal(err)
	}
	// Each request's handler starts before the next request is sent, so
	// that settle cannot miss one not yet started.
	c.wait(func() bool { return c.h.started.Load() > started })
}

// settle waits until every request the registry started is served.
func (c *abortClient) settle() {
	c.t.Helper()
	c.wait(func() bool { return c.h.finished.Load() == c.h.started.Load() })
}

func (c *abortClient) wait(done func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			c.t.Fatalf("the registry still serves %d requests", c.h.started.Load()-c.h.finished.Load())
		}
		time.Sleep(2 * time.Millisecond)
	}
}
