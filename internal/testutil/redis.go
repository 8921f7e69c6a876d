package testutil

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// RedisServer is a redis-server of one test, on a port of its own, with
// nothing persisted: Debian's redis-server package, started by Redis.
type RedisServer struct {
	// Addr is host:port, for the redis.addrs key.
	Addr string

	t    testing.TB
	path string
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// Redis starts a redis-server for the test on a free loopback port, in a
// temporary directory, without persistence (--save "" --appendonly no),
// and stops it at the end of the test. A missing redis-server skips the
// test (fails it under CI).
func Redis(t testing.TB) *RedisServer {
	t.Helper()
	r := &RedisServer{t: t, path: RequireTool(t, "redis-server"), dir: t.TempDir()}
	var err error
	for range 5 { // another process may take the port between probe and start
		if r.port, err = freePort(); err != nil {
			t.Fatalf("redis: %v", err)
		}
		if err = r.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port))
	t.Cleanup(r.Stop)
	return r
}

// Stop kills the server and waits for it; stopping a stopped server does
// nothing. Tests use it to take the cache down under a running registry.
func (r *RedisServer) Stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

// Restart starts the server again on the same port, empty.
func (r *RedisServer) Restart() {
	r.t.Helper()
	r.Stop()
	if err := r.start(); err != nil {
		r.t.Fatalf("redis-server restart: %v", err)
	}
}

func (r *RedisServer) start() error {
	log, err := os.Create(filepath.Join(r.dir, fmt.Sprintf("redis-%d.log", time.Now().UnixNano())))
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(r.path, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--dir", r.dir, "--save", "", "--appendonly", "no", "--protected-mode", "no")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := ping(addr); err == nil {
			r.cmd, r.done = cmd, done
			return nil
		}
		select {
		case <-done:
			b, _ := os.ReadFile(log.Name())
			return fmt.Errorf("exited at start: %s", Tail(b, 500))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("no PONG on %s within 10s", addr)
		}
	}
}

// ping sends PING in Redis's inline protocol and expects +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
