package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/tenantreport/tenantreport/internal/customhandler"
	"github.com/tenantreport/tenantreport/internal/settings"
)

// newServeHandler wires the handler's routes. It does no I/O.
func newServeHandler(s settings.Settings, tr http.RoundTripper, log *slog.Logger) (http.Handler, error) {
	blobs, err := newStore(s.Storage, s.Container, s.ManagedIdentityClientID, tr)
	if err != nil {
		return nil, err
	}
	st := &storage{Store: blobs}
	if st.queue, st.queueErr = newQueue(s, tr); st.queueErr != nil {
		// Timer runs and downloads need no queue: serve them, and let
		// on-demand requests say what is missing.
		log.Warn("on-demand runs are off", "error", st.queueErr)
	}
	runner, err := newRunner(s, tr, st, log)
	if err != nil {
		return nil, err
	}
	runner.Records = st
	return customhandler.New(customhandler.Config{Runner: runner, Store: st, Queue: st, Logger: log}), nil
}

// shutdownGrace bounds how long a SIGTERM waits for an invocation in flight.
const shutdownGrace = 25 * time.Second

func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	port := getenv("FUNCTIONS_CUSTOMHANDLER_PORT")
	if port == "" {
		return errors.New("FUNCTIONS_CUSTOMHANDLER_PORT is not set: serve is started by the Functions host (use 'handler run' from a terminal)")
	}
	s, tr, err := loadSettings(getenv)
	if err != nil {
		return err
	}
	// Listen before any slow work: the host polls GET / for readiness.
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	handler, err := newServeHandler(s, tr, log)
	if err != nil {
		ln.Close()
		return err
	}

	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String(), "tenants", len(s.Tenants))

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
