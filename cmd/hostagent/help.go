package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise it comes from the module's build information.
var version = ""

// helpError is what parse returns for -h or --help: run prints the
// command's usage and flags on standard output and exits 0.
type helpError struct{ fs *flag.FlagSet }

func (helpError) Error() string { return "help requested" }

func lookupCommand(name string) (command, bool) {
	for _, c := range commands() {
		if name == c.name || contains(c.aliases, name) {
			return c, true
		}
	}
	return command{}, false
}

// globalNames are the flags every command takes (env.globalFlags).
func globalNames() map[string]bool {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	(&env{}).globalFlags(fs)
	names := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { names[f.Name] = true })
	return names
}

// printCommandHelp prints what `hostagent COMMAND --help` shows: usage,
// the command's own flags, then the global ones.
func printCommandHelp(w io.Writer, c command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: hostagent %s %s\n\n%s\n", c.name, c.args, c.help)
	if len(c.aliases) > 0 {
		fmt.Fprintf(w, "aliases: %s\n", strings.Join(c.aliases, ", "))
	}
	global := globalNames()
	var own, glob []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if global[f.Name] {
			glob = append(glob, f)
		} else {
			own = append(own, f)
		}
	})
	if len(own) > 0 {
		fmt.Fprintln(w, "\nflags:")
		printFlags(w, own)
	}
	fmt.Fprintln(w, "\nglobal flags:")
	printFlags(w, glob)
}

func printFlags(w io.Writer, flags []*flag.Flag) {
	for _, f := range flags {
		dash := "--"
		if len(f.Name) == 1 {
			dash = "-"
		}
		name, usage := flag.UnquoteUsage(f)
		head := dash + f.Name
		if name != "" {
			head += " " + name
		}
		def := ""
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			def = fmt.Sprintf(" (default %q)", f.DefValue)
		}
		fmt.Fprintf(w, "  %-26s %s%s\n", head, usage, def)
	}
}

// commandFlags returns the flags command c takes, by asking it for help.
func commandFlags(c command) []*flag.Flag {
	e := &env{format: "table", stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard}
	var he helpError
	if err := c.run(context.Background(), e, []string{"--help"}); !errors.As(err, &he) {
		return nil
	}
	var out []*flag.Flag
	he.fs.VisitAll(func(f *flag.Flag) { out = append(out, f) })
	return out
}

func cmdVersion(_ context.Context, e *env, args []string) error {
	_, err := parseN(e.flags("version"), args, 0, 0, "version takes no arguments")
	if err != nil {
		return err
	}
	if e.format == "json" {
		return e.json(map[string]string{"version": versionNumber(), "go": runtime.Version(), "platform": runtime.GOOS + "/" + runtime.GOARCH})
	}
	fmt.Fprintf(e.stdout, "berth hostagent %s (%s, %s/%s)\n", versionNumber(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

// versionNumber is -X main.version, else the module version and VCS
// revision the binary was built from, else "devel".
func versionNumber() string {
	if version != "" {
		return version
	}
	v := "devel"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value[:min(12, len(s.Value))]
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "-dirty"
		}
	}
	if rev != "" {
		v += "+" + rev + dirty
	}
	return v
}

func cmdCompletion(_ context.Context, e *env, args []string) error {
	pos, err := parseN(e.flags("completion"), args, 1, 1, "completion takes one SHELL: bash, zsh or fish")
	if err != nil {
		return err
	}
	specs := completionSpecs()
	switch pos[0] {
	case "bash":
		writeBash(e.stdout, specs)
	case "zsh":
		writeZsh(e.stdout, specs)
	case "fish":
		writeFish(e.stdout, specs)
	default:
		return usagef("completion %q: want bash, zsh or fish", pos[0])
	}
	return nil
}

// completionSpec is what a completion script knows of one command.
type completionSpec struct {
	names []string // name and aliases
	help  string
	flags []*flag.Flag
	subs  []string // container's subcommands
}

func completionSpecs() []completionSpec {
	var out []completionSpec
	for _, c := range commands() {
		s := completionSpec{names: append([]string{c.name}, c.aliases...), help: c.help, flags: commandFlags(c)}
		if c.name == "container" {
			s.subs = []string{"create", "list", "remove"}
			for _, sub := range []string{"create", "list", "remove"} {
				for _, f := range subcommandFlags(sub) {
					if !slices.ContainsFunc(s.flags, func(g *flag.Flag) bool { return g.Name == f.Name }) {
						s.flags = append(s.flags, f)
					}
				}
			}
		}
		out = append(out, s)
	}
	return out
}

func subcommandFlags(sub string) []*flag.Flag {
	c, _ := lookupCommand("container")
	e := &env{format: "table", stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard}
	var he helpError
	if err := c.run(context.Background(), e, []string{sub, "--help"}); !errors.As(err, &he) {
		return nil
	}
	var out []*flag.Flag
	he.fs.VisitAll(func(f *flag.Flag) { out = append(out, f) })
	return out
}

func flagWords(fs []*flag.Flag) []string {
	var w []string
	for _, f := range fs {
		if len(f.Name) == 1 {
			w = append(w, "-"+f.Name)
		} else {
			w = append(w, "--"+f.Name)
		}
	}
	return w
}
