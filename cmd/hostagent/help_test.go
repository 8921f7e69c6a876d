package main

import (
	"os"
	"strings"
	"testing"
)

// TestHelp: --help, -h, help, COMMAND --help and COMMAND -h print usage on
// standard output and exit 0; a command's help lists its own flags.
func TestHelp(t *testing.T) {
	ha := newCLI(t)
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {}} {
		out := ha.run(t, args...)
		if !strings.Contains(out, "usage: hostagent") || !strings.Contains(out, "completion") {
			t.Errorf("hostagent %v:\n%s", args, out)
		}
	}
	for cmd, flags := range map[string][]string{
		"list":             {"--filter", "--format", "--no-trunc", "--digests", "--sort"},
		"find":             {"--registry", "--min-version", "--no-trunc", "--sort", "--platform"},
		"remove":           {"--force"},
		"rm":               {"--force"},
		"save":             {"--output", "--compress", "--no-pull"},
		"load":             {"--input", "--force"},
		"commit":           {"--name", "--version", "--publisher", "--force"},
		"verify":           {"--repair"},
		"container":        {"usage: hostagent container"},
		"container create": {"--image", "--max-size"},
	} {
		for _, h := range []string{"--help", "-h"} {
			args := append(strings.Fields(cmd), h)
			out := ha.run(t, args...)
			c, _ := lookupCommand(strings.Fields(cmd)[0]) // rm is remove's alias
			if !strings.Contains(out, "usage: hostagent "+c.name) {
				t.Errorf("hostagent %s: no usage line:\n%s", strings.Join(args, " "), out)
			}
			for _, f := range flags {
				if !strings.Contains(out, f) {
					t.Errorf("hostagent %s: lacks %s:\n%s", strings.Join(args, " "), f, out)
				}
			}
		}
	}
	// Every command, and none touches the store for it.
	for _, c := range commands() {
		if out := ha.run(t, c.name, "--help"); !strings.HasPrefix(out, "usage: hostagent "+c.name) {
			t.Errorf("%s --help:\n%s", c.name, out)
		}
	}
	if _, err := os.Stat(ha.store); !os.IsNotExist(err) {
		t.Errorf("help made the store: %v", err)
	}
	if out := ha.run(t, "help", "save"); !strings.Contains(out, "--compress") {
		t.Errorf("help save:\n%s", out)
	}
	if line := ha.fail(t, exitUsage, "list", "--bogus"); !strings.Contains(line, "bogus") {
		t.Errorf("unknown flag: %s", line)
	}
}

func TestVersion(t *testing.T) {
	ha := newCLI(t)
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out := ha.run(t, args...)
		if !strings.HasPrefix(out, "berth hostagent ") || !strings.Contains(out, "go1.") {
			t.Errorf("hostagent %v: %q", args, out)
		}
	}
	if line := ha.fail(t, exitUsage, "version", "extra"); !strings.Contains(line, "no arguments") {
		t.Errorf("version extra: %s", line)
	}
}

// TestCompletion: every script names every command and the flags asked, and only
// the three shells have one. (completion_test.go runs the scripts in the
// shells.)
func TestCompletion(t *testing.T) {
	ha := newCLI(t)
	for shell, mustHave := range map[string][]string{
		"bash": {"list|images|ls)", "--no-trunc", "complete -o default -F _hostagent hostagent"},
		"zsh":  {"#compdef hostagent", "'install:", "'rmi:", "'--no-trunc:", "'--repair:", "compdef _hostagent hostagent"},
		"fish": {"-a 'install'", "-a 'rmi'", "-l 'no-trunc'", "-l 'repair'", "__fish_seen_subcommand_from remove rm rmi"},
	} {
		out := ha.run(t, "completion", shell)
		for _, c := range commands() {
			mustHave = append(mustHave, c.name)
		}
		for _, want := range mustHave {
			if !strings.Contains(out, want) {
				t.Errorf("completion %s lacks %q", shell, want)
			}
		}
	}
	if line := ha.fail(t, exitUsage, "completion", "tcsh"); !strings.Contains(line, "bash, zsh or fish") {
		t.Errorf("completion tcsh: %s", line)
	}
}
