package bench

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/bench/ceiling"
)

// serverEnv makes this test binary, started by startServer, a registry
// for the harness: the ceiling, on the address of its first argument.
// With three more arguments, METHOD, a piece of a path and N, it answers
// the first N requests of that method whose path holds the piece with a
// 500, as a registry whose storage failed.
const serverEnv = "REGBENCH_TEST_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(serverEnv) != "" {
		os.Exit(serveForTest(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func serveForTest(args []string) int {
	if len(args) != 1 && len(args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: ADDR [METHOD PATH-PIECE N]")
		return 2
	}
	h := http.Handler(ceiling.New())
	if len(args) == 4 {
		next, method, piece := h, args[1], args[2]
		n, err := strconv.ParseInt(args[3], 10, 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		var failed atomic.Int64
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == method && strings.Contains(r.URL.Path, piece) && failed.Add(1) <= n {
				fmt.Fprintf(os.Stderr, "failing %s %s\n", r.Method, r.URL.Path)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusInternalServerError)
				fmt.Fprint(w, `{"errors":[{"code":"UNKNOWN","message":"injected: storage failed"}]}`)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	err := http.ListenAndServe(args[0], h)
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// TestFailedRunIsRecorded runs three rounds of the storm and of manifest
// GETs on three servers (this binary as the ceiling, under the three
// targets' names), one of which fails: a manifest PUT of the storm's
// second round, or one of manifest-get's set-up. The run goes on; that
// server's figure is the median of the rounds that worked, the table says
// "2 of 3 runs; 1 failed" with the error, and the report lists the failure
// under that target only. A set-up that failed is tried again in the next
// round, and not after it failed twice.
func TestFailedRunIsRecorded(t *testing.T) {
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(serverEnv, "1") // for the servers started below
	for _, tc := range []struct {
		name, failing, method, piece string
		times                        int    // requests failed
		workload                     string // the workload that fails
		rounds                       []int  // in these rounds
	}{
		{name: "storm", failing: Distribution, method: http.MethodPut, piece: "/manifests/r2-", times: 1, workload: "storm", rounds: []int{2}},
		{name: "set-up", failing: Berth, method: http.MethodPut, piece: "/bench/manifests/manifests/t7", times: 1,
			workload: "manifest-get", rounds: []int{1}},
		{name: "set-up twice", failing: Ceiling, method: http.MethodPut, piece: "/bench/manifests/manifests/t7", times: 2,
			workload: "manifest-get", rounds: []int{1, 2, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := newStorage(FS, t.TempDir(), "", false, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer st.close()
			targets, err := startTargets(st, func(string) string { return bin }, func(name, addr string) ([]string, error) {
				if name == tc.failing {
					return []string{addr, tc.method, tc.piece, strconv.Itoa(tc.times)}, nil
				}
				return []string{addr}, nil
			})
			defer stopTargets(targets)
			if err != nil {
				t.Fatal(err)
			}
			var progress bytes.Buffer
			o := &Options{Scale: 0.002, Runs: 3, Duration: 20 * time.Millisecond, Storage: []string{FS},
				Workloads: []string{"storm", "manifest-get"}, Progress: &progress}
			rows, err := measure(t.Context(), o, st, targets)
			if err != nil {
				t.Fatalf("the run ended on a server's failure: %v\n%s", err, progress.String())
			}
			rep := &Report{Runs: o.Runs, Rows: rows}
			rep.Summarise()
			var table bytes.Buffer
			if err := rep.WriteTable(&table); err != nil {
				t.Fatal(err)
			}
			for _, row := range rows {
				for _, tg := range Targets {
					want, fails := 3, 0
					switch {
					case row.Workload == "rss":
						if tg == Ceiling {
							continue
						}
						want = 1
					case tg == tc.failing && row.Workload == tc.workload:
						want, fails = 3-len(tc.rounds), len(tc.rounds)
					}
					vs, fs := row.Samples[tg], row.Failures[tg]
					if len(vs) != want || len(fs) != fails {
						t.Errorf("%s: %s: %d samples and failures %v, want %d and %d failure(s)", row.Title, tg, len(vs), fs, want, fails)
						continue
					}
					for i, f := range fs {
						want := "injected: storage failed"
						if i == maxSetups {
							want = "not run: its set-up failed 2 times"
						}
						if f.Round != tc.rounds[i] || !strings.Contains(f.Error, want) {
							t.Errorf("%s: %s: failure %+v, want round %d, %q", row.Title, tg, f, tc.rounds[i], want)
						}
					}
					if fails > 0 && len(vs) > 0 && row.Median[tg] != median(vs) {
						t.Errorf("%s: %s: median %v, want that of the runs that worked %v", row.Title, tg, row.Median[tg], vs)
					}
				}
			}
			n := len(tc.rounds)
			for _, want := range []string{fmt.Sprintf("%d of 3 runs; %d failed: [1]", 3-n, n), "[1] " + tc.failing + ", " + tc.workload + ", round",
				"injected: storage failed", fmt.Sprintf("FAILED RUNS: %s %d", tc.failing, n)} {
				if !strings.Contains(table.String(), want) {
					t.Errorf("the table does not say %q:\n%s", want, table.String())
				}
			}
			for _, tg := range Targets {
				if got := rep.Failed(tg); (tg == tc.failing) != (len(got) == n) {
					t.Errorf("Failed(%s) = %q", tg, got)
				}
			}
			if tc.failing == Berth && !strings.Contains(table.String(), "**Berth failed**") {
				t.Errorf("a goal of a workload Berth failed is not marked:\n%s", table.String())
			}
		})
	}
}
