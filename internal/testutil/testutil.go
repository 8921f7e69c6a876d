package testutil

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// DefaultTimeout bounds a Cmd that sets no Timeout of its own.
const DefaultTimeout = 3 * time.Minute

// InCI reports whether the tests run under CI (env CI parses as true).
func InCI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

// SkipOrFail skips the test with the formatted message, or fails it under CI.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("%s (CI=true: every tool must be present; see hack/tools.sh)", msg)
		return
	}
	t.Skipf("%s (run `make test`, or hack/tools.sh then `. ~/.cache/berth-ci/env.sh`)", msg)
}

// RequireTool returns the path of the program name found on PATH, or skips
// the test (fails it under CI) when there is none.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		SkipOrFail(t, "%s not found on PATH", name)
	}
	return path
}

// RequireDocker returns the path of the docker client after checking that a
// daemon answers `docker info`; it skips the test (fails it under CI)
// otherwise.
func RequireDocker(t testing.TB) string {
	t.Helper()
	path := RequireTool(t, "docker")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "info", "--format", "{{.ServerVersion}}").CombinedOutput()
	if err != nil {
		SkipOrFail(t, "docker daemon not usable: %v: %s", err, bytes.TrimSpace(out))
	}
	return path
}

// Cmd runs one external program for a test: with a deadline, in a directory,
// with extra environment appended to the test process's own (later entries
// win, so Env can override HOME and the like).
type Cmd struct {
	Path    string
	Env     []string
	Dir     string
	Timeout time.Duration // DefaultTimeout when zero
	Stdin   []byte
	// NoInherit makes Env the program's whole environment.
	NoInherit bool
}

// Result is what a finished command produced.
type Result struct {
	Stdout, Stderr []byte
	Err            error // nil, *exec.ExitError, or why it could not run
}

// Exec runs the command with args and returns its output; it never fails the
// test. The command line is logged so failures can be reproduced.
func (c Cmd) Exec(t testing.TB, args ...string) Result {
	t.Helper()
	timeout := c.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	// Not t.Context(): that ends before cleanups run, and cleanups run
	// commands too (docker rmi).
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Path, args...)
	cmd.Dir = c.Dir
	if c.NoInherit {
		cmd.Env = append([]string{}, c.Env...)
	} else {
		cmd.Env = append(os.Environ(), c.Env...)
	}
	cmd.WaitDelay = 10 * time.Second
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	t.Logf("$ %s", shellQuote(append([]string{c.Path}, args...)))
	start := time.Now()
	err := cmd.Run()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("timed out after %v: %w", time.Since(start).Round(time.Second), err)
	}
	return Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), Err: err}
}

// Run runs the command and returns its stdout, failing the test with both
// outputs when it does not exit 0.
func (c Cmd) Run(t testing.TB, args ...string) []byte {
	t.Helper()
	r := c.Exec(t, args...)
	if r.Err != nil {
		t.Fatalf("%s %s: %v\n%s", c.Path, strings.Join(args, " "), r.Err, r.Output())
	}
	return r.Stdout
}

// Output is stdout and stderr for a failure message, each cut to its last
// 16 KiB.
func (r Result) Output() string {
	return fmt.Sprintf("--- stdout:\n%s\n--- stderr:\n%s", Tail(r.Stdout, 16<<10), Tail(r.Stderr, 16<<10))
}

// Tail returns the last n bytes of b, marked as cut when it was longer.
func Tail(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return fmt.Sprintf("[... %d bytes cut ...]\n%s", len(b)-n, b[len(b)-n:])
}

func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a != "" && !strings.ContainsAny(a, " \t\n'\"\\$`*?[]{}()<>|&;#~") {
			q[i] = a
			continue
		}
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// Finishes runs f and fails the test if it has not returned within limit:
// a guard against a hang, not a measurement.
func Finishes[T any](t testing.TB, limit time.Duration, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(limit):
		t.Fatalf("still running after %s", limit)
		panic("unreachable")
	}
}
