package bench

import (
	"context"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"slices"
	"syscall"
	"time"
)

// Options select what Run measures.
type Options struct {
	Scale     float64       // of the sizes (1 GiB, 500 images, 10,000 repositories...)
	S3Factor  float64       // on S3, the sizes are Scale × S3Factor; 0: 1
	Runs      int           // rounds of every workload on every target
	Duration  time.Duration // of each rate workload (manifest GET, range GETs) per round
	Storage   []string      // FS and/or S3
	Workloads []string      // of WorkloadNames; empty: all
	Workdir   string        // where storage directories go; "": os.TempDir()
	Versitygw string        // versitygw binary for S3; "": found on PATH
	// S3Proxy puts a proxy between each registry and S3 that counts S3
	// requests (reported per API request) and delays each by S3Latency.
	S3Proxy   bool
	S3Latency time.Duration
	Bins      Binaries  // the servers (Build)
	Progress  io.Writer // a line per measurement; nil: none
}

// Check validates o.
func (o *Options) Check() error {
	if !(o.Scale > 0 && o.Scale <= 4) {
		return fmt.Errorf("scale %v: want a number in (0, 4]", o.Scale)
	}
	if o.S3Factor != 0 && !(o.S3Factor > 0 && o.S3Factor <= 1) {
		return fmt.Errorf("s3 factor %v: want a number in (0, 1]", o.S3Factor)
	}
	if o.S3Latency < 0 || o.S3Latency > time.Second {
		return fmt.Errorf("s3 latency %v: want 0 to 1s", o.S3Latency)
	}
	if o.Runs < 1 || o.Runs > 100 {
		return fmt.Errorf("runs %d: want 1 to 100", o.Runs)
	}
	if o.Duration < 10*time.Millisecond || o.Duration > 10*time.Minute {
		return fmt.Errorf("duration %v: want 10ms to 10m", o.Duration)
	}
	if len(o.Storage) == 0 {
		return fmt.Errorf("no storage kind: want fs, s3 or both")
	}
	for _, s := range o.Storage {
		if s != FS && s != S3 {
			return fmt.Errorf("unknown storage kind %q: want fs or s3", s)
		}
	}
	for _, w := range o.Workloads {
		if !slices.Contains(WorkloadNames, w) {
			return fmt.Errorf("unknown workload %q: want some of %v", w, WorkloadNames)
		}
	}
	return nil
}

// Run measures o's workloads on each storage kind: the three servers run
// side by side for the whole kind, and every round runs each workload on
// Berth, then Distribution, then the ceiling (after the disk, for big
// pushes). Set-ups (seeding the catalog, tags, the blob that range GETs and
// the pull read) run on first use and are not timed.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	if o.Bins.Berth == "" || o.Bins.Distribution == "" || o.Bins.Ceiling == "" {
		return nil, fmt.Errorf("the three server binaries are needed (Build)")
	}
	if o.Workdir == "" {
		o.Workdir = os.TempDir()
	}
	start := time.Now()
	r := &Report{Machine: machineInfo(), Date: start.UTC(), Runs: o.Runs, Duration: o.Duration.String()}
	for _, kind := range o.Storage {
		rows, err := runStorage(ctx, &o, kind)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kind, err)
		}
		r.Rows = append(r.Rows, rows...)
	}
	r.Elapsed = time.Since(start).Round(time.Second).String()
	return r, nil
}

func (o *Options) progress(format string, args ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, format+"\n", args...)
	}
}

func runStorage(ctx context.Context, o *Options, kind string) ([]*Row, error) {
	st, err := newStorage(kind, o.Workdir, o.Versitygw, o.S3Proxy || o.S3Latency > 0, o.S3Latency)
	if err != nil {
		return nil, err
	}
	defer st.close()
	bins := map[string]string{Berth: o.Bins.Berth, Distribution: o.Bins.Distribution, Ceiling: o.Bins.Ceiling}
	targets, err := startTargets(st, func(name string) string { return bins[name] }, func(name, addr string) ([]string, error) {
		switch name {
		case Berth:
			cfg, err := st.config(name, addr)
			return []string{"serve", cfg}, err
		case Distribution:
			cfg, err := st.config(name, addr)
			return []string{cfg}, err
		}
		return []string{addr}, nil
	})
	defer stopTargets(targets)
	if err != nil {
		return nil, err
	}
	return measure(ctx, o, st, targets)
}

// startTargets starts the server of each of Targets, bin(name) with
// args(name, addr), its log in st's directory. It returns those it
// started, also with an error.
func startTargets(st *storage, bin func(name string) string, args func(name, addr string) ([]string, error)) ([]*target, error) {
	var targets []*target
	for _, name := range Targets {
		srv, err := startServer(name, bin(name), st.dir, func(addr string) ([]string, error) { return args(name, addr) })
		if err != nil {
			return targets, err
		}
		targets = append(targets, newTarget(name, srv))
	}
	return targets, nil
}

func stopTargets(targets []*target) {
	for _, t := range targets {
		t.c.close()
		t.srv.stop()
	}
}

func newTarget(name string, srv *server) *target {
	return &target{name: name, srv: srv, c: newClient(srv.addr), done: map[string]bool{}, setups: map[string]int{}}
}

// measure runs o's rounds of its workloads on targets (Targets, in that
// order) serving storage st, and reads their peak RSS at the end. A
// workload that fails on a target (an error from the server, a set-up
// that did not finish) is recorded against that target, workload and
// round, and the run goes on; only the harness's own failures (the disk,
// the context) end it.
func measure(ctx context.Context, o *Options, st *storage, targets []*target) ([]*Row, error) {
	kind := st.kind
	scale := o.Scale
	if kind == S3 && o.S3Factor != 0 {
		scale *= o.S3Factor
	}
	e := &env{sz: scaled(scale), o: o, src: newSource(), cache: map[string]*content{}, storm: map[string][]*image{}}
	if err := checkSpace(st.dir, spaceNeeded(e.sz.big, o.Runs)); err != nil {
		return nil, err
	}
	var rows []*Row
	var wls []workload
	for _, w := range workloads(e.sz, kind, o.S3Latency) {
		if len(o.Workloads) == 0 || slices.Contains(o.Workloads, w.name) {
			wls = append(wls, w)
			var ws []*Row
			for _, m := range w.metrics {
				ws = append(ws, newRow(kind, scale, w.name, m))
			}
			rows = append(rows, ws...)
		}
	}
	for round := 1; round <= o.Runs; round++ {
		i := 0
		for _, w := range wls {
			wrows := rows[i : i+len(w.metrics)]
			i += len(w.metrics)
			if err := runRound(ctx, o, e, st, w, wrows, targets, round); err != nil {
				return nil, fmt.Errorf("%s, round %d: %w", w.name, round, err)
			}
		}
		// A round's pushed blobs and images are not needed again.
		for k := range e.cache {
			if k != "big" && k != "disk" {
				delete(e.cache, k)
			}
		}
		e.storm = map[string][]*image{}
	}
	rss := newRow(kind, scale, "rss", rssMetric(kind))
	for _, t := range targets[:2] {
		v, err := t.srv.peakRSS()
		if err != nil {
			rss.fail(t.name, 0, fmt.Errorf("peak RSS: %w", err))
			o.progress("%s: %s: peak RSS: FAILED: %v", kind, t.name, err)
			continue
		}
		rss.Samples[t.name] = []float64{float64(v) / (1 << 20)}
	}
	return append(rows, rss), nil
}

// runRound runs one round of w on each target in turn (a rate workload's
// in slices: runSliced). A target's failure is recorded in rows and the
// next target runs; the error returned is the harness's own (the disk
// figure) or ctx's.
func runRound(ctx context.Context, o *Options, e *env, st *storage, w workload, rows []*Row, targets []*target, round int) error {
	if w.disk {
		b, err := e.sharedBlob("disk", e.sz.big)
		if err != nil {
			return err
		}
		if err := settle(st.dir); err != nil {
			return err
		}
		v, err := measureDisk(st.dir, b)
		if err != nil {
			return err
		}
		rows[0].Samples["disk"] = append(rows[0].Samples["disk"], v)
		o.progress("%s round %d: %-13s %-12s %10.1f MB/s", st.kind, round, w.name, "disk", v)
	}
	if w.rate != nil {
		return runSliced(ctx, o, e, st, w, rows, targets, round)
	}
	for _, t := range targets {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := runTarget(o, e, st, w, rows, t, round)
		if err == nil {
			continue
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		failed(o, st, w, rows, t, round, err)
	}
	return nil
}

// failed records that w failed on t in round.
func failed(o *Options, st *storage, w workload, rows []*Row, t *target, round int, err error) {
	for _, row := range rows {
		row.fail(t.name, round, err)
	}
	o.progress("%s round %d: %-13s %-12s FAILED: %v", st.kind, round, w.name, t.name, err)
}

// maxSetups is how many times a workload's set-up is tried on a target,
// once per round: a failure of the server may be passing, but a set-up
// can take a minute (10,000 repositories), which the run's time budget
// allows twice at most.
const maxSetups = 2

// runTarget sets w up on t if it is not yet (setUp), then measures one
// round of it.
func runTarget(o *Options, e *env, st *storage, w workload, rows []*Row, t *target, round int) error {
	if err := setUp(o, e, st, w, t); err != nil {
		return err
	}
	if w.disk {
		if err := settle(st.dir); err != nil {
			return err
		}
	}
	m := startMeasure(st, t)
	vs, err := w.run(e, t, round)
	if err != nil {
		return fmt.Errorf("%w%s", err, t.srv.logTail())
	}
	m.record(o, st, w, rows, round, vs)
	return nil
}

// setUp sets w up on t if it is not yet; a set-up that failed is tried
// again in the next round, up to maxSetups times.
func setUp(o *Options, e *env, st *storage, w workload, t *target) error {
	if !t.done[w.name] && w.setup != nil {
		if t.setups[w.name] >= maxSetups {
			return fmt.Errorf("not run: its set-up failed %d times", maxSetups)
		}
		t.setups[w.name]++
		start := time.Now()
		if err := w.setup(e, t); err != nil {
			return fmt.Errorf("set-up: %w%s", err, t.srv.logTail())
		}
		o.progress("%s set-up: %-13s %-12s %10.1f s", st.kind, w.name, t.name, time.Since(start).Seconds())
	}
	t.done[w.name] = true
	return nil
}

// measurement holds what a target's counters read when a measurement
// began: its CPU time and, behind an S3 proxy, the requests.
type measurement struct {
	t             *target
	px            *s3Proxy
	sent0, s3req0 int64
	kinds0        map[string]int64
	cpu0          time.Duration
}

func startMeasure(st *storage, t *target) *measurement {
	m := &measurement{t: t, px: st.proxies[t.name]}
	if m.px != nil {
		m.sent0, m.s3req0, m.kinds0 = t.c.sent.Load(), m.px.requests.Load(), m.px.kinds()
	}
	m.cpu0 = t.srv.cpuTime()
	return m
}

// record adds vs, a value per row, and what the counters say since the
// measurement began to rows, with a progress line each.
func (m *measurement) record(o *Options, st *storage, w workload, rows []*Row, round int, vs []float64) {
	t := m.t
	hwm, _ := t.srv.peakRSS()
	o.progress("%s round %d: %-13s %-12s %10.2f s of CPU, peak RSS so far %.1f MiB", st.kind, round, w.name, t.name,
		(t.srv.cpuTime() - m.cpu0).Seconds(), float64(hwm)/(1<<20))
	if m.px != nil {
		sent := max(t.c.sent.Load()-m.sent0, 1)
		per := float64(m.px.requests.Load()-m.s3req0) / float64(sent)
		rows[0].S3PerRequest[t.name] = append(rows[0].S3PerRequest[t.name], per)
		rows[0].addKinds(t.name, m.kinds0, m.px.kinds(), sent)
		o.progress("%s round %d: %-13s %-12s %10.1f S3 requests per request", st.kind, round, w.name, t.name, per)
	}
	for i, v := range vs {
		rows[i].Samples[t.name] = append(rows[i].Samples[t.name], v)
		o.progress("%s round %d: %-13s %-12s %10.1f %s", st.kind, round, w.name, t.name, v, rows[i].Unit)
	}
}

// Slices of a rate workload's round: at most rateSlices per target, none
// shorter than minSlice.
const (
	rateSlices = 10
	minSlice   = 250 * time.Millisecond
)

// runSliced runs one round of rate workload w: the options' duration (or
// its part) on each target, cut into slices run in turn (Berth, Distribution, the
// ceiling, Berth again...), so that each target meets the host in the
// same states. Run back to back, a target's 5 s could fall in a quieter
// or busier stretch of this shared machine than the next one's: rounds of
// the ceiling's range GETs spread 12,338-17,215 req/s in one run, more
// than Berth's distance to it. A target's figures are those of all its
// slices together: requests over the time they took, and the quantiles of
// all their latencies.
func runSliced(ctx context.Context, o *Options, e *env, st *storage, w workload, rows []*Row, targets []*target, round int) error {
	type share struct {
		m       *measurement
		op      func(r *mrand.Rand) error
		elapsed time.Duration
		lat     []time.Duration
		err     error
	}
	var live []*share
	for _, t := range targets {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := setUp(o, e, st, w, t); err != nil {
			failed(o, st, w, rows, t, round, err)
			continue
		}
		live = append(live, &share{m: startMeasure(st, t), op: w.rate.op(e, t)})
	}
	span := o.Duration
	if w.rate.part > 0 {
		span /= time.Duration(w.rate.part)
	}
	n := max(1, min(rateSlices, int(span/minSlice)))
	d := span / time.Duration(n)
	for range n {
		for _, s := range live {
			if err := ctx.Err(); err != nil {
				return err
			}
			if s.err != nil {
				continue
			}
			elapsed, lat, err := hammer(d, w.rate.clients, s.op)
			if err != nil {
				s.err = fmt.Errorf("%w%s", err, s.m.t.srv.logTail())
				continue
			}
			s.elapsed += elapsed
			s.lat = append(s.lat, lat...)
		}
	}
	for _, s := range live {
		if s.err == nil && len(s.lat) == 0 {
			s.err = fmt.Errorf("no request finished in %v", span)
		}
		if s.err != nil {
			failed(o, st, w, rows, s.m.t, round, s.err)
			continue
		}
		slices.Sort(s.lat)
		s.m.record(o, st, w, rows, round, w.rate.values(e, float64(len(s.lat))/s.elapsed.Seconds(), s.lat))
	}
	return nil
}

// spaceNeeded is about what one storage kind writes at most: per registry
// two pushes of big per round and the blob range and pull read, plus the
// disk figure's file.
func spaceNeeded(big int64, runs int) int64 {
	return (int64(runs)*2+1)*big*2 + big
}

// checkSpace fails when the file system of dir has less than need bytes
// free (plus a tenth).
func checkSpace(dir string, need int64) error {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return fmt.Errorf("free space of %s: %w", dir, err)
	}
	if free := int64(fs.Bavail) * int64(fs.Bsize); free < need+need/10 {
		return fmt.Errorf("%s has %d MiB free; this run needs about %d MiB: free some, or lower -scale or -runs", dir, free>>20, need>>20)
	}
	return nil
}
