package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/testutil"
)

// TestSmoke runs every workload once at a tiny scale, on the filesystem and
// on S3 (versitygw), as `make bench` would at full size: the harness builds
// and starts the three servers, every figure is measured, and the table
// and the JSON report carry them all. It takes some 20 s; -short skips it.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("the benchmark's smoke run is not a short test")
	}
	bins, err := Build(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{FS, S3} {
		t.Run(kind, func(t *testing.T) {
			o := Options{Scale: 0.002, Runs: 1, Duration: 50 * time.Millisecond, Storage: []string{kind},
				Workdir: t.TempDir(), Bins: bins}
			if kind == S3 {
				o.Versitygw = testutil.RequireTool(t, "versitygw")
				o.S3Proxy = true
			}
			rep, err := Run(t.Context(), o)
			if err != nil {
				t.Fatal(err)
			}
			checkReport(t, rep, kind)
		})
	}
}

func checkReport(t *testing.T, rep *Report, kind string) {
	t.Helper()
	rep.Summarise()
	if want := len(WorkloadNames) + 4; len(rep.Rows) != want { // manifest-get has three lines, blob-head two, plus RSS
		t.Fatalf("%d rows, want %d", len(rep.Rows), want)
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, row := range rep.Rows {
		want := Targets
		if row.Workload == "rss" {
			want = Targets[:2]
		}
		for _, tg := range want {
			vs := row.Samples[tg]
			if len(vs) != 1 || !(vs[0] > 0) || math.IsInf(vs[0], 0) {
				t.Errorf("%s: %s: samples %v, want one positive figure", row.Title, tg, vs)
			}
		}
		if kind == S3 && (strings.HasPrefix(row.Workload, "push") || row.Workload == "storm") {
			// A push reaches S3 (reads may be served from caches).
			for _, tg := range Targets[:2] {
				if vs := row.S3PerRequest[tg]; len(vs) != 1 || !(vs[0] > 0) {
					t.Errorf("%s: %s: S3 requests per request %v, want one positive figure", row.Title, tg, vs)
				}
				if k := row.kindsPerCall(tg); !strings.Contains(k, "put") {
					t.Errorf("%s: %s: S3 requests by kind %q, want puts", row.Title, tg, k)
				}
			}
		}
		if (row.Workload == "push" || row.Workload == "push-chunked") && len(row.Samples["disk"]) != 1 {
			t.Errorf("%s: no disk figure", row.Title)
		}
		if (row.GoalMet == nil) != (row.Goal == Goal{}) {
			t.Errorf("%s: goal %s, evaluated %v", row.Title, row.Goal.String(row.Unit), row.GoalMet)
		}
		if !strings.Contains(table.String(), "| "+row.Title+" |") {
			t.Errorf("the table has no line %q:\n%s", row.Title, table.String())
		}
	}
	if !strings.Contains(table.String(), "storage: "+kind+", scale") {
		t.Errorf("the table does not name the storage %s:\n%s", kind, table.String())
	}
	path := filepath.Join(t.TempDir(), "report.json")
	if err := rep.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || len(back.Rows) != len(rep.Rows) || back.Machine.CPUs == 0 {
		t.Fatalf("JSON report does not read back (%v): %s", err, testutil.Tail(b, 1024))
	}
}

func TestScaled(t *testing.T) {
	full := scaled(1)
	if full != (sizes{big: 1 << 30, chunk: 8 << 20, storm: 500, catalog: 10000, tags: 5000}) {
		t.Errorf("scale 1: %+v, want issue 14's sizes", full)
	}
	tiny := scaled(0.0001)
	if tiny.big != 1<<20 || tiny.chunk != 256<<10 || tiny.storm != stormClients || tiny.catalog != 10 || tiny.tags != 10 {
		t.Errorf("scale 0.0001: %+v, want the floors", tiny)
	}
}

func TestSummarise(t *testing.T) {
	rate := &Row{Title: "rate", Unit: "MB/s", Goal: Goal{Against: "disk", Min: 0.9},
		Samples: map[string][]float64{Berth: {90, 100, 80}, Distribution: {50}, Ceiling: {200}, "disk": {100}}}
	time := &Row{Title: "time", Unit: "ms", LowerIsBetter: true, Goal: Goal{Against: Ceiling, Min: 0.3},
		Samples: map[string][]float64{Berth: {40}, Distribution: {10}, Ceiling: {10}}}
	bound := &Row{Title: "rss", Unit: "MiB", LowerIsBetter: true, Goal: Goal{Max: 32},
		Samples: map[string][]float64{Berth: {31}, Distribution: {62}}}
	r := &Report{Rows: []*Row{rate, time, bound}}
	r.Summarise()
	if rate.Median[Berth] != 90 || rate.VsDist != 1.8 || rate.VsCeil != 0.45 || rate.VsDisk != 0.9 || !*rate.GoalMet {
		t.Errorf("rate: %+v", rate)
	}
	if time.VsDist != 0.25 || time.VsCeil != 0.25 || *time.GoalMet {
		t.Errorf("time: %+v", time)
	}
	if bound.VsDist != 2 || !*bound.GoalMet || !math.IsNaN(bound.VsCeil) {
		t.Errorf("bound: %+v", bound)
	}
	if _, ok := bound.Ratios[Ceiling]; ok {
		t.Errorf("bound: a ratio to a missing ceiling: %v", bound.Ratios)
	}
}

// TestSummariseLimit: a big push is judged against the slower of the disk
// and the ceiling, whichever that is in the run.
func TestSummariseLimit(t *testing.T) {
	for _, c := range []struct {
		disk, ceiling, limit float64
		met                  bool
	}{
		{disk: 1500, ceiling: 1000, limit: 0.95, met: true}, // the ceiling binds
		{disk: 500, ceiling: 1000, limit: 1.9, met: true},   // the disk binds
		{disk: 2000, ceiling: 1200, limit: 950.0 / 1200, met: false},
	} {
		row := &Row{Title: "push", Unit: "MB/s", Goal: Goal{Against: Limit, Min: 0.92},
			Samples: map[string][]float64{Berth: {950}, Ceiling: {c.ceiling}, "disk": {c.disk}}}
		(&Report{Rows: []*Row{row}}).Summarise()
		if math.Abs(row.VsLimit-c.limit) > 1e-9 || *row.GoalMet != c.met || row.Ratios[Limit] != row.VsLimit {
			t.Errorf("disk %g, ceiling %g: of limit %g, met %v; want %g, %v", c.disk, c.ceiling, row.VsLimit, *row.GoalMet, c.limit, c.met)
		}
	}
	row := &Row{Title: "push", Unit: "MB/s", Goal: Goal{Against: Limit, Min: 0.92}, Samples: map[string][]float64{Berth: {950}, "disk": {900}}}
	(&Report{Rows: []*Row{row}}).Summarise()
	if !math.IsNaN(row.VsLimit) || row.GoalMet != nil {
		t.Errorf("no ceiling sample: of limit %g, met %v; want NaN and no verdict", row.VsLimit, row.GoalMet)
	}
}

func TestOptionsCheck(t *testing.T) {
	ok := Options{Scale: 1, Runs: 3, Duration: time.Second, Storage: []string{FS}}
	if err := ok.Check(); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*Options){
		"scale":    func(o *Options) { o.Scale = 0 },
		"runs":     func(o *Options) { o.Runs = 0 },
		"duration": func(o *Options) { o.Duration = 0 },
		"storage":  func(o *Options) { o.Storage = []string{"nfs"} },
		"none":     func(o *Options) { o.Storage = nil },
		"workload": func(o *Options) { o.Workloads = []string{"push", "fly"} },
		"factor":   func(o *Options) { o.S3Factor = 2 },
		"latency":  func(o *Options) { o.S3Latency = -time.Millisecond },
	} {
		o := ok
		edit(&o)
		if err := o.Check(); err == nil {
			t.Errorf("%s: no error for %+v", name, o)
		}
	}
}

func TestNextLink(t *testing.T) {
	for h, want := range map[string]string{
		"":                                      "",
		`</v2/_catalog?last=b&n=2>; rel="next"`: "/v2/_catalog?last=b&n=2",
		`<http://x/a>; rel="prev", <b>; rel="next"`: "b",
	} {
		if got := nextLink(h); got != want {
			t.Errorf("nextLink(%q) = %q, want %q", h, got, want)
		}
	}
}
