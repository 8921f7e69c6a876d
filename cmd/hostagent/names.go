package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"strings"

	"github.com/berth-registry/berth/hostagent"
)

// localName is the name an image made here gets (commit --name, tag DST,
// load --name): see hostagent.LocalName. Capitals become lower case with
// a notice on stderr.
func (e *env) localName(s string) string {
	name, lowered := hostagent.LocalName(s)
	if lowered {
		e.notices = append(e.notices, fmt.Sprintf("image names are lower case: %s is named %s", s, name))
	}
	return name
}

// isGlob reports whether s has path.Match's special characters.
func isGlob(s string) bool { return strings.ContainsAny(s, "*?[") }

// expandRefs turns remove's arguments into references: "-" reads them from
// standard input (one or more a line, as list -q prints them), and a glob
// gives every image whose name it matches (as list NAME-GLOB does); a glob
// that matches nothing is an error, as a name that names nothing is.
func (e *env) expandRefs(ctx context.Context, a *hostagent.Agent, args []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(r string) {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	for _, arg := range args {
		switch {
		case arg == "-":
			sc := bufio.NewScanner(e.stdin)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			n := 0
			for sc.Scan() {
				for _, f := range strings.Fields(sc.Text()) {
					add(f)
					n++
				}
			}
			if err := sc.Err(); err != nil {
				return nil, fmt.Errorf("read names from standard input: %w", err)
			}
			if n == 0 && !e.quiet {
				fmt.Fprintln(e.stderr, "hostagent: note: no names on standard input: nothing to remove")
			}
		case isGlob(arg):
			f, err := hostagent.ParseFilter([]string{"name=" + arg})
			if err != nil {
				return nil, err
			}
			imgs, err := a.List(ctx, f)
			if err != nil {
				return nil, err
			}
			if len(imgs) == 0 {
				return nil, fmt.Errorf("%q matches no image: %w in the store", arg, hostagent.ErrNotFound)
			}
			for _, i := range imgs {
				add(cmp.Or(i.Reference, string(i.Digest)))
			}
		default:
			add(arg)
		}
	}
	return out, nil
}
