package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the registry could not start or failed while serving
	exitUsage   = 2 // bad command line or configuration
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise it comes from the module's build information.
var version = ""

const usage = `Usage: registry <command> [arguments]

Commands:
  serve [config.yml]  run the registry. Without a file (or
                      REGISTRY_CONFIGURATION_PATH): filesystem storage in
                      ./data, listening on :5000, deletes allowed.
  gc CONFIG           collect garbage while the registry serves
                      (--dry-run, --delete-untagged, --grace); also
                      garbage-collect [-d] [-m] CONFIG, as in Distribution
  retention CONFIG    apply the retention rules of the policies section
                      (--dry-run: print the decisions, delete nothing)
  keygen KEYFILE      write a new signing key for the built-in token
                      server (auth.token.server.key); -h for options
  scrub [--repair] CONFIG
                      check the storage: re-hash blobs, find broken links,
                      tags and manifests; -h for details and exit codes
  usage CONFIG [PREFIX] [--json]
                      bytes, repositories and tags per namespace of the
                      quotas (policies.quotas), or of PREFIX
  repo rm CONFIG NAME [--force]
                      delete a repository (tags, manifests, links; blobs
                      go with the next gc); -h for details
  version             print the version
  help                print this help

Every configuration key can be overridden by an environment variable,
e.g. REGISTRY_HTTP_ADDR=:6000 or REGISTRY_STORAGE=inmemory;
see config.example.yml.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal starts a graceful shutdown, restore the
	// default handling so that a second one ends the process at once.
	context.AfterFunc(ctx, stop)
	os.Exit(run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// run executes the command in args with the environment env and returns
// the exit code. It returns when the command is done; for serve, after ctx
// ends and the server has shut down.
func run(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], env, stdout, stderr)
	case "gc", "garbage-collect":
		return gc(ctx, args[1:], env, stdout, stderr)
	case "retention":
		return retentionCmd(ctx, args[1:], env, stdout, stderr)
	case "keygen":
		return keygen(args[1:], stdout, stderr)
	case "scrub":
		return scrub(ctx, args[1:], env, stdout, stderr)
	case "usage":
		return usageCmd(ctx, args[1:], env, stdout, stderr)
	case "repo":
		return repo(ctx, args[1:], env, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, versionString())
		return exitOK
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "registry: unknown command %q; run \"registry help\"\n", args[0])
		return exitUsage
	}
}

// versionString is "berth registry v1.2.3 (go1.26.0, linux/amd64)".
func versionString() string {
	v := version
	if v == "" {
		v = "devel"
		if bi, ok := debug.ReadBuildInfo(); ok {
			if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
				v = bi.Main.Version
			}
			var rev, dirty string
			for _, s := range bi.Settings {
				switch {
				case s.Key == "vcs.revision":
					rev = s.Value
				case s.Key == "vcs.modified" && s.Value == "true":
					dirty = "-dirty"
				}
			}
			if len(rev) > 12 {
				rev = rev[:12]
			}
			if rev != "" {
				v += "+" + rev + dirty
			}
		}
	}
	return fmt.Sprintf("berth registry %s (%s, %s/%s)", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
