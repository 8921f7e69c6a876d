package main

import (
	"os"
	"os/exec"
	"path/filepath"
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
		"find":             {"--registry", "--min-version", "--no-trunc", "--sort"},
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

// TestCompletion: the bash script parses (bash -n) and completes commands
// and flags when run; zsh's and fish's name every command and flag, and
// parse when the shell is here.
func TestCompletion(t *testing.T) {
	ha := newCLI(t)
	dir := t.TempDir()
	bash := ha.run(t, "completion", "bash")
	script := filepath.Join(dir, "hostagent.bash")
	if err := os.WriteFile(script, []byte(bash), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bash", "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	// Run the completion function as bash would on "hostagent li<TAB>"
	// and "hostagent list --no<TAB>".
	probe := `source "$1"
COMP_WORDS=(hostagent li); COMP_CWORD=1; _hostagent; echo "${COMPREPLY[*]}"
COMP_WORDS=(hostagent list --no); COMP_CWORD=2; _hostagent; echo "${COMPREPLY[*]}"
COMP_WORDS=(hostagent completion ""); COMP_CWORD=2; _hostagent; echo "${COMPREPLY[*]}"`
	out, err := exec.Command("bash", "-c", probe, "probe", script).CombinedOutput()
	if err != nil {
		t.Fatalf("bash completion: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 3 || lines[0] != "list" || lines[1] != "--no-trunc" || lines[2] != "bash zsh fish" {
		t.Errorf("bash completions: %q", lines)
	}

	for shell, mustHave := range map[string][]string{
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
		if path, err := exec.LookPath(shell); err == nil {
			f := filepath.Join(dir, "hostagent."+shell)
			if err := os.WriteFile(f, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(path, "-n", f).CombinedOutput(); err != nil {
				t.Errorf("%s -n: %v\n%s", shell, err, out)
			}
		}
	}
	if line := ha.fail(t, exitUsage, "completion", "tcsh"); !strings.Contains(line, "bash, zsh or fish") {
		t.Errorf("completion tcsh: %s", line)
	}
}
