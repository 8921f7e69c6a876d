package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/berth-registry/berth/internal/bench/ceiling"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: ceilingserver ADDR")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	srv := &http.Server{Addr: os.Args[1], Handler: ceiling.New()}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		_ = srv.Shutdown(context.Background())
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ceilingserver:", err)
		os.Exit(1)
	}
}
