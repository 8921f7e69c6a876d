package testutil

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestCmdExec(t *testing.T) {
	r := Cmd{Path: "/bin/sh"}.Exec(t, "-c", "echo out; echo err >&2; exit 3")
	var exit *exec.ExitError
	if !errors.As(r.Err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("Err = %v, want exit status 3", r.Err)
	}
	if string(r.Stdout) != "out\n" || string(r.Stderr) != "err\n" {
		t.Errorf("stdout %q stderr %q", r.Stdout, r.Stderr)
	}
	if out := r.Output(); !strings.Contains(out, "out") || !strings.Contains(out, "err") {
		t.Errorf("Output() = %q lacks stdout or stderr", out)
	}
}

func TestCmdTimeout(t *testing.T) {
	start := time.Now()
	r := Cmd{Path: "/bin/sh", Timeout: 200 * time.Millisecond}.Exec(t, "-c", "exec sleep 30")
	if r.Err == nil || !strings.Contains(r.Err.Error(), "timed out") {
		t.Fatalf("Err = %v, want a time-out", r.Err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("took %v to give up", d)
	}
}

func TestCmdEnv(t *testing.T) {
	t.Setenv("BERTH_TESTUTIL_OUTER", "outer")
	script := `echo "$HOME|$BERTH_TESTUTIL_OUTER|$BERTH_TESTUTIL_X"`
	got := Cmd{Path: "/bin/sh", Env: []string{"HOME=/nowhere", "BERTH_TESTUTIL_X=x"}}.Run(t, "-c", script)
	if string(got) != "/nowhere|outer|x\n" {
		t.Errorf("inherited env: %q", got)
	}
	got = Cmd{Path: "/bin/sh", Env: []string{"BERTH_TESTUTIL_X=x"}, NoInherit: true}.Run(t, "-c", script)
	if string(got) != "||x\n" {
		t.Errorf("NoInherit env: %q", got)
	}
}

func TestInCI(t *testing.T) {
	for v, want := range map[string]bool{"true": true, "1": true, "false": false, "": false, "yes": false} {
		t.Setenv("CI", v)
		if InCI() != want {
			t.Errorf("CI=%q: InCI() = %v", v, !want)
		}
	}
}

// recorder stands in for a test to see whether a helper skipped or failed it.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Skipf(format string, args ...any)  { r.skipped = format }
func (r *recorder) Fatalf(format string, args ...any) { r.failed = format }

func TestRequireToolMissing(t *testing.T) {
	t.Setenv("CI", "")
	rec := &recorder{TB: t}
	RequireTool(rec, "berth-no-such-tool")
	if rec.skipped == "" || rec.failed != "" {
		t.Errorf("outside CI: skipped=%q failed=%q, want a skip", rec.skipped, rec.failed)
	}
	t.Setenv("CI", "true")
	rec = &recorder{TB: t}
	RequireTool(rec, "berth-no-such-tool")
	if rec.failed == "" || rec.skipped != "" {
		t.Errorf("under CI: skipped=%q failed=%q, want a failure", rec.skipped, rec.failed)
	}
	if p := RequireTool(t, "sh"); !strings.HasSuffix(p, "/sh") {
		t.Errorf("RequireTool(sh) = %q", p)
	}
}

func TestShellQuote(t *testing.T) {
	got := shellQuote([]string{"docker", "inspect", "--format", "{{json .RepoDigests}}", "it's", ""})
	want := `docker inspect --format '{{json .RepoDigests}}' 'it'\''s' ''`
	if got != want {
		t.Errorf("shellQuote = %s, want %s", got, want)
	}
}

func TestTail(t *testing.T) {
	if got := Tail([]byte("short"), 10); got != "short" {
		t.Errorf("Tail(short) = %q", got)
	}
	if got := Tail([]byte("0123456789"), 4); got != "[... 6 bytes cut ...]\n6789" {
		t.Errorf("Tail(long) = %q", got)
	}
}
