package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-registry/berth/internal/testutil"
)

// Target names.
const (
	Berth        = "berth"
	Distribution = "distribution"
	Ceiling      = "ceiling"
)

// Targets is the order in which every workload runs, in each round.
var Targets = []string{Berth, Distribution, Ceiling}

// Binaries are the server commands the benchmark runs, each in a process
// of its own so that its peak RSS is its own.
type Binaries struct {
	Berth, Distribution, Ceiling string
}

// Packages are the import paths Build builds, in the order of Binaries.
var Packages = [3]string{
	"github.com/berth-registry/berth/cmd/registry",
	"github.com/berth-registry/berth/internal/bench/distserver",
	"github.com/berth-registry/berth/internal/bench/ceilingserver",
}

// shipFlags are the go build flags of Berth's Dockerfile, the way it
// ships: a static executable (CGO_ENABLED=0, also how Distribution's
// image builds its registry) without paths of the build machine or a
// symbol table. A cgo build maps the C library and gives every thread a
// C stack, which a shipped registry has neither of.
var shipFlags = []string{"-trimpath", "-ldflags=-s -w"}

// Build builds the three servers into dir with one go build, as they
// ship (shipFlags, no race detector), from the module the go command
// finds from the working directory.
func Build(ctx context.Context, dir string) (Binaries, error) {
	args := append(append([]string{"build", "-o", dir + string(filepath.Separator)}, shipFlags...), Packages[:]...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return Binaries{}, fmt.Errorf("go build: %w\n%s", err, out)
	}
	return Binaries{
		Berth:        filepath.Join(dir, "registry"),
		Distribution: filepath.Join(dir, "distserver"),
		Ceiling:      filepath.Join(dir, "ceilingserver"),
	}, nil
}

// server is one registry process.
type server struct {
	name   string
	addr   string
	cmd    *exec.Cmd
	exited chan struct{}
	log    string
}

// startServer runs bin with args (in which "ADDR" stands for a free
// loopback address) and waits until GET /v2/ answers 200.
func startServer(name, bin, logDir string, args func(addr string) ([]string, error)) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	a, err := args(addr)
	if err != nil {
		return nil, err
	}
	logf := filepath.Join(logDir, name+".log")
	log, err := os.Create(logf)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd := exec.Command(bin, a...)
	cmd.Stdout, cmd.Stderr = log, log
	// Should the benchmark die first, so do its servers.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	s := &server{name: name, addr: addr, cmd: cmd, exited: make(chan struct{}), log: logf}
	go func() { _ = cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
			err = fmt.Errorf("GET /v2/: %s", resp.Status)
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("%s exited at start: %s", name, s.tail())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("%s not ready on %s after 30s: %v; %s", name, addr, err, s.tail())
		}
	}
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// tail is the end of the server's output.
func (s *server) tail() string {
	b, _ := os.ReadFile(s.log)
	return testutil.Tail(b, 2<<10)
}

// logTail is the end of the server's output as a suffix for an error
// message, or "" when the server wrote nothing.
func (s *server) logTail() string {
	if t := strings.TrimSpace(s.tail()); t != "" {
		return "\n" + s.name + "'s output ends with:\n" + t
	}
	return ""
}

// peakRSS is the process's peak resident set size (VmHWM), in bytes.
func (s *server) peakRSS() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmHWM %q: %w", v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmHWM in /proc/PID/status")
}

// cpuTime is the CPU time (user and system) the server has used so far,
// from /proc/PID/stat; 0 when it cannot be read. On a busy machine a
// rate mostly says how much CPU the process got, and the CPU per workload
// says how much it needed.
func (s *server) cpuTime() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which ends at the last ')':
	// state is the first, utime and stime the 12th and 13th.
	i := strings.LastIndex(string(b), ") ")
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b)[i+2:])
	if len(f) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(ut+st) * time.Second / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on
// every Linux architecture Go runs on.
const clockTicks = 100

// stop asks the server to stop (SIGTERM) and kills it after 10 s.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}
