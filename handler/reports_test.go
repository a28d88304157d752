package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/tenantreport/tenantreport/internal/azuritetest"
	"github.com/tenantreport/tenantreport/internal/graphdata"
	"github.com/tenantreport/tenantreport/internal/reportstore"
	"github.com/tenantreport/tenantreport/internal/run"
	"github.com/tenantreport/tenantreport/internal/settings"
)

// The runs every reports test store holds, oldest first. latest is
// runPartial: the newer runs have no workbook.
const (
	runSucceeded = "20261201T060000Z-aaaaaa"
	runPartial   = "20261202T060000Z-bbbbbb"
	runFailed    = "20261203T060000Z-cccccc"
	runQueued    = "20261204T060000Z-dddddd"
	runUnknown   = "20261231T000000Z-ffffff"
)

// seededRuns are the records and workbooks seedReports stores.
type seededRuns struct {
	records   map[string]run.Record
	workbooks map[string][]byte
}

// tinyWorkbook is a real xlsx whose A1 cell holds runID.
func tinyWorkbook(t *testing.T, runID string) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetCellValue("Sheet1", "A1", runID); err != nil {
		t.Fatal(err)
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// seedReports stores four runs in s: two finished with a workbook, a failed
// one without, and a queued one.
func seedReports(t *testing.T, s run.Uploader) seededRuns {
	t.Helper()
	seeded := seededRuns{records: map[string]run.Record{}, workbooks: map[string][]byte{}}
	add := func(id string, state run.State, reason string, tenants []run.TenantResult, workbook bool) {
		requested, err := time.Parse("20060102T150405Z", id[:16])
		if err != nil {
			t.Fatal(err)
		}
		rec := run.Record{Info: run.Info{RunID: id, Trigger: "timer", State: state, Reason: reason, Requested: requested,
			TenantsTotal: len(tenants), TenantsDone: len(tenants)}, Tenants: tenants}
		if state != run.StateQueued {
			rec.Started = requested.Add(time.Second)
			rec.Finished = requested.Add(time.Minute)
		}
		if workbook {
			wb := tinyWorkbook(t, id)
			rec.Report, rec.ReportBytes = run.ReportName(requested, id), int64(len(wb))
			if err := s.Upload(t.Context(), rec.Report, bytes.NewReader(wb)); err != nil {
				t.Fatal(err)
			}
			seeded.workbooks[id] = wb
		}
		if err := s.Upload(t.Context(), run.RecordName(id), run.EncodeRecord(rec)); err != nil {
			t.Fatal(err)
		}
		seeded.records[id] = rec
	}
	tenant := func(id string, st run.Status) run.TenantResult {
		return run.TenantResult{TenantID: id, DisplayName: "Tenant " + id[:4], Status: st, Result: graphdata.Result{Users: 3, EnabledUsers: 2}}
	}
	ok := tenant("11111111-1111-1111-1111-111111111111", run.StatusOK)
	partial := tenant("22222222-2222-2222-2222-222222222222", run.StatusPartial)
	// The partial run's partial tenant has a workbook of its own, as every
	// tenant of a run does by default.
	partialID := partial.TenantID
	wb := tinyWorkbook(t, runPartial+"/"+partialID)
	partial.Report, partial.ReportBytes = run.TenantReportName(time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC), runPartial, partialID), int64(len(wb))
	if err := s.Upload(t.Context(), partial.Report, bytes.NewReader(wb)); err != nil {
		t.Fatal(err)
	}
	seeded.workbooks[runPartial+"/"+partialID] = wb
	failed := tenant("33333333-3333-3333-3333-333333333333", run.StatusFailed)
	failed.Error = "consent missing"
	add(runSucceeded, run.StateSucceeded, "", []run.TenantResult{ok}, true)
	add(runPartial, run.StatePartial, "", []run.TenantResult{ok, partial, failed}, true)
	add(runFailed, run.StateFailed, "every tenant failed", []run.TenantResult{failed}, false)
	add(runQueued, run.StateQueued, "", nil, false)
	return seeded
}

// callReports runs `handler reports args...` as main would.
func callReports(t *testing.T, getenv func(string) string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = dispatch(t.Context(), append([]string{"reports"}, args...), getenv, &out, &errOut)
	return out.String(), errOut.String(), err
}

// noEnv is a getenv that fails the test when called: the command must not
// read settings.
func noEnv(t *testing.T) func(string) string {
	return func(k string) string {
		t.Errorf("getenv(%q) called; want no settings read", k)
		return ""
	}
}

// tableIDs returns the first column of a table's rows, the header skipped.
func tableIDs(table string) []string {
	var ids []string
	lines := strings.Split(strings.TrimSpace(table), "\n")
	for _, l := range lines[1:] {
		ids = append(ids, strings.Fields(l)[0])
	}
	return ids
}

// testReports runs list, show and download against a store seeded with
// seedReports. dir is the --dir flag and its value, or nil for the blob
// container of getenv's settings; it goes before the run id in some calls
// and after it in others.
func testReports(t *testing.T, seeded seededRuns, getenv func(string) string, dir []string) {
	with := func(args ...string) []string { return append(args, dir...) }
	before := func(cmd string, args ...string) []string { return append(append([]string{cmd}, dir...), args...) }

	t.Run("list", func(t *testing.T) {
		out, _, err := callReports(t, getenv, with("list")...)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{runQueued, runFailed, runPartial, runSucceeded}
		if got := tableIDs(out); !slices.Equal(got, want) {
			t.Errorf("list ids = %q, want %q\n%s", got, want, out)
		}
		if !strings.HasPrefix(out, "RUN ID") {
			t.Errorf("list: no header:\n%s", out)
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, runPartial) {
				size := byteSize(int64(len(seeded.workbooks[runPartial])))
				// RUN ID, TRIGGER, STATE, STARTED and FINISHED (two fields each), OK, PARTIAL, FAILED, REPORT
				if f := strings.Fields(l); len(f) < 10 || f[2] != "partial" || !slices.Equal(f[7:10], []string{"1", "1", "1"}) || !strings.HasSuffix(l, size) {
					t.Errorf("list: row %q, want state partial, 1 ok 1 partial 1 failed, size %s", l, size)
				}
			}
			if strings.HasPrefix(l, runQueued) && !strings.HasSuffix(l, "-") {
				t.Errorf("list: row %q, want no report size", l)
			}
		}
	})

	t.Run("list top", func(t *testing.T) {
		out, errOut, err := callReports(t, getenv, before("list", "--top", "2")...)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := tableIDs(out), []string{runQueued, runFailed}; !slices.Equal(got, want) {
			t.Errorf("list --top 2 ids = %q, want %q", got, want)
		}
		if !strings.Contains(errOut, "--top") {
			t.Errorf("list --top 2: stderr %q, want a hint that there are more", errOut)
		}
	})

	t.Run("list json", func(t *testing.T) {
		out, _, err := callReports(t, getenv, with("list", "--json")...)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Runs []run.Summary `json:"runs"`
			More bool          `json:"more"`
		}
		if err := json.Unmarshal([]byte(out), &page); err != nil {
			t.Fatalf("list --json: %v\n%s", err, out)
		}
		var ids []string
		for _, r := range page.Runs {
			ids = append(ids, r.RunID)
		}
		if want := []string{runQueued, runFailed, runPartial, runSucceeded}; !slices.Equal(ids, want) || page.More {
			t.Errorf("list --json = %q more %v, want %q more false", ids, page.More, want)
		}
		p := page.Runs[2]
		want := run.Summary{Info: run.Info{RunID: runPartial, Trigger: "timer", State: run.StatePartial,
			Report: seeded.records[runPartial].Report, ReportBytes: int64(len(seeded.workbooks[runPartial]))},
			TenantCounts: run.Counts{OK: 1, Partial: 1, Failed: 1}}
		if p.RunID != want.RunID || p.State != want.State || p.Trigger != want.Trigger || p.Report != want.Report ||
			p.ReportBytes != want.ReportBytes || p.TenantCounts != want.TenantCounts || !p.Finished.Equal(seeded.records[runPartial].Finished) {
			t.Errorf("list --json run = %+v, want %+v", p, want)
		}
	})

	t.Run("show", func(t *testing.T) {
		out, _, err := callReports(t, getenv, with("show", runFailed)...)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := io.ReadAll(run.EncodeRecord(seeded.records[runFailed]))
		if strings.TrimSpace(out) != string(want) {
			t.Errorf("show %s =\n%s\nwant\n%s", runFailed, out, want)
		}
	})

	t.Run("show latest", func(t *testing.T) {
		out, _, err := callReports(t, getenv, before("show", "latest")...)
		if err != nil {
			t.Fatal(err)
		}
		var rec run.Record
		if err := json.Unmarshal([]byte(out), &rec); err != nil || rec.RunID != runPartial {
			t.Errorf("show latest = run %q (%v), want %s", rec.RunID, err, runPartial)
		}
	})

	t.Run("download", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "out.xlsx")
		out, _, err := callReports(t, getenv, with("download", runSucceeded, "-o", file)...)
		if err != nil {
			t.Fatal(err)
		}
		checkDownload(t, file, seeded.workbooks[runSucceeded], runSucceeded)
		if want := file + " (" + strconv.Itoa(len(seeded.workbooks[runSucceeded])) + " bytes)\n"; out != want {
			t.Errorf("download stdout = %q, want %q", out, want)
		}
		if ents, _ := os.ReadDir(filepath.Dir(file)); len(ents) != 1 {
			t.Errorf("download left %d files in the target directory, want 1", len(ents))
		}
	})

	t.Run("download latest into directory", func(t *testing.T) {
		dst := t.TempDir()
		if _, _, err := callReports(t, getenv, before("download", "-o", dst, "latest")...); err != nil {
			t.Fatal(err)
		}
		checkDownload(t, filepath.Join(dst, "tenantreport-2026-12-02-"+runPartial+".xlsx"), seeded.workbooks[runPartial], runPartial)
	})

	t.Run("download a tenant's", func(t *testing.T) {
		dst := t.TempDir()
		tenant := "22222222-2222-2222-2222-222222222222"
		if _, _, err := callReports(t, getenv, with("download", "latest", "--tenant", tenant, "-o", dst)...); err != nil {
			t.Fatal(err)
		}
		key := runPartial + "/" + tenant
		checkDownload(t, filepath.Join(dst, "tenantreport-2026-12-02-"+runPartial+"-Tenant-2222.xlsx"), seeded.workbooks[key], key)
		other := "11111111-1111-1111-1111-111111111111" // ok, but without a workbook of its own
		if _, _, err := callReports(t, getenv, with("download", runPartial, "--tenant", other, "-o", dst)...); err == nil ||
			!strings.Contains(err.Error(), "no workbook of tenant "+other) {
			t.Errorf("download of a tenant without a workbook: err = %v, want it to say so", err)
		}
	})

	t.Run("download default file replaces", func(t *testing.T) {
		t.Chdir(t.TempDir())
		name := "tenantreport-2026-12-01-" + runSucceeded + ".xlsx"
		if err := os.WriteFile(name, []byte("stale"), 0o644); err != nil {
			t.Fatal(err)
		}
		out, _, err := callReports(t, getenv, with("download", runSucceeded)...)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out, name+" ") {
			t.Errorf("download stdout = %q, want the path %s first", out, name)
		}
		checkDownload(t, name, seeded.workbooks[runSucceeded], runSucceeded)
	})

	t.Run("download without workbook", func(t *testing.T) {
		for id, state := range map[string]string{runQueued: "queued", runFailed: "failed (every tenant failed)"} {
			dst := filepath.Join(t.TempDir(), "x.xlsx")
			_, _, err := callReports(t, getenv, with("download", id, "-o", dst)...)
			if err == nil || !strings.Contains(err.Error(), id) || !strings.Contains(err.Error(), "it is "+state) {
				t.Errorf("download %s: err = %v, want it names the run and its state %q", id, err, state)
			}
			if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("download %s wrote %s", id, dst)
			}
		}
	})

	t.Run("unknown run", func(t *testing.T) {
		t.Chdir(t.TempDir()) // where download would write
		for _, cmd := range []string{"show", "download"} {
			_, _, err := callReports(t, getenv, with(cmd, runUnknown)...)
			if !errors.Is(err, errNoRun) || !strings.Contains(err.Error(), runUnknown) {
				t.Errorf("%s %s: err = %v, want errNoRun naming the id", cmd, runUnknown, err)
			}
		}
	})
}

// checkDownload checks that file holds want, a workbook whose A1 is runID.
func checkDownload(t *testing.T, file string, want []byte, runID string) {
	t.Helper()
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes, want the stored workbook's %d", file, len(got), len(want))
	}
	f, err := excelize.OpenFile(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if v, err := f.GetCellValue("Sheet1", "A1"); err != nil || v != runID {
		t.Errorf("%s: A1 = %q (%v), want %q", file, v, err, runID)
	}
}

func TestReportsAzurite(t *testing.T) {
	conn := azuritetest.ConnectionString(t)
	container := azuritetest.Container(t)
	store, err := reportstore.NewFromConnectionString(conn, container, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureContainer(t.Context()); err != nil {
		t.Fatal(err)
	}
	seeded := seedReports(t, store)
	env := map[string]string{settings.KeyWebJobs: conn, settings.KeyContainer: container}
	testReports(t, seeded, func(k string) string { return env[k] }, nil)

	t.Run("missing container", func(t *testing.T) {
		// Read-only: the commands must not create it.
		env := map[string]string{settings.KeyWebJobs: conn, settings.KeyContainer: azuritetest.Container(t)}
		getenv := func(k string) string { return env[k] }
		out, _, err := callReports(t, getenv, "list")
		if err != nil || !strings.HasPrefix(out, "no runs in container "+env[settings.KeyContainer]) {
			t.Errorf("list = %q, %v; want no runs", out, err)
		}
		if _, _, err := callReports(t, getenv, "show", "latest"); !errors.Is(err, errNoRun) {
			t.Errorf("show latest: err = %v, want errNoRun", err)
		}
	})
}

func TestReportsDir(t *testing.T) {
	dir := t.TempDir()
	store, err := reportstore.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	testReports(t, seedReports(t, store), noEnv(t), []string{"--dir", dir})

	t.Run("empty", func(t *testing.T) {
		out, _, err := callReports(t, noEnv(t), "list", "--dir", t.TempDir())
		if err != nil || !strings.HasPrefix(out, "no runs in directory ") {
			t.Errorf("list = %q, %v; want no runs", out, err)
		}
	})

	t.Run("missing dir", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "typo")
		_, _, err := callReports(t, noEnv(t), "list", "--dir", missing)
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("list --dir %s: err = %v, want not exist", missing, err)
		}
		if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("list --dir %s created it", missing)
		}
	})
}

// TestReportsBadRunID checks that an id that is not a run id is a usage
// error naming it, found before any setting or store is read.
func TestReportsBadRunID(t *testing.T) {
	for _, id := range []string{"nope", "../runs/x", "20261201T060000Z-ABCDEF", "20261201T060000Z-abcdef.json", "runs/20261201T060000Z-abcdef"} {
		for _, cmd := range []string{"show", "download"} {
			missing := filepath.Join(t.TempDir(), "store")
			for _, args := range [][]string{{cmd, id}, {cmd, "--dir", missing, id}} {
				_, errOut, err := callReports(t, noEnv(t), args...)
				if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), `"`+id+`"`) {
					t.Errorf("reports %q: err = %v, want a usage error naming %q", args, err, id)
				}
				if !strings.Contains(errOut, id) || !strings.Contains(errOut, "usage: handler reports "+cmd) {
					t.Errorf("reports %q: stderr = %q, want the error and usage", args, errOut)
				}
			}
			if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("reports %s %q created %s", cmd, id, missing)
			}
		}
	}
}

func TestReportsUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"nope"},
		{"list", "extra"},
		{"list", "--top", "0"},
		{"list", "--bogus"},
		{"show"},
		{"show", runSucceeded, runPartial},
		{"download", "-o"},
		{"download", "latest", "--tenant", "contoso"},
		{"list", "--api", "https://app.example/api/entra/reports"},
		{"list", "--api", "app.example", "--scope", "api://x/.default"},
		{"show", "latest", "--api", "https://app.example/api/entra/reports", "--scope", "api://x"},
		{"list", "--dir", "d", "--api", "https://app.example/api/entra/reports"},
	} {
		_, errOut, err := callReports(t, noEnv(t), args...)
		if !errors.Is(err, errUsage) || !strings.Contains(errOut, "usage: handler reports") {
			t.Errorf("reports %q: err = %v, stderr %q; want a usage error and usage", args, err, errOut)
		}
	}
	out, _, err := callReports(t, noEnv(t), "help")
	if err != nil || !strings.Contains(out, "download <runId|latest>") {
		t.Errorf("reports help = %q, %v; want the usage", out, err)
	}
}

func TestReportsNoStorage(t *testing.T) {
	_, _, err := callReports(t, func(string) string { return "" }, "list")
	if err == nil || !strings.Contains(err.Error(), settings.KeyWebJobs) {
		t.Errorf("list without storage settings: err = %v, want it to name %s", err, settings.KeyWebJobs)
	}
}
