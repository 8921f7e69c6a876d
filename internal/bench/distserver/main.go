package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem" // drivers register themselves
	_ "github.com/distribution/distribution/v3/registry/storage/driver/s3-aws"
	"github.com/sirupsen/logrus"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "distserver:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: distserver CONFIG.yml")
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	cfg, err := configuration.Parse(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("configuration %s: %w", args[0], err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The log line of every request would cost Distribution time the
	// benchmark does not mean to measure (Berth's access log is off too).
	logrus.SetOutput(io.Discard)
	logrus.SetLevel(logrus.ErrorLevel)
	app, err := newApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() { _ = app.Shutdown() }()
	srv := &http.Server{Addr: cfg.HTTP.Addr, Handler: app}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return srv.Shutdown(context.Background())
	}
}

// newApp turns NewApp's panics on a bad configuration into errors.
func newApp(ctx context.Context, cfg *configuration.Configuration) (app *handlers.App, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("distribution: %v", p)
		}
	}()
	return handlers.NewApp(ctx, cfg), nil
}
