package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tenantreport/tenantreport/internal/reportstore"
	"github.com/tenantreport/tenantreport/internal/run"
	"github.com/tenantreport/tenantreport/internal/settings"
)

const reportsUsage = `usage: handler reports <command> [flags]

Reads runs and workbooks straight from storage, for operators with read
access to it and no function key: the blob container of the settings
(AzureWebJobsStorage or REPORT_STORAGE, and REPORT_CONTAINER), or, with
--dir DIR, the directory that "handler run --out DIR" writes. Nothing is
created or changed in the store. Flags may come before or after the run id.

With --api URL the commands ask tenantreport's Entra-authenticated API
instead (https://<app>.azurewebsites.net/api/entra/reports), as a caller in
another tenant does: no secret, no key. The token comes from this host's
user-assigned managed identity (--identity, or MANAGED_IDENTITY_CLIENT_ID),
whose token is the federated credential of the caller's client app
(--client-id), exchanged in the API's tenant (--api-tenant) for --scope.

commands:
  list [--top N] [--json]                  the runs, newest first
  show <runId|latest>                      a run record as JSON
  download <runId|latest> [--tenant ID] [-o FILE]
                    write a run's workbook, or one tenant's, to FILE
                    (default ./tenantreport-<yyyy-mm-dd>-<runId>[-<tenant>].xlsx)

source flags, for every command:
  --dir DIR
  --api URL --scope <app id URI>/.default --api-tenant ID --client-id ID [--identity ID]

latest is the newest finished run with a workbook (with --tenant: with
that tenant's workbook).
`

// latestRun names the newest finished run with a workbook.
const latestRun = "latest"

// errNoRun is a run id, or "latest", that names no run in the store.
var errNoRun = errors.New("not found")

var (
	_ run.Store = (*reportstore.Store)(nil)
	_ run.Store = (*reportstore.Dir)(nil)
)

// reports is `handler reports list|show|download`.
func reports(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, reportsUsage)
		return errUsage
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "list":
		return reportsList(ctx, args, getenv, stdout, stderr)
	case "show":
		return reportsShow(ctx, args, getenv, stdout, stderr)
	case "download":
		return reportsDownload(ctx, args, getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, reportsUsage)
		return nil
	default:
		fmt.Fprintf(stderr, "handler: reports: unknown command %q\n%s", cmd, reportsUsage)
		return errUsage
	}
}

// source is where a reports command reads: a directory, the settings'
// blob container, or the Entra-authenticated API.
type source struct {
	dir                                       string
	api, scope, apiTenant, clientID, identity string
}

// reportsFlags returns the flag set of a reports command, with the source
// flags they all take.
func reportsFlags(cmd, synopsis string, stderr io.Writer) (*flag.FlagSet, *source) {
	fs := flag.NewFlagSet("reports "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: handler reports %s %s\n", cmd, synopsis)
		fs.PrintDefaults()
	}
	var src source
	fs.StringVar(&src.dir, "dir", "", "read the `DIR` that handler run --out DIR writes, instead of the settings' blob container")
	fs.StringVar(&src.api, "api", "", "ask the Entra-authenticated API at `URL` (…/api/entra/reports) instead of storage")
	fs.StringVar(&src.scope, "scope", "", "with --api: the `SCOPE` of the token, <API app ID URI>/.default")
	fs.StringVar(&src.apiTenant, "api-tenant", "", "with --api: the `ID` of the API's tenant, which issues the token")
	fs.StringVar(&src.clientID, "client-id", "", "with --api: the caller's client app `ID`, whose federated credential trusts the managed identity")
	fs.StringVar(&src.identity, "identity", "", "with --api: the managed identity's client `ID` (default MANAGED_IDENTITY_CLIENT_ID)")
	return fs, &src
}

// parseInterspersed parses args into fs and returns the positional
// arguments. Unlike fs.Parse, which stops at the first one, it also takes
// flags that follow them: `show ID --dir D` as well as `show --dir D ID`.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// usageError prints err and the command's usage to stderr and returns err
// wrapping errUsage, which main does not print again.
func usageError(fs *flag.FlagSet, stderr io.Writer, err error) error {
	fmt.Fprintln(stderr, "handler:", err)
	fs.Usage()
	return fmt.Errorf("%w: %w", errUsage, err)
}

// runArg returns the one run id, or "latest", of pos. It is checked before
// anything touches storage: the id is the part of a blob name the operator
// chooses.
func runArg(cmd string, pos []string) (string, error) {
	switch {
	case len(pos) == 0:
		return "", fmt.Errorf("reports %s: want a run id or %q", cmd, latestRun)
	case len(pos) > 1:
		return "", fmt.Errorf("reports %s: want one run id, got %q", cmd, pos)
	case pos[0] != latestRun && !run.ValidRunID(pos[0]):
		return "", fmt.Errorf("reports %s: %.80q is not a run id (like 20261201T060000123Z-1a2b3c) or %q", cmd, pos[0], latestRun)
	}
	return pos[0], nil
}

// openReports returns the store to read and where it is, for messages: the
// directory dir, or else the blob container of the settings. It creates
// nothing, so read access is enough.
func openReports(dir string, getenv func(string) string) (run.Store, string, error) {
	if dir != "" {
		// NewDir would create a missing directory; a typo should fail.
		fi, err := os.Stat(dir)
		if err != nil {
			return nil, "", fmt.Errorf("--dir: %w", err)
		}
		if !fi.IsDir() {
			return nil, "", fmt.Errorf("--dir %s: not a directory", dir)
		}
		d, err := reportstore.NewDir(dir)
		if err != nil {
			return nil, "", err
		}
		return d, "directory " + d.Root(), nil
	}
	st, container, err := settings.LoadStore(getenv)
	if err != nil {
		return nil, "", err
	}
	tr, err := newTransport(getenv(settings.KeyCAFile))
	if err != nil {
		return nil, "", err
	}
	s, err := newStore(st, container, getenv(settings.KeyMIClientID), tr)
	if err != nil {
		return nil, "", err
	}
	return s, "container " + container, nil
}

// findRun reads the record of id, or of the newest run that keep accepts
// when id is "latest". A run that is not there is an error wrapping
// errNoRun.
func findRun(ctx context.Context, src run.Store, where, id string, keep func(run.Record) bool) (run.Record, error) {
	var (
		rec run.Record
		err error
	)
	if id == latestRun {
		rec, err = run.LatestWhere(ctx, src, keep)
	} else {
		rec, err = run.ReadRecord(ctx, src, id)
	}
	if errors.Is(err, reportstore.ErrNotFound) {
		return rec, fmt.Errorf("run %s: %w in %s", id, errNoRun, where)
	}
	return rec, err
}

// reportsList is `handler reports list`.
func reportsList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, from := reportsFlags("list", "[--top N] [--json] [--dir DIR | --api URL …]", stderr)
	top := fs.Int("top", 20, "show the newest `N` runs")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return errUsage
	}
	if len(pos) > 0 {
		return usageError(fs, stderr, fmt.Errorf("reports list: unexpected argument %q", pos[0]))
	}
	if *top < 1 {
		return usageError(fs, stderr, fmt.Errorf("reports list: --top %d: want at least 1", *top))
	}
	var (
		runs  []run.Summary
		more  bool
		where string
	)
	if from.api != "" {
		c, err := newAPIClient(from, getenv)
		if err != nil {
			return usageError(fs, stderr, err)
		}
		if runs, more, err = c.list(ctx, *top); err != nil {
			return err
		}
		where = from.api
	} else {
		src, w, err := openReports(from.dir, getenv)
		if err != nil {
			return err
		}
		recs, m, err := run.ListRecords(ctx, src, *top, "")
		if err != nil {
			return err
		}
		for _, rec := range recs {
			runs = append(runs, rec.Summary())
		}
		more, where = m, w
	}

	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if runs == nil {
			runs = []run.Summary{}
		}
		return enc.Encode(struct {
			Runs []run.Summary `json:"runs"`
			More bool          `json:"more"`
		}{runs, more})
	}
	if len(runs) == 0 {
		fmt.Fprintf(stdout, "no runs in %s\n", where)
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN ID\tTRIGGER\tSTATE\tSTARTED (UTC)\tFINISHED (UTC)\tOK\tPARTIAL\tFAILED\tREPORT")
	for _, r := range runs {
		size := "-"
		if r.Report != "" && r.ReportBytes > 0 {
			size = byteSize(r.ReportBytes)
		}
		c := r.TenantCounts
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", r.RunID, r.Trigger, r.State,
			utcTime(r.Started), utcTime(r.Finished), c.OK, c.Partial, c.Failed, size)
	}
	tw.Flush()
	if more {
		fmt.Fprintf(stderr, "handler: more runs in %s than the %d shown; see --top N\n", where, len(runs))
	}
	return nil
}

// utcTime is a time in a table: UTC to the second, "-" for none.
func utcTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.DateTime)
}

// byteSize is n in B, KiB, MiB or GiB.
func byteSize(n int64) string {
	const k = 1 << 10
	switch {
	case n < k:
		return fmt.Sprintf("%d B", n)
	case n < k*k:
		return fmt.Sprintf("%.1f KiB", float64(n)/k)
	case n < k*k*k:
		return fmt.Sprintf("%.1f MiB", float64(n)/(k*k))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(k*k*k))
}

// reportsShow is `handler reports show`.
func reportsShow(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, from := reportsFlags("show", "[--dir DIR | --api URL …] <runId|latest>", stderr)
	id, err := namedRun("show", fs, args, stderr)
	if err != nil {
		return err
	}
	var rec run.Record
	if from.api != "" {
		c, err := newAPIClient(from, getenv)
		if err != nil {
			return usageError(fs, stderr, err)
		}
		rec, err = c.show(ctx, id)
		if err != nil {
			return err
		}
	} else {
		src, where, err := openReports(from.dir, getenv)
		if err != nil {
			return err
		}
		if rec, err = findRun(ctx, src, where, id, run.Record.WorkbookReady); err != nil {
			return err
		}
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(rec)
}

// namedRun parses the arguments of a command that names one run and
// returns the run id, or "latest".
func namedRun(cmd string, fs *flag.FlagSet, args []string, stderr io.Writer) (string, error) {
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return "", errUsage
	}
	id, err := runArg(cmd, pos)
	if err != nil {
		return "", usageError(fs, stderr, err)
	}
	return id, nil
}

// reportsDownload is `handler reports download`.
func reportsDownload(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, from := reportsFlags("download", "[--tenant ID] [-o FILE] [--dir DIR | --api URL …] <runId|latest>", stderr)
	out := fs.String("o", "", "write the workbook to `FILE`, replacing it, or into FILE if it is a directory (default ./tenantreport-<yyyy-mm-dd>-<runId>[-<tenant>].xlsx)")
	tenant := fs.String("tenant", "", "download the workbook of the tenant `ID` alone")
	id, err := namedRun("download", fs, args, stderr)
	if err != nil {
		return err
	}
	if *tenant != "" && !settings.IsGUID(*tenant) {
		return usageError(fs, stderr, fmt.Errorf("reports download: --tenant %.80q: want a tenant id (a GUID)", *tenant))
	}
	*tenant = strings.ToLower(*tenant)
	var wb download
	if from.api != "" {
		c, err := newAPIClient(from, getenv)
		if err != nil {
			return usageError(fs, stderr, err)
		}
		wb, err = c.download(ctx, id, *tenant)
		if err != nil {
			return err
		}
	} else if wb, err = storedWorkbook(ctx, from.dir, getenv, id, *tenant); err != nil {
		return err
	}
	defer wb.body.Close()

	path := *out
	if fi, err := os.Stat(path); path == "" || err == nil && fi.IsDir() {
		path = filepath.Join(path, wb.filename)
	}
	n, err := writeAtomic(path, wb.body, wb.size)
	if err != nil {
		return fmt.Errorf("%s: %w", wb.what, err)
	}
	fmt.Fprintf(stdout, "%s (%d bytes)\n", path, n)
	return nil
}

// download is a workbook to download: its body, size and file name, and
// what names it in messages.
type download struct {
	body     io.ReadCloser
	size     int64
	filename string
	what     string
}

// storedWorkbook opens run id's workbook, or tenant's when tenant is not
// "", in the directory or blob container of the flags.
func storedWorkbook(ctx context.Context, dir string, getenv func(string) string, id, tenant string) (download, error) {
	src, where, err := openReports(dir, getenv)
	if err != nil {
		return download{}, err
	}
	keep := run.Record.WorkbookReady
	if tenant != "" {
		keep = func(rec run.Record) bool { return rec.TenantWorkbookReady(tenant) }
	}
	rec, err := findRun(ctx, src, where, id, keep)
	if err != nil {
		return download{}, err
	}
	wb := download{size: rec.ReportBytes, filename: run.DownloadName(rec.RunID), what: fmt.Sprintf("run %s: workbook", rec.RunID)}
	name := rec.Report
	if tenant != "" {
		t, ok := rec.Tenant(tenant)
		if !ok || t.Report == "" {
			return download{}, fmt.Errorf("run %s has no workbook of tenant %s: it is %s", rec.RunID, tenant, rec.State)
		}
		name, wb.size = t.Report, t.ReportBytes
		wb.filename = run.TenantDownloadName(rec.RunID, t.DisplayName, tenant)
		wb.what = fmt.Sprintf("run %s: workbook of tenant %s", rec.RunID, tenant)
	} else if !rec.HasReport() {
		msg := fmt.Sprintf("run %s has no workbook: it is %s", rec.RunID, rec.State)
		if rec.Reason != "" {
			msg += " (" + rec.Reason + ")"
		}
		return download{}, errors.New(msg)
	}
	if wb.body, err = src.Open(ctx, name); err != nil {
		return download{}, fmt.Errorf("%s: %w", wb.what, err)
	}
	return wb, nil
}

// writeAtomic copies r, which must hold want bytes (-1: unknown), to a temporary file
// next to path and renames it to path, replacing any file there. A partial
// file is never left under path. The file is readable by its owner only: a
// workbook lists every tenant's users.
func writeAtomic(path string, r io.Reader, want int64) (int64, error) {
	f, err := os.CreateTemp(filepath.Dir(path), ".tenantreport-*.tmp")
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, r)
	if err == nil && want >= 0 && n != want {
		err = fmt.Errorf("read %d bytes, the run record says %d", n, want)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return n, err
	}
	return n, nil
}
