package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/hostagent"
)

func (e *env) json(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (e *env) table(header string, rows [][]string) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func (e *env) printInstalled(img hostagent.Image) error {
	switch {
	case e.quiet:
		fmt.Fprintln(e.stdout, img.Digest)
		return nil
	case e.format == "json":
		return e.json(img)
	}
	fmt.Fprintf(e.stdout, "installed %s (%s, %s)\n", img.Reference, img.Digest, humanSize(img.Size))
	return nil
}

func (e *env) printPushed(res hostagent.PushResult) error {
	switch {
	case e.quiet:
		fmt.Fprintln(e.stdout, res.Digest)
		return nil
	case e.format == "json":
		return e.json(res)
	}
	fmt.Fprintf(e.stdout, "pushed %s@%s: %d uploaded (%s), %d mounted, %d already there\n",
		res.Reference, res.Digest, res.Uploaded, humanSize(res.Bytes), res.Mounted, res.Existing)
	return nil
}

func (e *env) printRemoved(res hostagent.RemoveResult) error {
	switch {
	case e.quiet:
		return nil
	case e.format == "json":
		return e.json(res)
	}
	for _, u := range res.Untagged {
		fmt.Fprintf(e.stdout, "untagged %s\n", u)
	}
	fmt.Fprintf(e.stdout, "deleted %d blob(s), %s", len(res.Deleted), humanSize(res.DeletedBytes))
	if res.IngestDeleted > 0 {
		fmt.Fprintf(e.stdout, "; %d partial download(s)", res.IngestDeleted)
	}
	fmt.Fprintln(e.stdout)
	return nil
}

func (e *env) printVerify(rep hostagent.VerifyReport) error {
	switch {
	case e.quiet:
		return nil
	case e.format == "json":
		return e.json(rep)
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(e.stdout, "%s %s: %s", strings.ToUpper(p.Kind), p.Digest, p.Detail)
		if len(p.Images) > 0 {
			fmt.Fprintf(e.stdout, " (used by %s)", strings.Join(p.Images, ", "))
		}
		fmt.Fprintln(e.stdout)
	}
	for _, d := range rep.Repaired {
		if slices.Contains(rep.Refetched, d) {
			fmt.Fprintf(e.stdout, "deleted %s and fetched it again\n", d)
		} else {
			fmt.Fprintf(e.stdout, "deleted %s\n", d)
		}
	}
	for _, d := range rep.Refetched {
		if !slices.Contains(rep.Repaired, d) {
			fmt.Fprintf(e.stdout, "fetched %s again\n", d)
		}
	}
	for _, p := range rep.Absent {
		fmt.Fprintf(e.stdout, "ABSENT %s: %s (used by %s)\n", p.Digest, p.Detail, strings.Join(p.Images, ", "))
	}
	fmt.Fprintf(e.stdout, "verified %d blob(s), %s: %d problem(s)", rep.Blobs, humanSize(rep.Bytes), len(rep.Problems))
	if len(rep.Absent) > 0 {
		fmt.Fprintf(e.stdout, ", %d foreign layer(s) not present", len(rep.Absent))
	}
	switch {
	case len(rep.Problems) > 0 && rep.Unrepaired == 0 && (len(rep.Repaired) > 0 || len(rep.Refetched) > 0):
		fmt.Fprint(e.stdout, ", all repaired")
	case rep.Unrepaired > 0:
		fmt.Fprintf(e.stdout, ", %d not repaired (install the images that need them again)", rep.Unrepaired)
	}
	fmt.Fprintln(e.stdout)
	return nil
}

func (e *env) printDetails(d hostagent.Details) error {
	if e.format == "json" || e.quiet {
		return e.json(d)
	}
	w := e.stdout
	fmt.Fprintf(w, "Reference:  %s\n", d.Reference)
	fmt.Fprintf(w, "Names:      %s\n", strings.Join(d.Names, ", "))
	fmt.Fprintf(w, "Digest:     %s\n", d.Digest)
	if d.SourceDigest != "" {
		fmt.Fprintf(w, "Registry digest: %s (Docker manifest, stored as OCI)\n", d.SourceDigest)
	}
	fmt.Fprintf(w, "Media type: %s\n", d.MediaType)
	fmt.Fprintf(w, "Platform:   %s\n", dash(d.Platform))
	fmt.Fprintf(w, "Created:    %s\n", created(d.Created))
	fmt.Fprintf(w, "Publisher:  %s\n", dash(d.Publisher))
	fmt.Fprintf(w, "Version:    %s\n", dash(d.Version))
	fmt.Fprintf(w, "Size:       %s\n", humanSize(d.Size))
	fmt.Fprintf(w, "OS image:   %s\n", yesNo(d.OSImage))
	if b := d.Base; b != nil {
		how := ""
		if b.Inferred {
			how = " (inferred from layers)"
		}
		fmt.Fprintf(w, "Base image: %s %s%s", b.Digest, b.Name, how)
		if len(b.Local) > 0 {
			fmt.Fprintf(w, ", installed as %s", strings.Join(b.Local, ", "))
		}
		fmt.Fprintln(w)
	}
	printMap(e, "Annotations", d.Annotations)
	printMap(e, "Labels", d.Labels)
	fmt.Fprintf(w, "Layers (%d):\n", len(d.Layers))
	for _, l := range d.Layers {
		fmt.Fprintf(w, "  %s  %9s  %s\n", l.Digest, humanSize(l.Size), l.MediaType)
		if slices.ContainsFunc(d.Absent, func(a hostagent.AbsentLayer) bool { return a.Digest == l.Digest }) {
			fmt.Fprintf(w, "    absent: foreign layer not in the store (URLs %s)\n", strings.Join(l.URLs, ", "))
		}
	}
	if len(d.History) > 0 {
		fmt.Fprintf(w, "History (%d):\n", len(d.History))
		for _, h := range d.History {
			empty := ""
			if h.EmptyLayer {
				empty = " (no layer)"
			}
			fmt.Fprintf(w, "  %s  %s%s\n", created(h.Created), truncate(cmp.Or(h.CreatedBy, h.Comment), 100), empty)
		}
	}
	if len(d.Derived) > 0 {
		fmt.Fprintf(w, "Derived images: %s\n", strings.Join(d.Derived, ", "))
	}
	if len(d.Containers) > 0 {
		fmt.Fprintf(w, "Containers: %s\n", strings.Join(d.Containers, ", "))
	}
	return nil
}

func printMap(e *env, title string, m map[string]string) {
	if len(m) == 0 {
		return
	}
	fmt.Fprintf(e.stdout, "%s:\n", title)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(e.stdout, "  %s=%s\n", k, m[k])
	}
}

func shortDigest(d digest.Digest) string {
	if d.Validate() != nil {
		return string(d)
	}
	enc := d.Encoded()
	return d.Algorithm().String() + ":" + enc[:min(12, len(enc))]
}

// humanSize prints n in SI units, as docker does.
func humanSize(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	f, i := float64(n), 0
	for f >= unit && i < 4 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.3g%s", f, []string{"B", "kB", "MB", "GB", "TB"}[i])
}

func created(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
