package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/berth-registry/berth/hostagent"
	"github.com/berth-registry/berth/internal/oci"
)

func cmdSave(ctx context.Context, e *env, args []string) error {
	fs := e.flags("save")
	out := fs.String("output", "", "archive to write ('-' for standard output)")
	fs.StringVar(out, "o", "", "short for --output")
	compress := fs.String("compress", "", "none, gzip or zstd (default: from the file name, .tar.gz or .tar.zst)")
	var opts hostagent.SaveOptions
	fs.StringVar(&opts.Platform, "platform", "", "os/arch[/variant] of a multi-platform image to put in the docker-archive half (default: this host's)")
	noPull := fs.Bool("no-pull", false, "save only installed images: never fetch one from its registry")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 || *out == "" {
		return usagef("save takes REF... and -o FILE")
	}
	opts.Compression = hostagent.CompressionForFile(*out)
	if *compress != "" {
		if opts.Compression, err = hostagent.ParseCompression(*compress); err != nil {
			return err
		}
	}
	a, err := e.agent()
	if err != nil {
		return err
	}
	a, cleanup, err := e.saveSource(ctx, a, pos, *out, *noPull, opts.Platform)
	if err != nil {
		return err
	}
	defer cleanup()
	if *out == "-" {
		_, err := a.Save(ctx, e.stdout, pos, opts)
		return err
	}
	res, err := saveFile(ctx, a, *out, pos, opts)
	if err != nil {
		return err
	}
	return e.printSaved(*out, res)
}

// saveFile writes the archive beside path and renames it into place once
// complete: a failed save leaves no file, and no half of an old one.
func saveFile(ctx context.Context, a *hostagent.Agent, path string, refs []string, opts hostagent.SaveOptions) (hostagent.SaveResult, error) {
	var res hostagent.SaveResult
	err := oci.WriteAtomic(path, func(w io.Writer) error {
		var err error
		res, err = a.Save(ctx, w, refs, opts)
		return err
	})
	return res, err
}

func cmdLoad(ctx context.Context, e *env, args []string) error {
	fs := e.flags("load")
	in := fs.String("input", "", "archive file or directory ('-' for standard input)")
	fs.StringVar(in, "i", "", "short for --input")
	var opts hostagent.LoadOptions
	fs.StringVar(&opts.Platform, "platform", "", "os/arch[/variant]: load only this platform of a multi-platform image")
	fs.StringVar(&opts.Name, "name", "", "name the image REF instead of what the archive says (one image only; without a host: localhost/REF)")
	fs.BoolVar(&opts.Force, "force", false, "replace images the archive's names already name (otherwise that is an error)")
	maxSize := fs.String("max-size", "", "refuse an archive holding more than this (e.g. 20G; default 64G)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *in == "" && len(pos) == 1 {
		*in, pos = pos[0], nil
	}
	if *in == "" || len(pos) != 0 {
		return usagef("load takes -i FILE (an archive, or a directory)")
	}
	if opts.Limits.MaxBytes, err = parseSize(*maxSize); err != nil {
		return err
	}
	return e.load(ctx, *in, opts)
}

func (e *env) load(ctx context.Context, in string, opts hostagent.LoadOptions) error {
	if opts.Name != "" {
		opts.Name = e.localName(opts.Name)
	}
	a, err := e.agent()
	if err != nil {
		return err
	}
	var res hostagent.LoadResult
	if in == "-" {
		res, err = a.LoadReader(ctx, e.stdin, opts)
	} else {
		res, err = a.Load(ctx, in, opts)
	}
	if err != nil {
		return err
	}
	return e.printLoaded(res)
}

func (e *env) printSaved(path string, res hostagent.SaveResult) error {
	switch {
	case e.quiet:
		return nil
	case e.format == "json":
		return e.json(struct {
			File string `json:"file"`
			hostagent.SaveResult
		}{path, res})
	}
	for _, i := range res.Images {
		name := orNone(i.Reference)
		if !i.Docker {
			name += " (OCI layout only: no manifest for the docker-archive's platform)"
		}
		fmt.Fprintf(e.stdout, "saved %s (%s)\n", name, i.Digest)
	}
	fmt.Fprintf(e.stdout, "wrote %s: %d image name(s), %d blob(s), %s, %s\n",
		path, len(res.Images), res.Blobs, humanSize(res.Bytes), compressionName(res.Compression))
	return nil
}

func compressionName(c hostagent.Compression) string {
	if c == hostagent.CompressionNone || c == "" {
		return "uncompressed"
	}
	return string(c)
}

func (e *env) printLoaded(res hostagent.LoadResult) error {
	switch {
	case e.quiet:
		for _, i := range res.Images {
			fmt.Fprintln(e.stdout, i.Digest)
		}
		return nil
	case e.format == "json":
		return e.json(res)
	}
	for _, i := range res.Images {
		names := strings.Join(i.Names, ", ")
		if names == "" {
			names = "<none>"
		}
		fmt.Fprintf(e.stdout, "loaded %s (%s)\n", names, i.Digest)
		fmt.Fprintf(e.stdout, "  digests kept: %s\n", i.Preserved)
		if i.ArchiveDigest != "" {
			fmt.Fprintf(e.stdout, "  manifest in the archive: %s\n", i.ArchiveDigest)
		}
		if i.SourceDigest != "" && i.SourceDigest != i.ArchiveDigest {
			fmt.Fprintf(e.stdout, "  registry's manifest (push sends it): %s\n", i.SourceDigest)
		}
	}
	fmt.Fprintf(e.stdout, "%s, %s: %d image(s), %d new blob(s)\n", res.Format, compressionName(res.Compression), len(res.Images), res.Blobs)
	return nil
}
