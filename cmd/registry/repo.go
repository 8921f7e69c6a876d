package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/berth-registry/berth/registry/storage"
)

const repoUsage = `Usage: registry repo rm CONFIG NAME [--force]

Deletes repository NAME from the storage of CONFIG, which may be serving
meanwhile (on any number of nodes): its tags, manifests and layer links go,
and it leaves the catalog. Blobs stay until garbage collection frees those
no other repository uses. A delete that stops half way (the process dies)
is finished by the next "registry repo rm" of NAME or by garbage
collection; pushes into NAME are refused until then.

A repository with an immutable tag (policies.immutable) is refused unless
--force is given.

  --force  delete even a repository with immutable tags

Exit status: 0 deleted, 1 the delete failed or was refused, 2 bad usage or
configuration.
`

// repo runs "registry repo rm CONFIG NAME [--force]".
func repo(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	fail := failer(stderr, "registry repo")
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Fprint(stdout, repoUsage)
		return exitOK
	}
	if len(args) == 0 || args[0] != "rm" {
		return fail(exitUsage, "want the subcommand rm; run \"registry repo -h\"")
	}
	fs := flag.NewFlagSet("repo rm", flag.ContinueOnError)
	force := fs.Bool("force", false, "")
	positional, code, ok := parseCommand(fs, args[1:], "rm", "registry repo -h", repoUsage, stdout, fail)
	if !ok {
		return code
	}
	if len(positional) != 2 {
		return fail(exitUsage, "rm takes two arguments, a configuration file and a repository name; run \"registry repo -h\"")
	}
	name := positional[1]
	if err := storage.CheckName(name); err != nil {
		return fail(exitUsage, "rm: %q: %v", name, err)
	}
	cfg, err := loadConfig(positional[:1], env)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	var guard storage.TagGuard
	if !*force {
		src, err := openPolicies(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			return fail(exitUsage, "policies: %v", err)
		}
		set, err := src.Get()
		if err != nil {
			return fail(exitFailure, "policies: %v", err)
		}
		if set.HasImmutable(name) {
			guard = func(tag string) (string, bool) { return set.Immutable(name, tag) }
		}
	}
	drv, where, err := openDriver(ctx, &cfg.Storage, false)
	if err != nil {
		return fail(exitFailure, "storage: %v", err)
	}
	s := storage.New(drv, storage.WithGCGrace(cfg.Storage.GC.GraceOrDefault()))
	del, err := s.DeleteRepository(ctx, name, guard)
	if errors.Is(err, storage.ErrTagImmutable) {
		return fail(exitFailure, "rm: %v; --force deletes it anyway", err)
	}
	if err != nil {
		return fail(exitFailure, "rm: %v", err)
	}
	fmt.Fprintf(stdout, "deleted repository %s from %s: %d tags, %d manifests; garbage collection frees the blobs no other repository uses\n",
		del.Name, where, del.Tags, del.Manifests)
	return exitOK
}
