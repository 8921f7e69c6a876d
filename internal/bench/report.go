package bench

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Goal is what issue 14 asks of Berth on one line: Berth's figure over
// Against's (the ceiling, the disk or Distribution, a ratio where more is
// better) at least Min; or, without Against, Berth's figure at most Max.
type Goal struct {
	Against string  `json:"against,omitempty"`
	Min     float64 `json:"min,omitempty"`
	Max     float64 `json:"max,omitempty"`
}

func (g Goal) String(unit string) string {
	switch {
	case g == Goal{}:
		return "—"
	case g.Against == Distribution:
		return fmt.Sprintf("≥ %.2g× Distribution", g.Min)
	case g.Against == Limit:
		return fmt.Sprintf("≥ %.2f of limit", g.Min)
	case g.Against != "":
		return fmt.Sprintf("≥ %.2f of %s", g.Min, g.Against)
	}
	return fmt.Sprintf("≤ %g %s", g.Max, unit)
}

// Row is one figure of one storage kind: the samples of every target
// (and of the disk, for big pushes), one per round.
type Row struct {
	Storage       string               `json:"storage"`
	Scale         float64              `json:"scale"`
	Workload      string               `json:"workload"`
	Title         string               `json:"title"`
	Unit          string               `json:"unit"`
	LowerIsBetter bool                 `json:"lower_is_better"`
	Goal          Goal                 `json:"goal"`
	Samples       map[string][]float64 `json:"samples"` // target or "disk" → one per round
	// With Options.S3Proxy: S3 requests per API request, by registry.
	S3PerRequest map[string][]float64 `json:"s3_requests_per_request,omitempty"`
	// With Options.S3Proxy: by registry, the S3 requests of every round by
	// kind (get, put, copy, ...), and the API requests they served.
	S3Kinds  map[string]map[string]int64 `json:"s3_requests_by_kind,omitempty"`
	APICalls map[string]int64            `json:"api_requests,omitempty"`
	// Failures are the rounds that failed, by target: they have no
	// sample, and the figures are of the rounds that worked.
	Failures map[string][]Failure `json:"failures,omitempty"`
	// Filled by Summarise.
	Median  map[string]float64 `json:"median,omitempty"`
	VsDist  float64            `json:"-"` // NaN when missing
	VsCeil  float64            `json:"-"`
	VsDisk  float64            `json:"-"`
	VsLimit float64            `json:"-"`                        // Berth ÷ the slower of the disk and the ceiling
	Ratios  map[string]float64 `json:"berth_ratio_to,omitempty"` // the four above, where known
	GoalMet *bool              `json:"goal_met,omitempty"`
}

// Failure is one round of a workload that failed on a target: the
// server answered with an error, or its set-up did not finish.
type Failure struct {
	Round int    `json:"round"` // 0: not a round (the peak RSS, read after them)
	Error string `json:"error"`
}

// fail records that round failed on target with err.
func (row *Row) fail(target string, round int, err error) {
	if row.Failures == nil {
		row.Failures = map[string][]Failure{}
	}
	row.Failures[target] = append(row.Failures[target], Failure{Round: round, Error: err.Error()})
}

func newRow(kind string, scale float64, workload string, m metric) *Row {
	return &Row{Storage: kind, Scale: scale, Workload: workload, Title: m.title, Unit: m.unit, LowerIsBetter: m.lowerIsBetter,
		Goal: m.goal, Samples: map[string][]float64{},
		S3PerRequest: map[string][]float64{}, S3Kinds: map[string]map[string]int64{}, APICalls: map[string]int64{}}
}

// addKinds adds the S3 requests made between two counts of target's
// proxy, which served sent API requests.
func (row *Row) addKinds(target string, before, after map[string]int64, sent int64) {
	m := row.S3Kinds[target]
	if m == nil {
		m = map[string]int64{}
		row.S3Kinds[target] = m
	}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			m[k] += d
		}
	}
	row.APICalls[target] += sent
}

// kindsPerCall writes a registry's S3 requests per API request by kind,
// most frequent first: "head 2, get 1".
func (row *Row) kindsPerCall(target string) string {
	m, n := row.S3Kinds[target], row.APICalls[target]
	if n == 0 {
		return "—"
	}
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if c := cmp.Compare(m[b], m[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+" "+num(float64(m[k])/float64(n)))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// Report is the result of Run.
type Report struct {
	Machine  Machine   `json:"machine"`
	Date     time.Time `json:"date"`
	Runs     int       `json:"runs"`
	Duration string    `json:"duration"` // of each rate workload, per run
	Elapsed  string    `json:"elapsed"`  // of the whole benchmark, set-ups included
	Rows     []*Row    `json:"rows"`
}

// Machine describes where the report was measured.
type Machine struct {
	CPUs   int    `json:"cpus"`
	CPU    string `json:"cpu"`
	Kernel string `json:"kernel"`
	Go     string `json:"go"`
}

func machineInfo() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), CPU: "unknown", Kernel: "unknown"}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if out, err := exec.Command("uname", "-sr").Output(); err == nil {
		m.Kernel = strings.TrimSpace(string(out))
	}
	return m
}

// median of vs (NaN when empty).
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := slices.Sorted(slices.Values(vs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Limit names what a durable push can reach at most on this machine: the
// slower of the disk (write and fsync, the "disk" samples) and the ceiling
// (receive and hash, with nothing stored). A push must do both, so neither
// alone is a bound it can pass; where the disk is faster than the ceiling,
// "of disk" asks for more than any registry could do.
const Limit = "limit"

// limit is the median of a row's disk samples or of its ceiling's,
// whichever is lower (for a rate), NaN when either is missing.
func limit(row *Row) float64 {
	d, c := median(row.Samples["disk"]), median(row.Samples[Ceiling])
	if math.IsNaN(d) || math.IsNaN(c) {
		return math.NaN()
	}
	return min(d, c)
}

// ratio is how many times better Berth's figure b is than x: b/x for a
// rate, x/b for a time or a size. NaN when either is missing.
func ratio(b, x float64, lowerIsBetter bool) float64 {
	if math.IsNaN(b) || math.IsNaN(x) || b <= 0 || x <= 0 {
		return math.NaN()
	}
	if lowerIsBetter {
		return x / b
	}
	return b / x
}

// Summarise computes every row's medians, ratios and whether its goal is
// met.
func (r *Report) Summarise() {
	for _, row := range r.Rows {
		row.Median = map[string]float64{}
		for k, vs := range row.Samples {
			row.Median[k] = median(vs)
		}
		b := median(row.Samples[Berth])
		row.VsDist = ratio(b, median(row.Samples[Distribution]), row.LowerIsBetter)
		row.VsCeil = ratio(b, median(row.Samples[Ceiling]), row.LowerIsBetter)
		row.VsDisk = ratio(b, median(row.Samples["disk"]), row.LowerIsBetter)
		row.VsLimit = ratio(b, limit(row), row.LowerIsBetter)
		row.Ratios = map[string]float64{}
		for k, v := range map[string]float64{Distribution: row.VsDist, Ceiling: row.VsCeil, "disk": row.VsDisk, Limit: row.VsLimit} {
			if !math.IsNaN(v) && row.Goal != (Goal{}) {
				row.Ratios[k] = v
			}
		}
		var v float64
		switch row.Goal.Against {
		case Distribution:
			v = row.VsDist
		case Ceiling:
			v = row.VsCeil
		case "disk":
			v = row.VsDisk
		case Limit:
			v = row.VsLimit
		default:
			v = b
		}
		if !math.IsNaN(v) && row.Goal != (Goal{}) {
			met := v >= row.Goal.Min
			if row.Goal.Against == "" {
				met = v <= row.Goal.Max
			}
			row.GoalMet = &met
		}
		if len(row.Failures[Berth]) > 0 && row.Goal != (Goal{}) {
			met := false // a goal is not met by a registry that failed
			row.GoalMet = &met
		}
	}
}

// figure writes a row's median of key with its spread over the rounds
// that worked and, when some failed, how many worked and which notes
// say why the others failed.
func figure(row *Row, key string, notes *failureNotes) string {
	vs := row.Samples[key]
	s := "—"
	if len(vs) > 0 {
		s = num(median(vs)) + " " + row.Unit
		if len(vs) > 1 {
			s += fmt.Sprintf(" (%s–%s)", num(slices.Min(vs)), num(slices.Max(vs)))
		}
	}
	fs := row.Failures[key]
	if len(fs) == 0 {
		return s
	}
	refs := make([]string, len(fs))
	for i, f := range fs {
		refs[i] = fmt.Sprintf("[%d]", notes.ref(row, key, f))
	}
	return fmt.Sprintf("%s; %d of %d runs; %d failed: %s", s, len(vs), len(vs)+len(fs), len(fs), strings.Join(refs, " "))
}

// failureNotes numbers the failures of one table, one note per target,
// workload and round (a workload's rows share its failures).
type failureNotes struct {
	index map[string]int
	lines []string
}

func (n *failureNotes) ref(row *Row, target string, f Failure) int {
	key := fmt.Sprintf("%s\x00%s\x00%d", target, row.Workload, f.Round)
	if i, ok := n.index[key]; ok {
		return i
	}
	if n.index == nil {
		n.index = map[string]int{}
	}
	n.lines = append(n.lines, fmt.Sprintf("%s, %s: %s", target, failedWhere(row, f), firstLine(f.Error)))
	n.index[key] = len(n.lines)
	return len(n.lines)
}

// failedWhere names the workload and round of a failure.
func failedWhere(row *Row, f Failure) string {
	if f.Round == 0 {
		return row.Workload
	}
	return fmt.Sprintf("%s, round %d", row.Workload, f.Round)
}

// firstLine is the first line of an error (a server's log follows it),
// at most 300 bytes of it.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 300 {
		s = strings.ToValidUTF8(s[:300], "") + "…"
	}
	return s
}

// Failed lists the failed runs of target, one line per storage kind,
// workload and round: "s3 storm, round 3: PUT ...: 500 ...". Empty when
// every run of target worked.
func (r *Report) Failed(target string) []string {
	var out []string
	seen := map[string]bool{}
	for _, row := range r.Rows {
		for _, f := range row.Failures[target] {
			line := fmt.Sprintf("%s %s: %s", row.Storage, failedWhere(row, f), firstLine(f.Error))
			if !seen[line] {
				seen[line] = true
				out = append(out, line)
			}
		}
	}
	return out
}

func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	case v < 0.1:
		return fmt.Sprintf("%.3f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// WriteTable writes the report as text: the machine, then one Markdown
// table per storage kind, ready to paste into docs/benchmarks.md.
func (r *Report) WriteTable(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "regbench %s: %d CPUs, %s, %s, %s\n", r.Date.Format(time.RFC3339), r.Machine.CPUs, r.Machine.CPU, r.Machine.Kernel, r.Machine.Go)
	fmt.Fprintf(bw, "%d run(s) of each workload on each target, rate workloads %s per run, %s in all;\n", r.Runs, r.Duration, r.Elapsed)
	fmt.Fprintf(bw, "figures are medians (min–max over the runs); ratios > 1 mean Berth is better\n(rates: Berth ÷ other; times and sizes: other ÷ Berth)\n")
	var failed []string
	for _, t := range Targets {
		if n := len(r.Failed(t)); n > 0 {
			failed = append(failed, fmt.Sprintf("%s %d", t, n))
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(bw, "FAILED RUNS: %s (notes under each table)\n", strings.Join(failed, ", "))
	}
	for i := 0; i < len(r.Rows); {
		kind := r.Rows[i].Storage
		j := i
		s3 := false
		for ; j < len(r.Rows) && r.Rows[j].Storage == kind; j++ {
			s3 = s3 || len(r.Rows[j].S3PerRequest) > 0
		}
		fmt.Fprintf(bw, "\nstorage: %s, scale %g\n\n", kind, r.Rows[i].Scale)
		head, rule := "| workload | Distribution | Berth | ceiling | disk | Berth ÷ Distribution | Berth ÷ ceiling | goal | met |", "|---|---:|---:|---:|---:|---:|---:|---:|:-:|"
		if s3 {
			head, rule = head+" S3 requests per request, Distribution / Berth |", rule+"---:|"
		}
		fmt.Fprintln(bw, head)
		fmt.Fprintln(bw, rule)
		notes := &failureNotes{}
		for _, row := range r.Rows[i:j] {
			writeRow(bw, row, s3, notes)
		}
		if len(notes.lines) > 0 {
			fmt.Fprintf(bw, "\nFailed runs (%s); the figures above are of the runs that worked:\n\n", kind)
			for k, line := range notes.lines {
				fmt.Fprintf(bw, "[%d] %s\n", k+1, line)
			}
		}
		if s3 {
			fmt.Fprintf(bw, "\nS3 requests per API request, by kind (%s)\n\n", kind)
			fmt.Fprintln(bw, "| workload | Distribution | Berth |")
			fmt.Fprintln(bw, "|---|---|---|")
			for _, row := range r.Rows[i:j] {
				if len(row.APICalls) > 0 {
					fmt.Fprintf(bw, "| %s | %s | %s |\n", row.Title, row.kindsPerCall(Distribution), row.kindsPerCall(Berth))
				}
			}
		}
		i = j
	}
	return bw.Flush()
}

func writeRow(w io.Writer, row *Row, s3 bool, notes *failureNotes) {
	vsCeil := num(row.VsCeil)
	switch row.Goal.Against {
	case "disk":
		vsCeil += ", " + num(row.VsDisk) + " of disk"
	case Limit:
		vsCeil += ", " + num(row.VsDisk) + " of disk, " + num(row.VsLimit) + " of limit"
	}
	met := "—"
	if row.GoalMet != nil {
		met = map[bool]string{true: "yes", false: "**no**"}[*row.GoalMet]
	}
	if len(row.Failures[Berth]) > 0 {
		met = "**Berth failed**"
	}
	fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |", row.Title, figure(row, Distribution, notes), figure(row, Berth, notes),
		figure(row, Ceiling, notes), figure(row, "disk", notes), num(row.VsDist), vsCeil, row.Goal.String(row.Unit), met)
	if s3 {
		if len(row.S3PerRequest) > 0 {
			fmt.Fprintf(w, " %s / %s |", num(median(row.S3PerRequest[Distribution])), num(median(row.S3PerRequest[Berth])))
		} else {
			fmt.Fprint(w, " |")
		}
	}
	fmt.Fprintln(w)
}

// WriteJSON writes the report, samples included, as JSON to path.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
