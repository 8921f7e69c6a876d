package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/berth-registry/berth/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "regbench:", err)
		os.Exit(exitCode(err))
	}
}

// usageError is a bad command line (exit code 2).
type usageError struct{ error }

func exitCode(err error) int {
	if _, ok := errors.AsType[usageError](err); ok {
		return 2
	}
	return 1
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("regbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	storage := fs.String("storage", "fs,s3", "storage kinds, comma-separated: fs, s3")
	workloads := fs.String("workloads", "", "workloads, comma-separated (default all): "+strings.Join(bench.WorkloadNames, ", "))
	o := bench.Options{}
	fs.Float64Var(&o.Scale, "scale", 1, "size factor of the workloads (1: 1 GiB pushes, 500 images, 10,000 repositories, 5,000 tags)")
	fs.Float64Var(&o.S3Factor, "s3-factor", 0.25, "on S3 the sizes are -scale times this: versitygw on the same cores makes every byte cost more")
	fs.IntVar(&o.Runs, "runs", 3, "rounds of every workload on every target")
	fs.DurationVar(&o.Duration, "duration", 5*time.Second, "length of each rate workload (manifest GET, range GETs) per round")
	fs.StringVar(&o.Workdir, "workdir", "", "directory for the storage (default the system's temporary directory)")
	fs.StringVar(&o.Versitygw, "versitygw", "", "versitygw binary for -storage s3 (default: found on PATH)")
	fs.BoolVar(&o.S3Proxy, "s3-proxy", false, "count the S3 requests of each registry (per API request) through a proxy in front of versitygw")
	fs.DurationVar(&o.S3Latency, "s3-latency", 0, "add this latency to every S3 request, in the proxy (implies -s3-proxy)")
	jsonOut := fs.String("json", "", "also write the report, with every sample, as JSON to this file")
	bin := fs.String("bin", "", "directory holding registry, distserver and ceilingserver (default: build them)")
	quiet := fs.Bool("q", false, "no progress lines on standard error")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	o.Storage = split(*storage)
	o.Workloads = split(*workloads)
	if !*quiet {
		o.Progress = stderr
	}
	if err := o.Check(); err != nil {
		return usageError{err}
	}
	if *bin == "" {
		dir, err := os.MkdirTemp("", "regbench-bin-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		fmt.Fprintln(stderr, "regbench: building the servers")
		if o.Bins, err = bench.Build(ctx, dir); err != nil {
			return err
		}
	} else {
		o.Bins = bench.Binaries{Berth: filepath.Join(*bin, "registry"), Distribution: filepath.Join(*bin, "distserver"),
			Ceiling: filepath.Join(*bin, "ceilingserver")}
	}
	rep, err := bench.Run(ctx, o)
	if err != nil {
		return err
	}
	rep.Summarise()
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	if *jsonOut != "" {
		if err := rep.WriteJSON(*jsonOut); err != nil {
			return err
		}
	}
	return checkFailures(rep, stderr)
}

// checkFailures tells of the runs that failed, and fails when Berth's
// did: a Berth error under a benchmark's load is a bug of the product
// under test, where one of Distribution or the ceiling (references whose
// failures are not ours to fix, such as Distribution's 409 from
// versitygw in the storm) only costs its figure a sample, and is shown
// in the table.
func checkFailures(rep *bench.Report, stderr io.Writer) error {
	for _, t := range bench.Targets[1:] {
		if fs := rep.Failed(t); len(fs) > 0 {
			fmt.Fprintf(stderr, "regbench: %d run(s) failed on %s (not Berth: reported, not fatal):\n  %s\n", len(fs), t, strings.Join(fs, "\n  "))
		}
	}
	if fs := rep.Failed(bench.Berth); len(fs) > 0 {
		return fmt.Errorf("%d run(s) of Berth failed:\n  %s", len(fs), strings.Join(fs, "\n  "))
	}
	return nil
}

// split parses a comma-separated list.
func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
