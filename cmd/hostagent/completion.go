package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// The completion scripts complete command names, a command's flags (after
// "-"), the word after container and completion (its subcommands, the
// shells), the values of --format, --compress and --sort, and files
// elsewhere. The shells themselves check them in completion_test.go.

// flagValues are the words offered after a flag that takes one of a few.
var flagValues = []struct {
	flag   string
	values []string
}{
	{"format", []string{"table", "json", "{{.Name}}:{{.Tag}}"}},
	{"compress", []string{"none", "gzip", "zstd"}},
	{"sort", []string{"name", "tag", "version", "created", "size"}},
}

// args is what a command takes after its name when it is one of a few
// words: container's subcommands, completion's shells.
func (s completionSpec) args() []string {
	if s.names[0] == "completion" {
		return []string{"bash", "zsh", "fish"}
	}
	return s.subs
}

func writeBash(w io.Writer, specs []completionSpec) {
	var names []string
	for _, s := range specs {
		names = append(names, s.names...)
	}
	fmt.Fprint(w, `# bash completion for hostagent: source <(hostagent completion bash)
_hostagent() {
    local cur prev cmd i
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    cmd=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
            -*) ;;
            *) cmd="${COMP_WORDS[i]}"; break ;;
        esac
    done
    case "$prev" in
`)
	for _, v := range flagValues {
		fmt.Fprintf(w, "        --%[1]s|-%[1]s) COMPREPLY=($(compgen -W %[2]q -- \"$cur\")); return ;;\n", v.flag, shellWords(v.values))
	}
	fmt.Fprintf(w, `    esac
    if [[ -z "$cmd" ]]; then
        COMPREPLY=($(compgen -W "%s" -- "$cur"))
        return
    fi
    local flags="" args=""
    case "$cmd" in
`, strings.Join(names, " "))
	for _, s := range specs {
		fmt.Fprintf(w, "        %s) flags=%q; args=%q ;;\n", strings.Join(s.names, "|"), strings.Join(flagWords(s.flags), " "), strings.Join(s.args(), " "))
	}
	fmt.Fprint(w, `    esac
    # Once the command has its word (container create), files again.
    for ((i++; i < COMP_CWORD; i++)); do
        [[ " $args " == *" ${COMP_WORDS[i]} "* ]] && args=""
    done
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    elif [[ -n "$args" ]]; then
        COMPREPLY=($(compgen -W "$args" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}
complete -o default -F _hostagent hostagent
`)
}

// writeZsh writes a script that works both ways zsh takes one: autoloaded
// from a file _hostagent in $fpath (its body then runs on the first TAB,
// and must complete that TAB itself) and sourced after compinit.
func writeZsh(w io.Writer, specs []completionSpec) {
	fmt.Fprint(w, `#compdef hostagent
# zsh completion for hostagent: hostagent completion zsh > "${fpath[1]}/_hostagent"
# (or, after compinit: source <(hostagent completion zsh))
_hostagent() {
    local -a commands
    commands=(
`)
	for _, s := range specs {
		for _, n := range s.names {
			fmt.Fprintf(w, "        %s\n", zshQuote(n+":"+zshEscape(s.help)))
		}
	}
	fmt.Fprint(w, `    )
    case "${words[CURRENT-1]}" in
`)
	for _, v := range flagValues {
		fmt.Fprintf(w, "        --%[1]s|-%[1]s) compadd -- %[2]s; return ;;\n", v.flag, zshWords(v.values))
	}
	fmt.Fprint(w, `    esac
    if (( CURRENT == 2 )); then
        _describe -t commands 'hostagent command' commands
        return
    fi
    local -a opts args
    case "${words[2]}" in
`)
	for _, s := range specs {
		fmt.Fprintf(w, "        %s)\n            opts=(", strings.Join(s.names, "|"))
		for i, word := range flagWords(s.flags) {
			fmt.Fprintf(w, " %s", zshQuote(word+":"+zshEscape(s.flags[i].Usage)))
		}
		fmt.Fprintf(w, " )\n            args=(%s)\n            ;;\n", zshWords(s.args()))
	}
	fmt.Fprint(w, `    esac
    # Once the command has its word (container create), files again.
    local word
    for word in "${(@)words[3,CURRENT-1]}"; do
        (( ${args[(Ie)$word]} )) && args=()
    done
    if [[ "$PREFIX" == -* ]]; then
        _describe -t options 'flag' opts
    elif (( ${#args} )); then
        compadd -- "${args[@]}"
    else
        _files
    fi
}
if [[ "${zsh_eval_context[-1]}" == loadautofunc ]]; then
    _hostagent "$@"
else
    compdef _hostagent hostagent
fi
`)
}

func writeFish(w io.Writer, specs []completionSpec) {
	fmt.Fprintln(w, "# fish completion for hostagent: hostagent completion fish | source")
	fmt.Fprintln(w, "complete -c hostagent -f")
	for _, s := range specs {
		for _, n := range s.names {
			fmt.Fprintf(w, "complete -c hostagent -n __fish_use_subcommand -a %s -d %s\n", fishQuote(n), fishQuote(s.help))
		}
	}
	for _, s := range specs {
		seen := "__fish_seen_subcommand_from " + strings.Join(s.names, " ")
		cond := fishQuote(seen)
		for _, f := range s.flags {
			opt := "-l"
			if len(f.Name) == 1 {
				opt = "-s"
			}
			// A flag's value: one of its few words, else a file.
			value := ""
			if vs := valuesOf(f.Name); vs != nil {
				value = " -x -a " + fishQuote(strings.Join(vs, " "))
			} else if !isBoolFlag(f) {
				value = " -r -F"
			}
			fmt.Fprintf(w, "complete -c hostagent -n %s %s %s%s -d %s\n", cond, opt, fishQuote(f.Name), value, fishQuote(f.Usage))
		}
		args := s.args()
		switch {
		case args == nil:
			fmt.Fprintf(w, "complete -c hostagent -n %s -F\n", cond)
		default:
			// The command's word first (container create), then files.
			had := "__fish_seen_subcommand_from " + strings.Join(args, " ")
			fmt.Fprintf(w, "complete -c hostagent -n %s -a %s\n", fishQuote(seen+"; and not "+had), fishQuote(strings.Join(args, " ")))
			if s.names[0] != "completion" {
				fmt.Fprintf(w, "complete -c hostagent -n %s -F\n", fishQuote(seen+"; and "+had))
			}
		}
	}
}

func valuesOf(flagName string) []string {
	for _, v := range flagValues {
		if v.flag == flagName {
			return v.values
		}
	}
	return nil
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// shellWords joins words for bash's compgen -W, single-quoting those with
// characters other than letters, digits, '-' and '.'.
func shellWords(words []string) string {
	var q []string
	for _, word := range words {
		if strings.Trim(word, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") != "" {
			word = zshQuote(word)
		}
		q = append(q, word)
	}
	return strings.Join(q, " ")
}

// zshWords quotes each word for zsh.
func zshWords(words []string) string {
	var q []string
	for _, word := range words {
		q = append(q, zshQuote(word))
	}
	return strings.Join(q, " ")
}

// zshQuote single-quotes s for zsh.
func zshQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// zshEscape escapes what _describe and option specs treat specially.
func zshEscape(s string) string {
	return strings.ReplaceAll(s, ":", `\:`)
}

// fishQuote single-quotes s for fish.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(s) + "'"
}
