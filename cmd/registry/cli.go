package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// failer returns how a command reports a problem: one line on stderr,
// "prefix: " then the message, and the exit code to return.
func failer(stderr io.Writer, prefix string) func(code int, format string, a ...any) int {
	return func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, prefix+": "+format+"\n", a...)
		return code
	}
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
