package main

import (
	"fmt"
	"io"
	"strings"
)

// The completion scripts complete command names, a command's flags (after
// "-"), container's subcommands, and files elsewhere; the values of
// --format, --compress and completion's SHELL too.

func writeBash(w io.Writer, specs []completionSpec) {
	var names []string
	for _, s := range specs {
		names = append(names, s.names...)
	}
	fmt.Fprintf(w, `# bash completion for hostagent: source <(hostagent completion bash)
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
        --format) COMPREPLY=($(compgen -W "table json '{{.Name}}:{{.Tag}}'" -- "$cur")); return ;;
        --compress) COMPREPLY=($(compgen -W "none gzip zstd" -- "$cur")); return ;;
        --sort) COMPREPLY=($(compgen -W "name tag version created size" -- "$cur")); return ;;
    esac
    if [[ -z "$cmd" ]]; then
        COMPREPLY=($(compgen -W "%s" -- "$cur"))
        return
    fi
    local flags="" args=""
    case "$cmd" in
`, strings.Join(names, " "))
	for _, s := range specs {
		args := strings.Join(s.subs, " ")
		if s.names[0] == "completion" {
			args = "bash zsh fish"
		}
		fmt.Fprintf(w, "        %s) flags=%q; args=%q ;;\n", strings.Join(s.names, "|"), strings.Join(flagWords(s.flags), " "), args)
	}
	fmt.Fprint(w, `    esac
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

func writeZsh(w io.Writer, specs []completionSpec) {
	fmt.Fprint(w, `#compdef hostagent
# zsh completion for hostagent: hostagent completion zsh > "${fpath[1]}/_hostagent"
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
    if (( CURRENT == 2 )); then
        _describe -t commands 'hostagent command' commands
        return
    fi
    local -a opts
    case "${words[2]}" in
`)
	for _, s := range specs {
		fmt.Fprintf(w, "        %s)\n            opts=(", strings.Join(s.names, "|"))
		for i, word := range flagWords(s.flags) {
			fmt.Fprintf(w, " %s", zshQuote(word+":"+zshEscape(s.flags[i].Usage)))
		}
		for _, sub := range s.subs {
			fmt.Fprintf(w, " %s", zshQuote(sub))
		}
		if s.names[0] == "completion" {
			fmt.Fprint(w, " bash zsh fish")
		}
		fmt.Fprint(w, " )\n            ;;\n")
	}
	fmt.Fprint(w, `    esac
    if [[ "$PREFIX" == -* ]]; then
        _describe -t options 'flag' opts
    else
        _files
    fi
}
compdef _hostagent hostagent
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
		cond := fishQuote("__fish_seen_subcommand_from " + strings.Join(s.names, " "))
		for _, f := range s.flags {
			opt := "-l"
			if len(f.Name) == 1 {
				opt = "-s"
			}
			fmt.Fprintf(w, "complete -c hostagent -n %s %s %s -d %s\n", cond, opt, fishQuote(f.Name), fishQuote(f.Usage))
		}
		for _, sub := range s.subs {
			fmt.Fprintf(w, "complete -c hostagent -n %s -a %s\n", cond, sub)
		}
		if s.names[0] == "completion" {
			fmt.Fprintf(w, "complete -c hostagent -n %s -a 'bash zsh fish'\n", cond)
		} else {
			fmt.Fprintf(w, "complete -c hostagent -n %s -F\n", cond)
		}
	}
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
