package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/berth-registry/berth/hostagent"
	"github.com/berth-registry/berth/registry/client"
)

// Exit codes, so scripts can tell failures apart.
const (
	exitOK          = 0
	exitError       = 1 // anything not below
	exitUsage       = 2 // bad command line
	exitNotFound    = 3 // no such image, in the store or the registry
	exitAuth        = 4 // credentials missing, wrong, or not allowed
	exitUnavailable = 5 // registry unreachable or failing
	exitInUse       = 6 // remove refused: a container or image uses it
	exitCorrupt     = 7 // verify found problems, content did not match, or an archive was unsafe or damaged
	exitExists      = 8 // the name already names another image (--force replaces it)
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// env is what every command gets: parsed global flags and the streams.
type env struct {
	storeDir   string
	format     string
	quiet      bool
	insecure   multiFlag
	configPath string
	jobs       int
	// templates: the command takes --format TEMPLATE (list, find).
	templates bool
	// notices go to stderr once the command succeeded (a failure prints
	// its one line only).
	notices []string

	stdin          io.Reader
	stdout, stderr io.Writer
}

// usageError is a command-line mistake (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

type command struct {
	name    string
	aliases []string
	args    string
	help    string
	run     func(ctx context.Context, e *env, args []string) error
}

func commands() []command {
	return []command{
		{"find", nil, "[REGISTRY/]NAME-GLOB [--registry HOST] [--min-version V] [--max-version V] [--all-versions]", "list images a registry offers", cmdFind},
		{"install", []string{"pull"}, "REF [--platform os/arch[/variant]] | --from-file FILE", "install an image from its registry, or from an archive (as load)", cmdInstall},
		{"list", []string{"images", "ls"}, "[NAME-GLOB] [--filter KEY=VALUE]...", "list installed images", cmdList},
		{"inspect", nil, "REF", "show an image's manifest, config, layers, history and base", cmdInspect},
		{"tag", nil, "SRC DST", "give an image another name", cmdTag},
		{"untag", nil, "REF", "remove a name, keeping the image's content", cmdUntag},
		{"remove", []string{"rm", "rmi"}, "REF|GLOB|-... [--force]", "remove images (refused while in use, unless --force)", cmdRemove},
		{"prune", nil, "", "delete content no image uses", cmdPrune},
		{"push", nil, "REF [DEST]", "push an image to a registry", cmdPush},
		{"save", nil, "REF... -o FILE [--compress none|gzip|zstd]", "write images to one archive, both an OCI layout and a docker-archive", cmdSave},
		{"load", nil, "-i FILE|DIR [--name REF] [--platform os/arch]", "install images from an archive (OCI layout or docker-archive, compressed or not)", cmdLoad},
		{"container", nil, "create NAME --image REF | list | remove NAME...", "unpack an image into a root filesystem to change and commit", cmdContainer},
		{"commit", nil, "CONTAINER --name N --version V --publisher P [-m MSG] [-a AUTHOR] [--timestamp T]", "write a container's changes as a new image", cmdCommit},
		{"verify", nil, "[--repair]", "re-hash every blob of the store and report corruption", cmdVerify},
		{"login", nil, "HOST [-u USER] [-p PASS | --password-stdin]", "save credentials for a registry", cmdLogin},
		{"logout", nil, "HOST", "remove saved credentials", cmdLogout},
		{"sync", nil, "--config SYNC.YML [--dry-run] [--rule NAME]... [--docker-config FILE]", "copy images between registries and the store as sync.yml says, once", cmdSync},
		{"version", nil, "", "print the version", cmdVersion},
		{"completion", nil, "bash|zsh|fish", "print a shell completion script (e.g. source <(hostagent completion bash))", cmdCompletion},
		{"daemon", nil, "--config SYNC.YML [--docker-config FILE]", "run sync.yml's rules on their schedules (SIGHUP reloads, SIGTERM finishes the copies in flight)", cmdDaemon},
		installOSImageCommand,
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{format: "table", stdin: stdin, stdout: stdout, stderr: stderr, jobs: hostagent.DefaultConcurrency}
	global := flag.NewFlagSet("hostagent", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	e.globalFlags(global)
	showVersion := global.Bool("version", false, "print the version")
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout)
			return exitOK
		}
		return fail(e, usageError{err.Error()})
	}
	args = global.Args()
	if *showVersion {
		args = append([]string{"version"}, args...)
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		printUsage(stdout)
		return exitOK
	}
	if args[0] == "help" {
		if len(args) == 1 {
			printUsage(stdout)
			return exitOK
		}
		args = []string{args[1], "--help"} // help COMMAND
	}
	c, ok := lookupCommand(args[0])
	if !ok {
		return fail(e, usagef("unknown command %q (see hostagent --help)", args[0]))
	}
	if err := c.run(ctx, e, args[1:]); err != nil {
		var he helpError
		if errors.As(err, &he) {
			printCommandHelp(stdout, c, he.fs)
			return exitOK
		}
		return fail(e, err)
	}
	for _, n := range e.notices {
		fmt.Fprintf(stderr, "hostagent: note: %s\n", n)
	}
	return exitOK
}

func (e *env) globalFlags(fs *flag.FlagSet) {
	fs.StringVar(&e.storeDir, "store", e.storeDir, "image store directory (default /var/lib/hostagent for root, else $XDG_DATA_HOME/hostagent)")
	fs.StringVar(&e.format, "format", e.format, "output format: table or json (list and find: also a Go template, e.g. '{{.Name}}:{{.Tag}}')")
	fs.BoolVar(&e.quiet, "quiet", e.quiet, "print only references or digests, no progress")
	fs.BoolVar(&e.quiet, "q", e.quiet, "short for --quiet")
	fs.Var(&e.insecure, "insecure", "allow plain HTTP to this registry host (repeatable; loopback always is)")
	fs.StringVar(&e.configPath, "config", e.configPath, "docker config.json for credentials (default $DOCKER_CONFIG/config.json or ~/.docker/config.json)")
	fs.IntVar(&e.jobs, "jobs", e.jobs, "blobs transferred at once")
}

// flags returns a command's flag set, which takes the global flags too, so
// they may come after the command name.
func (e *env) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	e.globalFlags(fs)
	return fs
}

// parse parses args with flags and positional arguments in any order.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, helpError{fs}
			}
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// parseN is parse that checks the count of positional arguments: from
// least to most (most < 0: no upper bound), else usage is the error.
func parseN(fs *flag.FlagSet, args []string, least, most int, usage string) ([]string, error) {
	pos, err := parse(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) < least || (most >= 0 && len(pos) > most) {
		return nil, usageError{usage}
	}
	return pos, nil
}

// agentFor is parseN, then the agent, for a command that needs no more.
func (e *env) agentFor(fs *flag.FlagSet, args []string, least, most int, usage string) (*hostagent.Agent, []string, error) {
	pos, err := parseN(fs, args, least, most, usage)
	if err != nil {
		return nil, nil, err
	}
	a, err := e.agent()
	return a, pos, err
}

// agent opens the store with the global settings.
func (e *env) agent(opts ...hostagent.Option) (*hostagent.Agent, error) {
	return e.agentAt(e.storeDir, opts...)
}

// agentAt is an agent over the store at root, with the global settings.
func (e *env) agentAt(root string, opts ...hostagent.Option) (*hostagent.Agent, error) {
	all, err := e.agentOptions()
	if err != nil {
		return nil, err
	}
	return hostagent.New(root, append(all, opts...)...)
}

// remoteAgent is an agent for registries only: it opens no store.
func (e *env) remoteAgent(opts ...hostagent.Option) (*hostagent.Agent, error) {
	all, err := e.agentOptions()
	if err != nil {
		return nil, err
	}
	return hostagent.NewRemote(append(all, opts...)...)
}

func (e *env) agentOptions() ([]hostagent.Option, error) {
	if err := e.checkFormat(); err != nil {
		return nil, err
	}
	dc, err := client.NewDockerConfig(e.configPath)
	if err != nil {
		return nil, err
	}
	return []hostagent.Option{
		hostagent.WithDockerConfig(dc),
		hostagent.WithConcurrency(e.jobs),
		hostagent.WithClientOptions(client.WithInsecure(e.insecure...), client.WithUserAgent("berth-hostagent/1")),
	}, nil
}

// storeExists reports whether the store has been made (its index.json).
func (e *env) storeExists() (bool, error) {
	root := e.storeDir
	if root == "" {
		var err error
		if root, err = hostagent.DefaultRoot(); err != nil {
			return false, err
		}
	}
	_, err := os.Stat(filepath.Join(root, "index.json"))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, err
}

// checkFormat checks --format: table or json, or for list and find a Go
// template.
func (e *env) checkFormat() error {
	switch {
	case e.format == "table" || e.format == "json":
		return nil
	case e.templates:
		_, err := parseFormat(e.format)
		return err
	}
	return usagef("--format %q: want table or json", e.format)
}

// fail prints err as one line and returns its exit code.
func fail(e *env, err error) int {
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	fmt.Fprintf(e.stderr, "hostagent: %s\n", msg)
	return exitCode(err)
}

func exitCode(err error) int {
	var ue usageError
	switch {
	case errors.As(err, &ue), errors.Is(err, hostagent.ErrInvalid):
		return exitUsage
	case errors.Is(err, hostagent.ErrInUse):
		return exitInUse
	case errors.Is(err, hostagent.ErrExists):
		return exitExists
	case errors.Is(err, hostagent.ErrCorrupt), errors.Is(err, hostagent.ErrUnsafe), errors.Is(err, client.ErrDigestMismatch):
		return exitCorrupt
	case errors.Is(err, client.ErrUnauthorized), errors.Is(err, client.ErrDenied):
		return exitAuth
	case errors.Is(err, client.ErrUnavailable):
		return exitUnavailable
	case errors.Is(err, hostagent.ErrNotFound), errors.Is(err, client.ErrNotFound), errors.Is(err, hostagent.ErrNoPlatform):
		return exitNotFound
	}
	return exitError
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: hostagent [--store DIR] [--format table|json] [--quiet] [--insecure HOST] COMMAND [ARGS]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		name := c.name
		if len(c.aliases) > 0 {
			name += " (" + strings.Join(c.aliases, ", ") + ")"
		}
		fmt.Fprintf(w, "  %-28s %s\n      %s %s\n", name, c.help, c.name, c.args)
	}
	fmt.Fprintln(w, "\nhostagent COMMAND --help shows a command's flags.")
	fmt.Fprintln(w, "\nexit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 unauthorized, 5 registry unavailable, 6 in use, 7 corrupt, 8 name exists")
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
