package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"text/template"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/hostagent"
	"github.com/berth-registry/berth/internal/oci"
)

// listOptions are the flags list and find share.
type listOptions struct {
	noTrunc bool
	digests bool
	sort    string
}

func (o *listOptions) flags(fs *flag.FlagSet) {
	fs.BoolVar(&o.noTrunc, "no-trunc", false, "show digests and names in full")
	fs.BoolVar(&o.digests, "digests", false, "add a DIGEST column: the manifest's digest in the registry")
	fs.StringVar(&o.sort, "sort", "name", "order rows by name, tag, version (newest first), created (newest first) or size (largest first)")
}

func (o *listOptions) check() error {
	if !slices.Contains([]string{"name", "tag", "version", "created", "size"}, o.sort) {
		return usagef("--sort %q: want name, tag, version, created or size", o.sort)
	}
	return nil
}

// parse parses the arguments of list or find: its flags, these options,
// the format (templates allowed) and at most one NAME-GLOB, which it
// returns as the positional arguments; usage is the error when more came.
func (o *listOptions) parse(e *env, fs *flag.FlagSet, args []string, usage string) ([]string, error) {
	o.flags(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return nil, err
	}
	e.templates = true
	if err := errors.Join(o.check(), e.checkFormat()); err != nil {
		return nil, err
	}
	if len(pos) > 1 {
		return nil, usageError{usage}
	}
	return pos, nil
}

// imageRow is one row of list or find, and what a --format template sees:
// {{.Name}}, {{.Repository}}, {{.Tag}}, {{.ID}}, {{.Digest}}, {{.Size}}…
type imageRow struct {
	Reference  string
	Name       string // registry/repository
	Repository string // the same, as docker calls it
	Tag        string
	Version    string
	Publisher  string
	OSImage    bool
	OS         string
	Arch       string // architecture[/variant]
	OSVersion  string
	ID         string // the manifest's digest in the store (find: in the registry); short unless --no-trunc
	Digest     string // the manifest's digest in the registry, in full
	Size       string // e.g. "31.4MB (gzip)": as stored, compressed or not
	Created    string
	CreatedAt  string // RFC 3339
	Base       string
	Platforms  string // of an index: its images' platforms, comma-separated, all of them

	bytes         int64
	created       time.Time
	platforms     []string
	platformsCell string // the table's: truncated unless --no-trunc
}

// columns of list and find, in the same order in both.
var rowColumns = []struct {
	head string
	cell func(r imageRow) string
}{
	{"NAME", func(r imageRow) string { return orNone(r.Name) }},
	{"TAG", func(r imageRow) string { return orNone(r.Tag) }},
	{"VERSION", func(r imageRow) string { return dash(r.Version) }},
	{"PUBLISHER", func(r imageRow) string { return dash(r.Publisher) }},
	{"OS IMAGE", func(r imageRow) string { return yesNo(r.OSImage) }},
	{"OS", func(r imageRow) string { return dash(r.OS) }},
	{"ARCH", func(r imageRow) string { return dash(r.Arch) }},
	{"OS VERSION", func(r imageRow) string { return dash(r.OSVersion) }},
	{"IMAGE ID", func(r imageRow) string { return r.ID }},
	{"DIGEST", func(r imageRow) string { return r.Digest }},
	{"SIZE", func(r imageRow) string { return r.Size }},
	{"CREATED", func(r imageRow) string { return r.Created }},
	{"BASE", func(r imageRow) string { return dash(r.Base) }},
	{"PLATFORMS", func(r imageRow) string { return r.platformsCell }}, // when a row has several
}

func (o listOptions) id(d digest.Digest) string {
	if o.noTrunc {
		return string(d)
	}
	return shortDigest(d)
}

// platformsCell is the PLATFORMS cell: all of them with --no-trunc,
// otherwise the first two and how many more.
func (o listOptions) platformsCell(plats []string) string {
	const shown = 2
	if o.noTrunc || len(plats) <= shown+1 {
		return dash(strings.Join(plats, ","))
	}
	return fmt.Sprintf("%s,+%d", strings.Join(plats[:shown], ","), len(plats)-shown)
}

func sizeCell(n int64, compression string) string {
	switch compression {
	case "", "none":
		return humanSize(n) + " (uncompressed)"
	case "mixed":
		return humanSize(n) + " (partly compressed)"
	}
	return humanSize(n) + " (" + compression + ")"
}

func arch(a, variant string) string {
	if a != "" && variant != "" {
		return a + "/" + variant
	}
	return a
}

func (o listOptions) imageRows(imgs []hostagent.Image) []imageRow {
	var rows []imageRow
	for _, i := range imgs {
		r := imageRow{
			Reference: i.Reference, Name: i.Name, Repository: i.Name, Tag: i.Tag, Version: i.Version,
			Publisher: i.Publisher, OSImage: i.OSImage, OS: i.OS, Arch: arch(i.Architecture, i.Variant),
			OSVersion: i.OSVersion, ID: o.id(i.Digest), Digest: string(cmp.Or(i.SourceDigest, i.Digest)),
			Size: sizeCell(i.Size, i.Compression), bytes: i.Size, Created: created(i.Created),
			Platforms: strings.Join(i.Platforms, ","), platforms: i.Platforms, platformsCell: o.platformsCell(i.Platforms),
		}
		if n := len(i.Absent); n > 0 {
			r.Size += fmt.Sprintf(", %d foreign layer(s) absent", n)
		}
		if i.Created != nil {
			r.created, r.CreatedAt = *i.Created, i.Created.UTC().Format(time.RFC3339)
		}
		switch {
		case i.BaseName != "":
			r.Base = i.BaseName
		case i.BaseDigest != "":
			r.Base = o.id(i.BaseDigest)
		}
		rows = append(rows, r)
	}
	return rows
}

func (o listOptions) foundRows(found []hostagent.Found) []imageRow {
	var rows []imageRow
	for _, f := range found {
		r := imageRow{
			Reference: f.Reference, Name: f.Name, Repository: f.Name, Tag: f.Tag, Version: f.Version,
			Publisher: f.Publisher, OSImage: f.OSImage, OS: f.OS, Arch: arch(f.Architecture, f.Variant),
			OSVersion: f.OSVersion, ID: o.id(f.Digest), Digest: string(f.Digest), bytes: f.Size,
			Created: created(f.Created), Platforms: strings.Join(f.Platforms, ","), platforms: f.Platforms,
			platformsCell: o.platformsCell(f.Platforms),
		}
		if f.Size > 0 {
			r.Size = sizeCell(f.Size, f.Compression)
		} else {
			r.Size = "-"
		}
		if f.Created != nil {
			r.created, r.CreatedAt = *f.Created, f.Created.UTC().Format(time.RFC3339)
		}
		if f.BaseDigest != "" {
			r.Base = o.id(f.BaseDigest)
		}
		rows = append(rows, r)
	}
	return rows
}

// sortRows orders rows by o.sort; ties by name, then newest version, then
// tag. order gives each row's index in the caller's slice, sorted the same.
func (o listOptions) sortRows(rows []imageRow) []int {
	order := make([]int, len(rows))
	for i := range order {
		order[i] = i
	}
	byName := func(x, y imageRow) int {
		return cmp.Or(strings.Compare(x.Name, y.Name), oci.CompareNewest(y.Version, x.Version), strings.Compare(x.Tag, y.Tag))
	}
	slices.SortStableFunc(order, func(i, j int) int {
		x, y := rows[i], rows[j]
		var c int
		switch o.sort {
		case "tag":
			c = strings.Compare(x.Tag, y.Tag)
		case "version":
			c = oci.CompareNewest(y.Version, x.Version)
		case "created":
			c = y.created.Compare(x.created)
		case "size":
			c = cmp.Compare(y.bytes, x.bytes)
		}
		return cmp.Or(c, byName(x, y))
	})
	return order
}

// printRows writes rows as a table, as a --format template, or (json,
// quiet) from the values themselves.
func (e *env) printRows(o listOptions, rows []imageRow, values any) error {
	switch {
	case e.quiet:
		for _, r := range rows {
			fmt.Fprintln(e.stdout, cmp.Or(r.Reference, string(r.Digest)))
		}
		return nil
	case e.format == "json":
		return e.json(values)
	case e.format == "table":
		// PLATFORMS only when an index of several platforms is listed.
		several := slices.ContainsFunc(rows, func(r imageRow) bool { return len(r.platforms) > 1 })
		var head []string
		cells := make([][]string, len(rows))
		for _, c := range rowColumns {
			if (c.head == "DIGEST" && !o.digests) || (c.head == "PLATFORMS" && !several) {
				continue
			}
			head = append(head, c.head)
			for i, r := range rows {
				cells[i] = append(cells[i], c.cell(r))
			}
		}
		return e.table(strings.Join(head, "\t"), cells)
	}
	return e.printTemplate(rows)
}

// parseFormat checks --format: table, json, or a Go template over
// imageRow, which "table " before it turns into a table with a header.
func parseFormat(format string) (*template.Template, error) {
	text := strings.TrimPrefix(format, "table ")
	t, err := template.New("format").Funcs(template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		"upper": strings.ToUpper,
		"lower": strings.ToLower,
	}).Option("missingkey=error").Parse(unescapeTabs(text))
	if err != nil {
		return nil, usagef("--format: %v", err)
	}
	if err := t.Execute(discard{}, imageRow{}); err != nil {
		return nil, usagef("--format %q: %v (fields: %s)", format, err, strings.Join(rowFields(), ", "))
	}
	return t, nil
}

// unescapeTabs turns a written \t into a tab, as docker does.
func unescapeTabs(s string) string { return strings.ReplaceAll(s, `\t`, "\t") }

func rowFields() []string {
	return []string{".Name", ".Repository", ".Tag", ".Reference", ".Version", ".Publisher", ".OSImage", ".OS", ".Arch",
		".OSVersion", ".ID", ".Digest", ".Size", ".Created", ".CreatedAt", ".Base", ".Platforms"}
}

func (e *env) printTemplate(rows []imageRow) error {
	t, err := parseFormat(e.format)
	if err != nil {
		return err
	}
	var out [][]string
	for _, r := range rows {
		var b strings.Builder
		if err := t.Execute(&b, r); err != nil {
			return fmt.Errorf("--format: %w", err)
		}
		out = append(out, []string{b.String()})
	}
	if strings.HasPrefix(e.format, "table ") {
		// The header: each field's name in capitals.
		head := unescapeTabs(strings.TrimPrefix(e.format, "table "))
		for _, f := range rowFields() {
			head = strings.ReplaceAll(head, "{{"+f+"}}", strings.ToUpper(f[1:]))
		}
		return e.table(head, out)
	}
	for _, l := range out {
		fmt.Fprintln(e.stdout, l[0])
	}
	return nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func (e *env) printImages(o listOptions, imgs []hostagent.Image) error {
	rows := o.imageRows(imgs)
	order := o.sortRows(rows)
	sorted, sortedRows := make([]hostagent.Image, len(imgs)), make([]imageRow, len(rows))
	for k, i := range order {
		sorted[k], sortedRows[k] = imgs[i], rows[i]
	}
	return e.printRows(o, sortedRows, sorted)
}

func (e *env) printFound(o listOptions, found []hostagent.Found) error {
	rows := o.foundRows(found)
	order := o.sortRows(rows)
	sorted, sortedRows := make([]hostagent.Found, len(found)), make([]imageRow, len(rows))
	for k, i := range order {
		sorted[k], sortedRows[k] = found[i], rows[i]
	}
	return e.printRows(o, sortedRows, sorted)
}
