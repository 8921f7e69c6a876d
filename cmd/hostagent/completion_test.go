package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/testutil"
)

// completionCase is one command line typed up to the cursor, and what TAB
// must offer there: exactly want, or (with some) at least want.
type completionCase struct {
	line string
	want []string
	some bool
	not  []string
}

// completionCases are what every shell must complete alike. A file
// layout.tar lies in the directory the shell runs in.
func completionCases() []completionCase {
	var all []string
	for _, c := range commands() {
		all = append(all, c.name)
		all = append(all, c.aliases...)
	}
	return []completionCase{
		{line: "hostagent ", want: all},
		{line: "hostagent ins", want: []string{"inspect", "install", "install-os-image"}},
		{line: "hostagent list --no", want: []string{"--no-trunc"}},
		{line: "hostagent rm -", want: []string{"-f", "--force", "--format", "--store"}, some: true, not: []string{"--compress"}},
		{line: "hostagent completion ", want: []string{"bash", "fish", "zsh"}},
		{line: "hostagent container ", want: []string{"create", "list", "remove"}},
		{line: "hostagent container create ", want: []string{"layout.tar"}, some: true, not: []string{"create"}},
		{line: "hostagent save --compress ", want: []string{"gzip", "none", "zstd"}},
		{line: "hostagent list --sort c", want: []string{"created"}},
		{line: "hostagent load --input lay", want: []string{"layout.tar"}},
	}
}

func (c completionCase) check(t *testing.T, shell string, got []string) {
	t.Helper()
	slices.Sort(got)
	got = slices.Compact(got)
	want := slices.Sorted(slices.Values(c.want))
	ok := slices.Equal(got, want)
	if c.some {
		ok = !slices.ContainsFunc(want, func(w string) bool { return !slices.Contains(got, w) })
	}
	for _, n := range c.not {
		ok = ok && !slices.Contains(got, n)
	}
	if !ok {
		t.Errorf("%s: %q<TAB> offers %q, want %q (not %q)", shell, c.line, got, want, c.not)
	}
}

// completionDir is a directory with layout.tar in it for the shells to run
// in, with the generated script written to it as name.
func completionDir(t *testing.T, ha *cli, shell, name string) (dir, script string) {
	t.Helper()
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "layout.tar"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	script = filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, []byte(ha.run(t, "completion", shell)), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, script
}

// bashProbe sources the script $1, then for each further argument splits
// it into COMP_WORDS as bash would on TAB, runs the completion function and
// prints what it offers and a line PROBE-END.
const bashProbe = `source "$1"; shift
for line; do
    read -ra COMP_WORDS <<< "$line"
    [[ "$line" == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=()
    _hostagent
    printf '%s\n' "${COMPREPLY[@]}" PROBE-END
done
`

// TestCompletionBash: bash parses the script and completes as zsh and fish.
func TestCompletionBash(t *testing.T) {
	bash := testutil.RequireTool(t, "bash")
	dir, script := completionDir(t, newCLI(t), "bash", "hostagent.bash")
	testutil.Cmd{Path: bash, Dir: dir, Timeout: time.Minute}.Run(t, "-n", script)
	cases := completionCases()
	args := []string{"-c", bashProbe, "probe", script}
	for _, c := range cases {
		args = append(args, c.line)
	}
	out := testutil.Cmd{Path: bash, Dir: dir, Timeout: time.Minute}.Run(t, args...)
	checkAnswers(t, "bash", string(out), cases)
}

// checkAnswers checks what a probe printed, one answer per case, each
// ended by a line PROBE-END.
func checkAnswers(t *testing.T, shell, out string, cases []completionCase) {
	t.Helper()
	offered := strings.Split(out, "PROBE-END\n")
	if len(offered) != len(cases)+1 {
		t.Fatalf("%s probe printed %d answers for %d lines:\n%s", shell, len(offered)-1, len(cases), out)
	}
	for i, c := range cases {
		c.check(t, shell, strings.Fields(offered[i]))
	}
}

// zshProbe runs an interactive zsh on a pseudo-terminal (zsh/zpty), has it
// source the set-up $1, then for each further argument clears the line,
// types it and TAB, and prints each word that completion offered (every
// compadd the completion system made) and a line PROBE-END.
const zshProbe = `zmodload zsh/zpty || exit 1
zpty probe zsh -f -i
zpty -w probe "source ${(q)1}"
shift
local line typed
for typed; do
    zpty -w -n probe $'\C-u'"$typed"$'\t'
    while zpty -r probe line; do
        line=${line%%$'\n'}; line=${line%%$'\r'}
        [[ $line == *PROBE-MATCH:* ]] && print -r -- "${line#*PROBE-MATCH:}"
        [[ $line == *PROBE-END* ]] && break
    done
    print -r -- PROBE-END
done
zpty -d probe
`

// zshSetup loads compinit, the script by %[2]s (autoload: from $fpath as
// the docs install it; source: source <(hostagent completion zsh)), and the
// probe's compadd, which reports what it adds and then adds it. The
// completion system empties comppostfuncs after each use.
const zshSetup = `PROMPT='' RPROMPT='' PS2=''
fpath=(%[1]s $fpath)
autoload -Uz compinit && compinit -u -D
%[2]s
zstyle ':completion:*' list-grouped false
zstyle ':completion:*' menu no
compadd() {
    local -a m
    builtin compadd -O m "$@"
    local w; for w in "${m[@]}"; do print -r -- "PROBE-MATCH:$w"; done
    builtin compadd "$@"
}
probe_end() { print -r -- PROBE-END; comppostfuncs=(probe_end) }
comppostfuncs=(probe_end)
bindkey '^I' complete-word
`

// TestCompletionZsh: zsh parses the script and, loaded either way the docs
// say, completes commands, flags, subcommands, flag values and files. The
// first TAB after autoloading counts: the script's body must complete it.
func TestCompletionZsh(t *testing.T) {
	zsh := testutil.RequireTool(t, "zsh")
	ha := newCLI(t)
	for mode, load := range map[string]string{
		"autoload": "",
		"source":   "source <(" + zshQuote(hostagentBin) + " --store " + zshQuote(ha.store) + " completion zsh)",
	} {
		t.Run(mode, func(t *testing.T) {
			dir, script := completionDir(t, ha, "zsh", filepath.Join("functions", "_hostagent"))
			testutil.Cmd{Path: zsh, Dir: dir, Timeout: time.Minute}.Run(t, "-n", script)
			setup := filepath.Join(t.TempDir(), "setup.zsh")
			if err := os.WriteFile(setup, []byte(fmt.Sprintf(zshSetup, zshQuote(filepath.Dir(script)), load)), 0o644); err != nil {
				t.Fatal(err)
			}
			if mode == "source" { // only the sourced script may complete
				if err := os.Remove(script); err != nil {
					t.Fatal(err)
				}
			}
			probe := filepath.Join(t.TempDir(), "probe.zsh")
			if err := os.WriteFile(probe, []byte(zshProbe), 0o644); err != nil {
				t.Fatal(err)
			}
			cases := completionCases()
			args := []string{"-f", probe, setup}
			for _, c := range cases {
				args = append(args, c.line)
			}
			out := testutil.Cmd{Path: zsh, Dir: dir, Timeout: 2 * time.Minute, Env: []string{"HOME=" + dir, "TERM=dumb"}}.Run(t, args...)
			checkAnswers(t, "zsh "+mode, string(out), cases)
		})
	}
}

// TestCompletionFish: fish parses the script and, fed it as the docs say
// (hostagent completion fish | source), completes as zsh does.
func TestCompletionFish(t *testing.T) {
	fish := testutil.RequireTool(t, "fish")
	ha := newCLI(t)
	dir, script := completionDir(t, ha, "fish", "hostagent.fish")
	testutil.Cmd{Path: fish, Dir: dir, Timeout: time.Minute}.Run(t, "--no-config", "--no-execute", script)
	for _, c := range completionCases() {
		cmd := testutil.Cmd{Path: fish, Dir: dir, Timeout: time.Minute,
			Env: []string{"HOME=" + dir, "HOSTAGENT=" + hostagentBin, "STORE=" + ha.store, "LINE=" + c.line}}
		out := cmd.Run(t, "--no-config", "-c", `$HOSTAGENT --store $STORE completion fish | source; complete -C $LINE`)
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if l != "" {
				got = append(got, strings.TrimSuffix(strings.SplitN(l, "\t", 2)[0], "/"))
			}
		}
		c.check(t, "fish", got)
	}
}
