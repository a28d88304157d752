// Command handler is tenantreport: an Azure Functions custom handler that
// writes one Excel report across many Microsoft Entra tenants, with no
// secrets.
//
// Usage:
//
//	handler [serve]              what the Functions host runs (FUNCTIONS_CUSTOMHANDLER_PORT)
//	handler run [--out DIR]      one report run from the terminal, settings from the environment
//	handler demo [--out DIR]     a report of the built-in sample world on the local emulator
//	handler emulate [--world F]  run the emulator and print the settings that point at it
//	handler bench [--worlds W,…] [--variants V,…]  the scheduler against two baselines on the emulator's worlds
//	handler doctor [--tenant ID] [--json]  is every tenant ready? exit 1 if not
//	handler consent-url --tenant ID        the admin-consent URL of the bridge app in a tenant
//	handler permissions [--json]           the Graph permissions the enabled sections need
//	handler reports list [--top N] [--json]           the runs in storage, newest first
//	handler reports show <runId|latest>               a run record as JSON
//	handler reports download <runId|latest> [-o FILE] a run's workbook
//
// The reports commands read the store directly, so they need storage access
// and no function key; --dir DIR reads the directory of `handler run --out DIR`.
//
// Settings are read from the environment; see internal/settings.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
)

func main() {
	ctx, stop := notifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := dispatch(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, errUsage) && !errors.Is(err, errNotReady) {
			fmt.Fprintln(os.Stderr, "handler:", err)
		}
		// Never exit 0 on failure: the Functions host reads 0 as "done, do
		// not restart me".
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// stopSignal is the cause of main's context when a signal stops the
// handler. Its text ends up in the record of a run cut short ("cut short:
// the handler was stopped (SIGTERM) after …"), so it names the signal as
// operators know it; signal.NotifyContext's cause says "terminated signal
// received".
type stopSignal struct{ sig os.Signal }

func (s stopSignal) Error() string {
	name := s.sig.String()
	switch s.sig {
	case syscall.SIGTERM:
		name = "SIGTERM"
	case os.Interrupt:
		name = "SIGINT"
	}
	return "the handler was stopped (" + name + ")"
}

// notifyContext is signal.NotifyContext with a [stopSignal] cause. After
// the first signal the default behaviour returns, so a second one ends a
// handler that does not stop in time.
func notifyContext(parent context.Context, sigs ...os.Signal) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	done := make(chan struct{})
	go func() { // ends on the first signal or on stop
		defer signal.Stop(ch)
		select {
		case sig := <-ch:
			cancel(stopSignal{sig})
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() { close(done) })
		cancel(nil)
	}
}

// parseFlags parses a command's flags. On -h the flag package has printed
// the command's flags, and parseFlags returns flag.ErrHelp, which dispatch
// turns into success; any other problem is errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return flag.ErrHelp
	case err != nil:
		return errUsage
	}
	return nil
}

func dispatch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	err := command(ctx, args, getenv, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil // the help asked for is printed
	}
	return err
}

func command(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	// The first argument names the command; without one, or before flags,
	// it is serve (the Functions host starts the handler with no argument).
	// Help is the exception: "handler -h" asks for this usage, not serve's.
	cmd := "serve"
	if len(args) > 0 {
		switch a := args[0]; {
		case a == "-h" || a == "-help" || a == "--help":
			cmd, args = "help", args[1:]
		case a != "" && a[0] != '-':
			cmd, args = a, args[1:]
		}
	}
	switch cmd {
	case "serve":
		limitMemory(getenv)
		return serve(ctx, args, getenv, stderr)
	case "run":
		limitMemory(getenv)
		return runOnce(ctx, args, getenv, stdout, stderr)
	case "demo":
		return demo(ctx, args, stdout, stderr)
	case "emulate":
		return emulate(ctx, args, stdout, stderr)
	case "bench":
		return bench(ctx, args, stdout, stderr)
	case "doctor":
		return doctor(ctx, args, getenv, stdout, stderr)
	case "consent-url":
		return consentURL(args, getenv, stdout, stderr)
	case "permissions":
		return permissions(args, getenv, stdout, stderr)
	case "reports":
		return reports(ctx, args, getenv, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "handler: unknown command %q\n%s", cmd, usage)
		return errUsage
	}
}

// memoryLimit is the Go heap's soft limit for runs (serve, run), unless
// GOMEMLIMIT sets one. A run streams: over 1,000 tenants and 1.5 million
// users most of its peak was garbage between two collections, 330 MiB
// without a limit; with this one it peaked at 239 MiB for no measurable
// CPU (160 MiB cost 60% more CPU: too close to the live heap; see
// BENCHMARKS.md). It is soft: a heap that needs more gets it, and the
// runtime caps the collector's share of CPU.
const memoryLimit = 224 << 20

func limitMemory(getenv func(string) string) {
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
}

const usage = `usage: handler [command] [flags]

commands:
  serve     serve the Azure Functions custom-handler protocol (default)
  run       run one report with the settings of the environment
  demo      run a report of the sample world on the built-in emulator
  emulate   run the emulator and print the settings that point at it
  doctor    check each tenant: managed identity, exchange, permissions, Graph
  consent-url --tenant ID   print the admin-consent URL of the bridge app
  permissions               print the Graph permissions the enabled sections need
  reports list|show|download   read runs and workbooks from storage (handler reports help)
  bench     tenantreport's scheduler against two baselines on the emulator's worlds (BENCHMARKS.md)
`
