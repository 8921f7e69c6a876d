package main

import (
	"bytes"
	"strings"
	"testing"
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
