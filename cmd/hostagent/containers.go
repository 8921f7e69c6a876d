package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/hostagent"
)

func cmdContainer(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("container takes create, list or remove")
	}
	switch args[0] {
	case "-h", "-help", "--help":
		return helpError{e.flags("container")}
	case "create":
		return cmdContainerCreate(ctx, e, args[1:])
	case "list", "ls":
		return cmdContainerList(ctx, e, args[1:])
	case "remove", "rm":
		return cmdContainerRemove(ctx, e, args[1:])
	}
	return usagef("container %q: want create, list or remove", args[0])
}

func cmdContainerCreate(ctx context.Context, e *env, args []string) error {
	fs := e.flags("container create")
	image := fs.String("image", "", "image to unpack (a name, digest or short ID)")
	var opts hostagent.CreateOptions
	fs.StringVar(&opts.Platform, "platform", "", "os/arch[/variant] of a multi-platform image (default: this host's)")
	maxSize := fs.String("max-size", "", "refuse layers that unpack to more than this (e.g. 20G; default 64G)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *image == "" {
		return usagef("container create takes NAME and --image REF")
	}
	if opts.Limits.MaxBytes, err = parseSize(*maxSize); err != nil {
		return err
	}
	a, err := e.agent()
	if err != nil {
		return err
	}
	c, err := a.CreateContainer(ctx, pos[0], *image, opts)
	if err != nil {
		return err
	}
	if c.FilesOnly {
		fmt.Fprintf(e.stderr, windowsNotice, c.ImageName)
	}
	switch {
	case e.quiet:
		fmt.Fprintln(e.stdout, c.Name)
	case e.format == "json":
		return e.json(containerView(a, c))
	default:
		fmt.Fprintf(e.stdout, "created container %s from %s (%s)\nroot filesystem: %s\n", c.Name, c.ImageName, c.Image, a.ContainerRootfs(c.Name))
	}
	return nil
}

// containerJSON is a container record with where its files are.
type containerJSON struct {
	hostagent.Container
	Path string `json:"path"` // of its root filesystem
}

func containerView(a *hostagent.Agent, c hostagent.Container) containerJSON {
	return containerJSON{Container: c, Path: a.ContainerRootfs(c.Name)}
}

func cmdContainerList(ctx context.Context, e *env, args []string) error {
	a, _, err := e.agentFor(e.flags("container list"), args, 0, 0, "container list takes no arguments")
	if err != nil {
		return err
	}
	cs, err := a.ListContainers(ctx)
	if err != nil {
		return err
	}
	switch {
	case e.quiet:
		for _, c := range cs {
			fmt.Fprintln(e.stdout, c.Name)
		}
		return nil
	case e.format == "json":
		out := []containerJSON{}
		for _, c := range cs {
			out = append(out, containerView(a, c))
		}
		return e.json(out)
	}
	var rows [][]string
	for _, c := range cs {
		rows = append(rows, []string{c.Name, c.ImageName, shortDigest(c.Image), dash(c.State),
			created(&c.Created), a.ContainerRootfs(c.Name)})
	}
	return e.table("NAME\tIMAGE\tIMAGE DIGEST\tSTATE\tCREATED\tROOT FILESYSTEM", rows)
}

func cmdContainerRemove(ctx context.Context, e *env, args []string) error {
	a, pos, err := e.agentFor(e.flags("container remove"), args, 1, -1, "container remove takes at least one NAME")
	if err != nil {
		return err
	}
	for _, name := range pos {
		if err := a.RemoveContainer(ctx, name); err != nil {
			return err
		}
		if !e.quiet && e.format != "json" {
			fmt.Fprintf(e.stdout, "removed container %s\n", name)
		}
	}
	return nil
}

func cmdCommit(ctx context.Context, e *env, args []string) error {
	fs := e.flags("commit")
	var opts hostagent.CommitOptions
	fs.StringVar(&opts.Name, "name", "", "repository of the new image, e.g. localhost:5000/team/app (without a host: localhost/NAME)")
	fs.BoolVar(&opts.Force, "force", false, "replace the image already named NAME:VERSION (otherwise that is an error)")
	fs.StringVar(&opts.Version, "version", "", "its version: the tag, and org.opencontainers.image.version")
	fs.StringVar(&opts.Publisher, "publisher", "", "org.opencontainers.image.vendor")
	fs.StringVar(&opts.Message, "message", "", "comment of the history entry")
	fs.StringVar(&opts.Message, "m", "", "short for --message")
	fs.StringVar(&opts.Author, "author", "", "author of the image")
	fs.StringVar(&opts.Author, "a", "", "short for --author")
	ts := fs.String("timestamp", os.Getenv("SOURCE_DATE_EPOCH"), "time of every entry and of the image: RFC 3339 or Unix seconds (default $SOURCE_DATE_EPOCH, else now with files' own times)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || opts.Name == "" || opts.Version == "" || opts.Publisher == "" {
		return usagef("commit takes CONTAINER, --name N, --version V and --publisher P")
	}
	opts.Name = e.localName(opts.Name)
	if *ts != "" {
		t, err := parseTimestamp(*ts)
		if err != nil {
			return err
		}
		opts.Timestamp = &t
	}
	a, err := e.agent()
	if err != nil {
		return err
	}
	res, err := a.Commit(ctx, pos[0], opts)
	if err != nil {
		return err
	}
	switch {
	case e.quiet:
		if !res.Unchanged {
			fmt.Fprintln(e.stdout, res.Digest)
		}
		return nil
	case e.format == "json":
		return e.json(res)
	case res.Unchanged:
		fmt.Fprintf(e.stdout, "container %s is unchanged since it was made from %s: nothing committed\n", res.Container, res.BaseName)
		return nil
	}
	fmt.Fprintf(e.stdout, "committed %s (%s)\n", res.Reference, res.Digest)
	fmt.Fprintf(e.stdout, "  layer %s (%s): %d added, %d modified, %d deleted\n",
		res.Layer.Digest, humanSize(res.Layer.Size), res.Added, res.Modified, res.Deleted)
	fmt.Fprintf(e.stdout, "  base %s (%s)\n", res.BaseName, res.BaseDigest)
	return nil
}

// parseTimestamp reads RFC 3339, or Unix seconds (as SOURCE_DATE_EPOCH).
func parseTimestamp(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(strings.TrimPrefix(s, "@"), 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, usagef("--timestamp %q: want RFC 3339 (2026-01-02T03:04:05Z) or Unix seconds", s)
	}
	return t.UTC(), nil
}

// parseSize reads a byte count with an optional k, M, G or T suffix
// (powers of 1024); "" is 0, the default.
func parseSize(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	mult := int64(1)
	num := strings.TrimSuffix(strings.ToUpper(s), "B")
	if i := strings.IndexAny(num, "KMGT"); i >= 0 && i == len(num)-1 {
		mult = int64(1) << (10 * (strings.IndexByte("KMGT", num[i]) + 1))
		num = num[:i]
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return 0, usagef("--max-size %q: want a positive size such as 500M or 20G", s)
	}
	return n * mult, nil
}
