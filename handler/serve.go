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
	"strings"
	"time"

	"github.com/tenantreport/tenantreport/internal/apiauth"
	"github.com/tenantreport/tenantreport/internal/customhandler"
	"github.com/tenantreport/tenantreport/internal/settings"
)

// newServeHandler wires the handler's routes. It does no I/O; ctx ends
// the background refresh of the API's signing keys.
func newServeHandler(ctx context.Context, s settings.Settings, tr http.RoundTripper, log *slog.Logger) (http.Handler, error) {
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
	var entra *customhandler.Entra
	if s.API.Enabled() {
		entra = &customhandler.Entra{
			Authenticator: apiauth.New(ctx, apiauth.Config{
				Authority: strings.TrimSuffix(s.Cloud.AuthorityHost, "/"),
				TenantID:  s.API.TenantID,
				Audiences: []string{s.API.AppIDURI, s.API.ClientID},
				Client:    &http.Client{Transport: tr, Timeout: time.Minute},
				Logger:    log,
			}),
			Callers: s.API.Callers,
		}
	}
	return customhandler.New(customhandler.Config{Runner: runner, Store: st, Queue: st, Logger: log, Entra: entra}), nil
}

// shutdownGrace bounds how long serve, stopped, waits for the invocations
// in flight to record where they stopped and reply. They are cancelled at
// once, so this is a storage write or two, not a run's remaining work: the
// platform's own grace after SIGTERM is undocumented for custom handlers
// (Azure/Azure-Functions#2490) and 30 s under KEDA/Kubernetes
// (azure-functions-host#7332), and waiting for a run to end instead would
// lose its record to the SIGKILL that follows.
const shutdownGrace = 15 * time.Second

// errStopped is the cause of invocations cancelled when serve's context
// ends without a cause of its own (a signal gives one; see stopSignal).
var errStopped = errors.New("the handler was stopped")

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
	handler, err := newServeHandler(ctx, s, tr, log)
	if err != nil {
		ln.Close()
		return err
	}

	// Invocations run under base, not ctx: a stop cancels them with its
	// cause, so a run cut short records why (and what it had read), an
	// on-demand run stays queued for its redelivery, and the host gets a
	// non-2xx reply, all before shutdownGrace runs out.
	base, stopInvocations := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopInvocations(nil)
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return base }}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String(), "tenants", len(s.Tenants), "entra_api", s.API.Enabled())

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	cause := context.Cause(ctx)
	if errors.Is(cause, context.Canceled) {
		cause = errStopped
	}
	log.Info("shutting down: cancelling the invocations in flight", "cause", cause)
	start := time.Now()
	stopInvocations(cause)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// Exit non-zero: an invocation may not have recorded its end.
		return fmt.Errorf("shutdown: invocations still in flight after %s: %w", shutdownGrace, err)
	}
	log.Info("stopped", "took", time.Since(start).Round(time.Millisecond))
	return nil
}
