package conformance_test

import (
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/berth-registry/berth/internal/testutil"
)

// report is what the conformance suite leaves in its results directory:
// results.yaml (the configuration it ran with, and a status per API and per
// data set) and junit.xml (one case per test, with its errors and the
// requests and responses it made).
type report struct {
	results resultsFile
	cases   []junitCase
}

// resultsFile mirrors the suite's results.yaml. Statuses are "Pass", "Skip",
// "Disabled", "FAIL" or "Error".
type resultsFile struct {
	Config struct {
		Registry string         `yaml:"registry"`
		TLS      string         `yaml:"tls"`
		Version  string         `yaml:"version"`
		APIs     map[string]any `yaml:"apis"`
		Data     map[string]any `yaml:"data"`
	} `yaml:"config"`
	APIs map[string]string `yaml:"apis"`
	Data map[string]string `yaml:"data"`
}

// junitCase is one leaf test. Status is "passed", "skipped" (also for
// disabled tests), "failure" or "error"; SystemOut holds its errors and
// SystemErr its output (requests, responses, skip reasons).
type junitCase struct {
	Name      string `xml:"name,attr"`
	Status    string `xml:"status,attr"`
	SystemOut string `xml:"system-out"`
	SystemErr string `xml:"system-err"`
}

type junitFile struct {
	XMLName xml.Name `xml:"testsuites"`
	Suites  []struct {
		Cases []junitCase `xml:"testcase"`
	} `xml:"testsuite"`
}

func readReport(dir string) (*report, error) {
	var rep report
	b, err := os.ReadFile(filepath.Join(dir, "results.yaml"))
	if err != nil {
		return nil, err
	}
	if err := yaml.Unmarshal(b, &rep.results); err != nil {
		return nil, fmt.Errorf("results.yaml: %w", err)
	}
	b, err = os.ReadFile(filepath.Join(dir, "junit.xml"))
	if err != nil {
		return nil, err
	}
	var j junitFile
	if err := xml.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("junit.xml: %w", err)
	}
	for _, s := range j.Suites {
		rep.cases = append(rep.cases, s.Cases...)
	}
	if len(rep.cases) == 0 {
		return nil, fmt.Errorf("junit.xml lists no test")
	}
	return &rep, nil
}

type counts struct{ passed, failed, skipped int }

func (r *report) count() counts {
	var c counts
	for _, tc := range r.cases {
		switch {
		case tc.Status == "passed":
			c.passed++
		case isSkipped(tc):
			c.skipped++
		default: // failure, error, or anything unknown
			c.failed++
		}
	}
	return c
}

// Bounds on how much describe prints, so one broken feature does not bury
// the rest: full detail for the first cases, names only after that.
const (
	detailCases  = 15
	detailErrors = 2 << 10
	detailOutput = 6 << 10
)

// describe lists the cases matching keep: for each its name, its errors and
// the tail of its output, which holds the requests and responses that led to
// the verdict.
func (r *report) describe(keep func(junitCase) bool) string {
	var b strings.Builder
	n := 0
	for _, tc := range r.cases {
		if !keep(tc) {
			continue
		}
		n++
		fmt.Fprintf(&b, "--- %s: %s\n", strings.ToUpper(tc.Status), tc.Name)
		if n > detailCases {
			continue
		}
		fmt.Fprintf(&b, "  errors:\n%s\n", indent(testutil.Tail([]byte(tc.SystemOut), detailErrors), "    "))
		fmt.Fprintf(&b, "  output:\n%s\n", indent(testutil.Tail([]byte(tc.SystemErr), detailOutput), "    "))
	}
	return b.String()
}

// notPassing lists the APIs and data sets whose status in results.yaml is
// not Pass.
func (r *report) notPassing() string {
	var lines []string
	for name, st := range r.results.APIs {
		if st != "Pass" {
			lines = append(lines, fmt.Sprintf("  API %s: %s", name, st))
		}
	}
	for name, st := range r.results.Data {
		if st != "Pass" {
			lines = append(lines, fmt.Sprintf("  data %s: %s", name, st))
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func indent(s, prefix string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return prefix + "(none)"
	}
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}
