package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/registry/config"
	"github.com/berth-registry/berth/registry/metrics"
	"github.com/berth-registry/berth/registry/storage"
)

// Exit codes of scrub, beyond exitOK (nothing wrong) and exitUsage.
const (
	exitScrubProblems = 1 // damage found (and, with --repair, removed)
	exitScrubFailed   = 3 // the scrub could not run to its end
)

const scrubUsage = `Usage: registry scrub [--repair] [--metrics-file FILE] CONFIG

Checks the storage of CONFIG (or REGISTRY_CONFIGURATION_PATH): re-hashes
every blob, and checks every repository's layer links, manifests (that they
parse and that what they reference is there) and tags. It prints one line
per problem, then a summary. Orphan blobs (used by no manifest: garbage for
garbage collection, not damage) get a line each too, "orphan-blob ...", but
do not count as problems.

It also writes the entries missing from Berth's referrers index, derived
from the manifests, so that a root written by Distribution lists its
referrers: that is additive and safe, and done with or without --repair.
Likewise it builds the repository index that serves the catalog when the
root has never had one. A repository missing from a built index, or an
index entry without a repository, is a problem ("index-missing",
"index-extra"). Otherwise, without --repair it changes nothing.

  --repair  remove what is corrupt: blobs whose bytes do not match their
            digest, links to missing or corrupt blobs, manifests missing
            something they reference, tags to missing manifests, stale
            referrers entries, index entries of repositories that are
            gone; and write the index entries that are missing (every
            node then lists them). Pushing the images again then heals the
            repositories. Manifests that do not parse are only reported.
            Also finishes repository deletes that stopped half way
            (registry repo rm) more than 10 minutes ago.
  --metrics-file FILE
            write the run's metrics (berth_scrub_*) to FILE in Prometheus's
            text format, for node_exporter's textfile collector; also when
            the run fails

It may run while the registry serves.

Exit status: 0 no problem, 1 problems found (or repaired), 2 bad usage or
configuration, 3 the scrub could not run (storage unreachable, I/O error).
`

// scrub runs "registry scrub [--repair] CONFIG".
func scrub(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	fail := failer(stderr, "registry scrub")
	repair := false
	var files []string
	var metricsFile string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if v, ok := strings.CutPrefix(a, "--metrics-file="); ok {
			metricsFile = v
			continue
		}
		switch a {
		case "-h", "-help", "--help":
			fmt.Fprint(stdout, scrubUsage)
			return exitOK
		case "--repair", "-repair":
			repair = true
		case "--metrics-file", "-metrics-file":
			if i+1 == len(args) {
				return fail(exitUsage, "--metrics-file needs a file name; run \"registry scrub -h\"")
			}
			i++
			metricsFile = args[i]
		default:
			if strings.HasPrefix(a, "-") {
				return fail(exitUsage, "unknown flag %s; run \"registry scrub -h\"", a)
			}
			files = append(files, a)
		}
	}
	if len(files) > 1 || len(files) == 0 && !hasEnv(env, "REGISTRY_CONFIGURATION_PATH") {
		return fail(exitUsage, "want one configuration file; run \"registry scrub -h\"")
	}
	if err := checkMetricsFile(metricsFile); err != nil {
		return fail(exitUsage, "%v", err)
	}
	cfg, err := loadConfig(files, env)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	drv, where, err := openDriver(ctx, &cfg.Storage, false)
	if err != nil {
		return fail(exitScrubFailed, "storage: %v", err)
	}
	mode := ""
	if repair {
		mode = ", repairing"
	}
	fmt.Fprintf(stdout, "scrubbing %s%s\n", where, mode)
	cache, err := sharedBlobCache(ctx, cfg, stderr)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	defer cache.Close()
	s := storage.New(drv, storage.WithValidation(scrubValidation(cfg)), storage.WithBlobDescriptorCache(cache))
	found := metrics.ScrubResult{Problems: map[string]int{}, Removed: map[string]int{}}
	sum, err := s.Scrub(ctx, storage.ScrubOptions{
		Repair: repair,
		Report: func(p storage.Problem) {
			fmt.Fprintln(stdout, p)
			found.Problems[string(p.Kind)]++
			if p.Repaired {
				found.Removed[string(p.Kind)]++
				if p.Kind == storage.CorruptBlob {
					found.RemovedBytes += p.Bytes
				}
			}
		},
		Orphan: func(d digest.Digest, n int64) {
			fmt.Fprintf(stdout, "orphan-blob %s: %d bytes, used by no manifest\n", d, n)
		},
	})
	fmt.Fprintf(stdout, "%d blobs (%s) re-hashed, %d repositories, %d manifests, %d tags, %d layer links in %s\n",
		sum.Blobs, size(sum.BlobBytes), sum.Repositories, sum.Manifests, sum.Tags, sum.LayerLinks, sum.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(stdout, "%d problems (%d removed), %s of corrupt blobs; %d orphan blobs (%s); %d referrers indexed; %d repositories indexed\n",
		sum.Problems, sum.Repaired, size(sum.CorruptBytes), sum.Orphans, size(sum.OrphanBytes), sum.ReferrersIndexed, sum.RepositoriesIndexed)
	if metricsFile != "" {
		found.Elapsed, found.Blobs, found.BlobBytes = sum.Elapsed, sum.Blobs, sum.BlobBytes
		if werr := writeScrubMetrics(metricsFile, found, err); werr != nil {
			fmt.Fprintf(stderr, "registry scrub: metrics file: %v\n", werr)
			if err == nil {
				return exitScrubFailed
			}
		}
	}
	switch {
	case err != nil:
		return fail(exitScrubFailed, "%v", err)
	case sum.Problems > 0:
		return exitScrubProblems
	}
	return exitOK
}

// writeScrubMetrics writes one run's metrics to path (--metrics-file).
func writeScrubMetrics(path string, r metrics.ScrubResult, err error) error {
	m, merr := metrics.New()
	if merr != nil {
		return merr
	}
	m.ScrubRun(r, err)
	return m.WriteTextfile(path, "scrub")
}

// scrubValidation is what the registry requires of a manifest's
// references (validation.manifests), which scrub checks stored manifests
// against.
func scrubValidation(c *config.Config) storage.Validation {
	ix := c.Validation.Manifests.Indexes
	v := storage.Validation{Indexes: ix.Platforms, SkipLayers: c.Validation.Manifests.Layers == "none"}
	for _, p := range ix.PlatformList {
		v.Platforms = append(v.Platforms, v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant})
	}
	return v
}

func hasEnv(env []string, key string) bool {
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, key+"="); ok && v != "" {
			return true
		}
	}
	return false
}

// size is n bytes in the largest binary unit that keeps it at least 1.
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
