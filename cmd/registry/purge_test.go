package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/registry/config"
)

// TestServePurgesUploads proves serve runs the upload purger configured
// with Distribution's keys: an upload left in the root a week ago (as
// Distribution lays it out) goes within a few intervals, with a log line
// naming it; one started a minute ago stays.
func TestServePurgesUploads(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "data")
	uploads := filepath.Join(root, "docker/registry/v2/repositories/app/_uploads")
	const staleID, youngID = "0b6a1f6e-3c2d-4e5f-8a9b-0c1d2e3f4a5b", "1c7b2a7f-4d3e-4f60-9bac-1d2e3f4a5b6c"
	week := time.Now().Add(-7 * 24 * time.Hour)
	for id, at := range map[string]time.Time{staleID: week, youngID: time.Now().Add(-time.Minute)} {
		d := filepath.Join(uploads, id)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, content := range map[string]string{"startedat": at.UTC().Format(time.RFC3339), "data": "partial layer"} {
			f := filepath.Join(d, name)
			if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(f, at, at); err != nil {
				t.Fatal(err)
			}
		}
	}
	cfg := writeFile(t, dir, "config.yml", "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: "+root+
		"\n  maintenance:\n    uploadpurging:\n      enabled: true\n      age: 1h\n      interval: 50ms\n      dryrun: false\nhttp:\n  addr: 127.0.0.1:0\n")
	s := startServe(t, []string{"serve", cfg}, nil)
	// Wait for the run that removed the stale upload to finish, so that
	// stopping the server cannot cut it short before its summary line.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := os.Stat(filepath.Join(uploads, staleID))
		log := s.stderr.String()
		if i := strings.Index(log, staleID); os.IsNotExist(err) && i >= 0 && strings.LastIndex(log, "upload purge done") > i {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stale upload still there after 10s; stderr: %s", s.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(uploads, youngID, "startedat")); err != nil {
		t.Errorf("young upload purged: %v", err)
	}
	s.stop()
	log := s.stderr.String()
	if !strings.Contains(log, "purged upload") || !strings.Contains(log, staleID) || !strings.Contains(log, "upload purge done") {
		t.Errorf("log does not name the purged upload: %s", log)
	}
}

// TestUploadPurgingDefaults: Distribution's defaults when the section or
// its durations are absent; off when disabled or read-only.
func TestUploadPurgingDefaults(t *testing.T) {
	for _, tt := range []struct {
		name    string
		c       config.Maintenance
		wantOK  bool
		wantAge time.Duration
		wantInt time.Duration
		wantDry bool
	}{
		{"absent", config.Maintenance{}, true, 168 * time.Hour, 24 * time.Hour, false},
		{"enabled only", config.Maintenance{UploadPurging: &config.UploadPurging{Enabled: true}}, true, 168 * time.Hour, 24 * time.Hour, false},
		{"set", config.Maintenance{UploadPurging: &config.UploadPurging{Enabled: true, Age: time.Hour, Interval: time.Minute, DryRun: true}}, true, time.Hour, time.Minute, true},
		{"disabled", config.Maintenance{UploadPurging: &config.UploadPurging{Age: time.Hour}}, false, 0, 0, false},
		{"read-only", config.Maintenance{ReadOnly: config.ReadOnly{Enabled: true}}, false, 0, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &config.Config{}
			c.Storage.Maintenance = tt.c
			p, ok := uploadPurging(c)
			if ok != tt.wantOK || ok && (p.Age != tt.wantAge || p.Interval != tt.wantInt || p.DryRun != tt.wantDry) {
				t.Errorf("uploadPurging = %+v, %v", p, ok)
			}
		})
	}
}
