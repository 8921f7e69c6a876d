package metrics_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/registry/metrics"
)

// TestMaintenanceNil: with metrics off (a nil *Metrics) recording a run
// does nothing.
func TestMaintenanceNil(t *testing.T) {
	var m *metrics.Metrics
	m.GCRun(metrics.GCResult{Blobs: 1}, nil)
	m.GCFailedToStart()
	m.ScrubRun(metrics.ScrubResult{Problems: map[string]int{"corrupt-blob": 1}}, nil)
	m.PurgeRun(time.Second, 1, 1, 1, 1, false, nil)
}

// TestWriteTextfile: the file holds the named jobs' series and nothing
// else, a job that did not run has none, and a failed run moves no
// last-success time.
func TestWriteTextfile(t *testing.T) {
	m, err := metrics.New()
	if err != nil {
		t.Fatal(err)
	}
	m.GCRun(metrics.GCResult{Elapsed: 2 * time.Second, Blobs: 3, Bytes: 300, Manifests: 1}, nil)
	m.GCRun(metrics.GCResult{Elapsed: time.Second, Blobs: 1, Bytes: 10}, errors.New("sweep: unavailable"))
	m.GCRun(metrics.GCResult{Elapsed: time.Second, Blobs: 7, Bytes: 700, DryRun: true}, nil)
	m.UploadStarted()
	path := filepath.Join(t.TempDir(), "gc.prom")
	if err := m.WriteTextfile(path, "gc"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, want := range []string{
		`berth_gc_runs_total{result="success"} 2`,
		`berth_gc_runs_total{result="error"} 1`,
		`berth_gc_deleted_objects_total{kind="blob"} 4`, // the dry run's 7 would-be deletions do not count
		`berth_gc_deleted_objects_total{kind="manifest"} 1`,
		`berth_gc_deleted_bytes_total 310`,
		`berth_gc_duration_seconds_count 3`,
		`berth_gc_duration_seconds_sum 4`,
		`berth_gc_last_success_timestamp_seconds `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in\n%s", want, text)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if name := strings.TrimPrefix(strings.TrimPrefix(line, "# HELP "), "# TYPE "); !strings.HasPrefix(name, "berth_gc_") {
			t.Errorf("line %q is not of a gc series", line)
		}
	}

	// Scrub did not run: its file has no series at all.
	if err := m.WriteTextfile(path, "scrub"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); len(b) != 0 {
		t.Errorf("scrub's file without a scrub run:\n%s", b)
	}
	m.ScrubRun(metrics.ScrubResult{Elapsed: time.Second}, errors.New("storage unreachable"))
	if err := m.WriteTextfile(path, "scrub"); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	if text := string(b); !strings.Contains(text, `berth_scrub_runs_total{result="error"} 1`) || strings.Contains(text, "berth_scrub_last_success_timestamp_seconds") {
		t.Errorf("after a failed scrub:\n%s", text)
	}
}

// TestScrubIndexRepairs: repairing an index entry without a repository
// removes a marker; repairing a missing entry removes nothing.
func TestScrubIndexRepairs(t *testing.T) {
	m, err := metrics.New()
	if err != nil {
		t.Fatal(err)
	}
	m.ScrubRun(metrics.ScrubResult{Elapsed: time.Second,
		Problems: map[string]int{"index-missing": 2, "index-extra": 1},
		Removed:  map[string]int{"index-missing": 2, "index-extra": 1}}, nil)
	path := filepath.Join(t.TempDir(), "scrub.prom")
	if err := m.WriteTextfile(path, "scrub"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	text := string(b)
	for _, want := range []string{
		`berth_scrub_problems_total{kind="index_missing"} 2`,
		`berth_scrub_problems_total{kind="index_extra"} 1`,
		`berth_scrub_removed_objects_total{kind="index_marker"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in\n%s", want, text)
		}
	}
	if strings.Contains(text, `berth_scrub_removed_objects_total{kind="index_missing"}`) || strings.Contains(text, `kind=""`) {
		t.Errorf("a missing entry's repair counted as a removal:\n%s", text)
	}
}
