package testutil

import (
	"net"
	"testing"
)

// AcceptAndClose listens on addr ("127.0.0.1:0" for a free port, or an
// address a closed listener had, to reopen it) and closes every connection
// it accepts: a TCP service that is up, for checks that only connect. It
// runs until the listener is closed, by the test or at its end.
func AcceptAndClose(t testing.TB, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln
}
