package bench

import (
	"bytes"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRateRoundsTakeTurns: a rate workload's round runs on each target
// in slices, in turn (Berth, Distribution, the ceiling, Berth again...),
// and a target's figure is the rate of all its slices together. A target
// that fails in one slice is recorded as failed for that round; the
// others go on.
func TestRateRoundsTakeTurns(t *testing.T) {
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(serverEnv, "1")
	st, err := newStorage(FS, t.TempDir(), "", false, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	targets, err := startTargets(st, func(string) string { return bin }, func(_, addr string) ([]string, error) {
		return []string{addr}, nil
	})
	defer stopTargets(targets)
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var calls []string // the target of each request, in the order they began
	failing := ""      // a target whose requests fail
	w := workload{name: "turns", metrics: []metric{{title: "turns", unit: "req/s"}},
		rate: &rateWork{clients: 2,
			op: func(_ *env, tg *target) func(*mrand.Rand) error {
				return func(*mrand.Rand) error {
					mu.Lock()
					calls = append(calls, tg.name)
					fail := tg.name == failing
					mu.Unlock()
					if fail {
						return errInjected
					}
					_, err := tg.c.call(http.MethodGet, "/v2/", nil, nil, 0, http.StatusOK)
					return err
				}
			},
			values: func(rate float64, _ []time.Duration) []float64 { return []float64{rate} }}}

	o := &Options{Duration: 4 * minSlice, Progress: &bytes.Buffer{}}
	e := &env{o: o}
	row := newRow(FS, 1, w.name, w.metrics[0])
	if err := runRound(t.Context(), o, e, st, w, []*Row{row}, targets, 1); err != nil {
		t.Fatal(err)
	}
	// Runs of consecutive requests to one target: four slices of each,
	// in the targets' order (a slice ends when its last request has).
	var turns []string
	for _, c := range calls {
		if len(turns) == 0 || turns[len(turns)-1] != c {
			turns = append(turns, c)
		}
	}
	want := slices.Repeat(Targets, 4)
	if !slices.Equal(turns, want) {
		t.Fatalf("turns %v, want %v", turns, want)
	}
	for _, tg := range Targets {
		if vs := row.Samples[tg]; len(vs) != 1 || vs[0] <= 0 {
			t.Errorf("%s: samples %v, want one rate", tg, vs)
		}
	}

	mu.Lock()
	calls, failing = nil, Distribution
	mu.Unlock()
	if err := runRound(t.Context(), o, e, st, w, []*Row{row}, targets, 2); err != nil {
		t.Fatal(err)
	}
	if fs := row.Failures[Distribution]; len(fs) != 1 || fs[0].Round != 2 || !strings.Contains(fs[0].Error, errInjected.Error()) {
		t.Errorf("Distribution's failures %+v, want round 2's injected error", fs)
	}
	for _, tg := range []string{Berth, Ceiling} {
		if vs := row.Samples[tg]; len(vs) != 2 || len(row.Failures[tg]) != 0 {
			t.Errorf("%s: samples %v, failures %v, want two rates", tg, vs, row.Failures[tg])
		}
	}
	n := 0
	for _, c := range calls {
		if c == Distribution {
			n++
		}
	}
	if n > 2 {
		t.Errorf("Distribution got %d requests after its first slice failed, want its two clients' first ones only", n)
	}
}

var errInjected = errorString("injected failure")

type errorString string

func (e errorString) Error() string { return string(e) }
