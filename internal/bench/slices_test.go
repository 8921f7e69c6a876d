package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
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
	st, targets := startTestTargets(t)

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
			values: func(_ *env, rate float64, _ []time.Duration) []float64 { return []float64{rate} }}}

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

// startTestTargets starts this test binary as the three servers (the
// ceiling under each name), on a filesystem storage that the test's end
// removes, and stops them then.
func startTestTargets(t *testing.T) (*storage, []*target) {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(serverEnv, "1")
	st, err := newStorage(FS, t.TempDir(), "", false, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.close)
	targets, err := startTargets(st, func(string) string { return bin }, func(_, addr string) ([]string, error) {
		return []string{addr}, nil
	})
	t.Cleanup(func() { stopTargets(targets) })
	if err != nil {
		t.Fatal(err)
	}
	return st, targets
}

var errInjected = errorString("injected failure")

type errorString string

func (e errorString) Error() string { return string(e) }

// TestStormRoundLastsATenthOfTheDuration: a storm round pushes batches of
// new images until the pushes have taken a tenth of the duration, each
// batch whole (one image per client's repository), and rates them all.
func TestStormRoundLastsATenthOfTheDuration(t *testing.T) {
	_, targets := startTestTargets(t)
	o := &Options{Duration: time.Second}
	e := &env{sz: scaled(0.002), o: o, src: newSource(), cache: map[string]*content{}, storm: map[string][]*image{}}
	start := time.Now()
	vs, err := runStorm(e, targets[2], 1)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := targets[2].c.do(http.MethodGet, "/v2/bench/storm-00/tags/list", nil, nil, 0, http.StatusOK)
	if err != nil {
		t.Fatal(err)
	}
	var tags struct{ Tags []string }
	err = json.NewDecoder(resp.Body).Decode(&tags)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	batches := len(tags.Tags)
	if batches < 2 || took < o.Duration/10 {
		t.Fatalf("%d batches in %v, want more than one, over at least %v", batches, took, o.Duration/10)
	}
	for b := range batches {
		for c := range stormClients {
			repo := fmt.Sprintf("bench/storm-%02d", c)
			if _, err := targets[2].c.call(http.MethodHead, fmt.Sprintf("/v2/%s/manifests/r1-%d-%d", repo, b, c), nil, nil, 0, http.StatusOK); err != nil {
				t.Errorf("batch %d: %s: %v", b, repo, err)
			}
		}
	}
	if want := float64(batches*e.sz.storm) / took.Seconds(); len(vs) != 1 || vs[0] < want {
		t.Errorf("rate %v, want one of at least %.0f img/s (%d images in %v, generation included)", vs, want, batches*e.sz.storm, took)
	}
}
