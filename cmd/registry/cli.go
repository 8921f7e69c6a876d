package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/berth-registry/berth/registry/config"
)

// failer returns how a command reports a problem: one line on stderr,
// "prefix: " then the message, and the exit code to return.
func failer(stderr io.Writer, prefix string) func(code int, format string, a ...any) int {
	return func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, prefix+": "+format+"\n", a...)
		return code
	}
}

// runGrace is the grace period of a collection or retention run started
// by hand: --grace when given (flag, non-zero), else storage.gc.grace. It
// may not be shorter than storage.gc.grace, which the serving nodes
// protect.
func runGrace(cfg *config.Config, flag time.Duration) (time.Duration, error) {
	configured := cfg.Storage.GC.GraceOrDefault()
	if flag == 0 {
		return configured, nil
	}
	if flag < configured {
		return 0, fmt.Errorf("--grace %s is shorter than storage.gc.grace %s, which the serving nodes protect: pushes in flight could break", flag, configured)
	}
	return flag, nil
}

// parseCommand parses args with fs, flags anywhere among the arguments
// (parseInterspersed), and returns the others. When ok is false the
// command ends with code: -h printed usage on stdout (exitOK), or a bad
// flag was reported on stderr by fail, naming cmd and the help command.
func parseCommand(fs *flag.FlagSet, args []string, cmd, help, usage string, stdout io.Writer, fail func(int, string, ...any) int) (positional []string, code int, ok bool) {
	fs.SetOutput(io.Discard)
	positional, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return nil, exitOK, false
	}
	if err != nil {
		return nil, fail(exitUsage, "%s: %v; run %q", cmd, err, help), false
	}
	return positional, 0, true
}
