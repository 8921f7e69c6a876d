package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/config"
	"github.com/berth-registry/berth/registry/policy"
	"github.com/berth-registry/berth/registry/storage"
)

const usageUsage = `Usage: registry usage CONFIG [PREFIX] [--json]

Walks the storage of CONFIG's registry and prints, per namespace its
quotas cover (policies.quotas), or for PREFIX only (any repository
prefix, e.g. team/), the bytes its repositories hold (each distinct blob,
layer or manifest linked in them once), its blobs, repositories, the most
tags of one repository, and the quota limits on it. The same figures as
GET /berth/v1/usage.

      --json   print {"namespaces": [...]} as the endpoint does
`

// usageCmd runs "registry usage".
func usageCmd(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	fail := failer(stderr, "registry")
	fs := flag.NewFlagSet("usage", flag.ContinueOnError)
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "")
	positional, code, ok := parseCommand(fs, args, "usage", "registry usage -h", usageUsage, stdout, fail)
	if !ok {
		return code
	}
	if len(positional) < 1 || len(positional) > 2 {
		return fail(exitUsage, "usage takes a configuration file and, optionally, a prefix; run \"registry usage -h\"")
	}
	prefix := ""
	if len(positional) == 2 {
		prefix = positional[1]
		if _, err := policy.ParseNamespace(prefix); err != nil {
			return fail(exitUsage, "usage: prefix: %v", err)
		}
	}
	cfg, err := loadConfig(positional[:1], env)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	set, err := policySet(cfg)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	drv, _, err := openDriver(ctx, &cfg.Storage, false)
	if err != nil {
		return fail(exitFailure, "storage: %v", err)
	}
	report, _, err := registry.UsageReport(ctx, storage.New(drv), set, prefix, nil)
	if err != nil {
		return fail(exitFailure, "%v", err)
	}
	if asJSON {
		b, _ := json.MarshalIndent(struct {
			Namespaces []registry.NamespaceUsage `json:"namespaces"`
		}{report}, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
		return exitOK
	}
	if len(report) == 0 {
		fmt.Fprintln(stdout, "no quotas configured (policies.quotas); give a PREFIX to measure one")
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tBYTES\tBLOBS\tREPOSITORIES\tTAGS-MAX\tLIMITS")
	for _, n := range report {
		tags := fmt.Sprint(n.TagsMax)
		if n.TagsMaxRepository != "" {
			tags += " (" + n.TagsMaxRepository + ")"
		}
		fmt.Fprintf(tw, "%s\t%s (%d)\t%d\t%d\t%s\t%s\n", n.Namespace, policy.FormatSize(n.Bytes), n.Bytes,
			n.Blobs, n.Repositories, tags, limits(n.Quotas))
	}
	tw.Flush()
	return exitOK
}

// limits writes the quotas of a namespace on one line.
func limits(qs []registry.QuotaLimits) string {
	if len(qs) == 0 {
		return "-"
	}
	var parts []string
	for _, q := range qs {
		var l []string
		if q.MaxBytes > 0 {
			l = append(l, "maxbytes "+policy.FormatSize(q.MaxBytes))
		}
		if q.MaxRepositories > 0 {
			l = append(l, fmt.Sprintf("maxrepositories %d", q.MaxRepositories))
		}
		if q.MaxTagsPerRepository > 0 {
			l = append(l, fmt.Sprintf("maxtagsperrepository %d", q.MaxTagsPerRepository))
		}
		parts = append(parts, strings.Join(l, ", ")+" ("+q.Key+")")
	}
	return strings.Join(parts, "; ")
}

// policySet reads the policies of cfg once: the file policies.file names,
// or the section.
func policySet(cfg *config.Config) (*policy.Set, error) {
	if f := cfg.Policies.File; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("policies: %w", err)
		}
		s, err := config.ParsePolicies(b)
		if err != nil {
			return nil, fmt.Errorf("policies file %s: %w", f, err)
		}
		return s, nil
	}
	return cfg.PolicySet()
}
