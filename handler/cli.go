package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tenantreport/tenantreport/internal/emulator"
	"github.com/tenantreport/tenantreport/internal/graphdata"
	"github.com/tenantreport/tenantreport/internal/report"
	"github.com/tenantreport/tenantreport/internal/reportstore"
	"github.com/tenantreport/tenantreport/internal/run"
	"github.com/tenantreport/tenantreport/internal/settings"
)

// runOnce is `handler run`: one report with the environment's settings.
func runOnce(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "write the report to this directory instead of blob storage")
	verbose := fs.Bool("v", false, "log every step to stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	s, tr, err := loadSettings(getenv)
	if err != nil {
		return err
	}
	var store run.Uploader
	where := *out
	if *out != "" {
		if store, err = reportstore.NewDir(*out); err != nil {
			return err
		}
	} else {
		if store, err = openStore(ctx, s, tr); err != nil {
			return err
		}
		where = "container " + s.Container
	}
	return reportOnce(ctx, s, tr, store, where, *verbose, stdout, stderr)
}

// reportOnce runs one report, printing a line per tenant as it finishes and a
// summary table at the end.
func reportOnce(ctx context.Context, s settings.Settings, tr http.RoundTripper, store run.Uploader, where string, verbose bool, stdout, stderr io.Writer) error {
	// A tenant's outcome is its progress line; the runner's warnings say the
	// same again ("tenant failed", "section failed"), so they wait for -v.
	level := slog.LevelError
	if verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	runner, err := newRunner(s, tr, store, log)
	if err != nil {
		return err
	}
	runner.Progress = func(r run.Info, t *run.TenantResult) {
		if t == nil {
			if r.Predicted > 0 {
				fmt.Fprintf(stdout, "planned: %d tenants, collected in %s at best (Graph's budgets); expected by %s\n",
					r.TenantsTotal, r.Predicted.Round(time.Second), r.Expected.Local().Format(time.TimeOnly))
			}
			return
		}
		line := fmt.Sprintf("[%d/%d] %-24s %-7s %s", r.TenantsDone, r.TenantsTotal, t.DisplayName, t.Status, outcome(*t))
		if left := time.Until(r.Expected); r.TenantsDone < r.TenantsTotal && left > 0 {
			line += fmt.Sprintf("  (expected by %s, in %s)", r.Expected.Local().Format(time.TimeOnly), left.Round(time.Second))
		}
		fmt.Fprintln(stdout, line)
	}
	rec, err := runner.Run(ctx, run.Request{Trigger: "cli"})
	if rec.Report != "" && rec.ReportBytes > 0 {
		fmt.Fprintf(stdout, "\nreport: %s (in %s, %d bytes)\n", rec.Report, where, rec.ReportBytes)
		if n := rec.TenantWorkbooks(); n > 0 {
			fmt.Fprintf(stdout, "tenant workbooks: %d of %d tenants, in %s/\n", n, len(rec.Tenants), strings.TrimSuffix(rec.Report, ".xlsx"))
		}
		fmt.Fprintln(stdout)
		summaryTable(stdout, rec)
	}
	if errors.Is(err, run.ErrAllTenantsFailed) {
		return fmt.Errorf("every tenant failed; see the Error column")
	}
	return err
}

func summaryTable(w io.Writer, rec run.Record) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tTENANT ID\tSTATUS\tUSERS\tENABLED\tGUESTS\tNOTES")
	for _, t := range rec.Tenants {
		if s, _ := t.Section("users"); s.Status == graphdata.SectionOK {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\n", t.DisplayName, t.TenantID, t.Status, t.Users, t.EnabledUsers, t.Guests, tableNotes(t))
		} else {
			// Counts that were not read are unknown, not zero.
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t%s\n", t.DisplayName, t.TenantID, t.Status, tableNotes(t))
		}
	}
	tw.Flush()
}

// outcome is a tenant's progress line after its status.
func outcome(t run.TenantResult) string {
	if t.Status == run.StatusFailed && len(t.Sections) == 0 {
		return t.Error
	}
	out := fmt.Sprintf("%6d users", t.Users)
	if n := notes(t); n != "" {
		out += "  " + n
	}
	return out
}

// notes names the sections that failed or were not available, with why,
// as the Summary's Notes column does.
func notes(t run.TenantResult) string { return report.Notes(t.Error, t.Sections) }

// tableNotes is the summary table's Notes: a tenant that could not be
// reached has its whole diagnosis on its progress line above, so the table
// gives its AADSTS code, if any, and points there.
func tableNotes(t run.TenantResult) string {
	if t.Error == "" || len(t.Sections) > 0 {
		return notes(t)
	}
	if code := aadstsCode.FindString(t.Error); code != "" {
		return code + ", see above"
	}
	return "see above"
}

// aadstsCode finds the code of an Entra error, which tenantauth.Error.Explain
// puts first.
var aadstsCode = regexp.MustCompile(`\bAADSTS\d+\b`)

// demo is the main job on the embedded default: the sample world on the
// in-process emulator, the report written to a local directory.
func demo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "reports", "directory to write the report to")
	worldFile := fs.String("world", "", "world file, or a shipped world ("+strings.Join(emulator.SampleWorldNames(), ", ")+"), instead of the demo's")
	verbose := fs.Bool("v", false, "log every step to stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	em, err := startWorld(*worldFile)
	if err != nil {
		return err
	}
	defer em.Close()

	// No CA file: the emulator's own client trusts its CA, and refuses any
	// other host, so the demo cannot reach the internet whatever a library
	// decides to call.
	env := map[string]string{}
	for _, kv := range em.Env("") {
		env[kv[0]] = kv[1]
	}
	// azidentity reads the managed identity endpoint from the process
	// environment only; this process is the emulator's sole client.
	for _, k := range []string{"IDENTITY_ENDPOINT", "IDENTITY_HEADER"} {
		if err := os.Setenv(k, env[k]); err != nil {
			return err
		}
	}
	s, err := settings.Load(func(k string) string { return env[k] })
	if err != nil {
		return err
	}
	store, err := reportstore.NewDir(*out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "emulator: %s (%d tenants)\n", em.URL, len(s.Tenants))
	return reportOnce(ctx, s, em.Client().Transport, store, *out, *verbose, stdout, stderr)
}

// startWorld serves a world file or a shipped world by name ("" is the
// demo's sample world) on the emulator.
func startWorld(nameOrPath string) (*emulator.Running, error) {
	world := emulator.SampleWorld()
	if nameOrPath != "" {
		var err error
		if world, err = emulator.OpenWorld(nameOrPath); err != nil {
			return nil, err
		}
	}
	return emulator.Start(world)
}

// emulate is `handler emulate`: serve a world until interrupted, printing
// the settings that point a serve or run process at it.
func emulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("emulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	worldFile := fs.String("world", "", "world file, or a shipped world ("+strings.Join(emulator.SampleWorldNames(), ", ")+"); default the demo's")
	caFile := fs.String("ca-file", filepath.Join(os.TempDir(), "tenantreport-emulator-ca.pem"), "where to write the emulator's CA certificate")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	em, err := startWorld(*worldFile)
	if err != nil {
		return err
	}
	defer em.Close()
	if err := os.WriteFile(*caFile, em.CAPEM, 0o644); err != nil {
		return err
	}
	for _, kv := range em.Env(*caFile) {
		fmt.Fprintf(stdout, "%s=%s\n", kv[0], kv[1])
	}
	if f, ok := stdout.(*os.File); ok {
		f.Sync()
	}
	fmt.Fprintf(stderr, "emulator serving at %s (metrics: %s); interrupt to stop\n", em.URL, em.MetricsURL())
	<-ctx.Done()
	return nil
}
