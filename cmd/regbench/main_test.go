package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/bench"
)

// TestUsageErrors shows that a bad command line is refused before anything
// is built or started, with exit code 2 and a message naming the problem.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-scale", "9"}, "scale 9"},
		{[]string{"-runs", "0"}, "runs 0"},
		{[]string{"-storage", "nfs"}, `unknown storage kind "nfs"`},
		{[]string{"-workloads", "push,fly"}, `unknown workload "fly"`},
		{[]string{"-s3-factor", "3"}, "s3 factor 3"},
		{[]string{"-bogus"}, "-bogus"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		var stdout, stderr bytes.Buffer
		err := run(t.Context(), tc.args, &stdout, &stderr)
		if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v (exit %d), want a usage error naming %q", tc.args, err, exitCode(err), tc.want)
		}
		if stdout.Len() != 0 {
			t.Errorf("%v: wrote %q to standard output", tc.args, stdout.String())
		}
	}
}

func TestSplit(t *testing.T) {
	if got := split(" fs, ,s3 "); len(got) != 2 || got[0] != "fs" || got[1] != "s3" {
		t.Errorf("split: %q", got)
	}
	if got := split(""); got != nil {
		t.Errorf("split of nothing: %q", got)
	}
}

// TestCheckFailures: a run Distribution or the ceiling failed is told on
// standard error and the command succeeds; one Berth failed makes it fail
// (exit code 1), naming the workload, round and error.
func TestCheckFailures(t *testing.T) {
	row := func(target string) *bench.Row {
		return &bench.Row{Storage: "s3", Workload: "storm", Samples: map[string][]float64{},
			Failures: map[string][]bench.Failure{target: {{Round: 3, Error: "PUT /v2/x/manifests/r3-1: 500: ExistingObjectIsDirectory\nlog..."}}}}
	}
	for _, target := range bench.Targets {
		var stderr bytes.Buffer
		err := checkFailures(&bench.Report{Rows: []*bench.Row{row(target)}}, &stderr)
		const where = "s3 storm, round 3: PUT /v2/x/manifests/r3-1: 500: ExistingObjectIsDirectory"
		if target == bench.Berth {
			if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), where) {
				t.Errorf("Berth failed: error %v, want one naming %q", err, where)
			}
			continue
		}
		if err != nil || !strings.Contains(stderr.String(), target) || !strings.Contains(stderr.String(), where) {
			t.Errorf("%s failed: error %v, standard error %q; want none, and the failure told", target, err, stderr.String())
		}
	}
	var stderr bytes.Buffer
	if err := checkFailures(&bench.Report{Rows: []*bench.Row{{Workload: "storm"}}}, &stderr); err != nil || stderr.Len() != 0 {
		t.Errorf("no failure: %v, %q", err, stderr.String())
	}
}
