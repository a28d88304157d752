package run_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/tenantreport/tenantreport/internal/azuritetest"
	"github.com/tenantreport/tenantreport/internal/emulator"
	"github.com/tenantreport/tenantreport/internal/emulatortest"
	"github.com/tenantreport/tenantreport/internal/graphdata"
	"github.com/tenantreport/tenantreport/internal/reportstore"
	"github.com/tenantreport/tenantreport/internal/run"
	"github.com/tenantreport/tenantreport/internal/runtest"
	"github.com/tenantreport/tenantreport/internal/settings"
	"github.com/tenantreport/tenantreport/internal/tenantauth"
)

// soakWorld is the 50-tenant world (msp50: every kind of tenant, from no
// consent to Premium, its own latency and Fourth Coffee's 5xx) with faults
// on for every tenant: 5xx, connection resets and cut bodies, and budgets
// tighter than those the product paces to, so Graph throttles too. Users
// and devices are a twentieth of msp50's, at least 12 users, and 600 users
// for the six largest tenants, whose sign-in activity still comes in two
// pages (82,000 users become 5,450; each tenant's kind, licences, roles,
// policies and apps stay), so that twenty runs fit in the test command's
// time on two cores.
func soakWorld(t *testing.T) *emulator.World {
	t.Helper()
	world, err := emulator.OpenWorld("msp50")
	if err != nil {
		t.Fatal(err)
	}
	for i := range world.Tenants {
		tn := &world.Tenants[i]
		tn.Users = max(tn.Users/20, 12)
		if tn.Users >= 400 {
			tn.Users = 600
		}
		tn.Devices /= 20
	}
	world.Faults = &emulator.Faults{ServerErrors: 0.03, Resets: 0.03, Malformed: 0.02}
	// Graph's directory budget is 3,500 to 8,000 resource units per 10 s
	// per tenant; the product paces to that. A hundredth of it makes Graph
	// answer 429 now and then, as timing falls. Secure scores limited
	// across tenants, a budget the product does not pace to, add more:
	// when the fifty tenants ask at nearly the same time, twenty get
	// through per (scaled) 10 s and the others must wait out the
	// Retry-After.
	budgets := []emulator.Budget{{Family: emulator.FamilySecureScore, Scope: emulator.ScopeApp, Limit: 20,
		Window: emulator.Duration(10 * time.Second)}}
	for _, b := range emulator.DefaultBudgets() {
		if b.Family == emulator.FamilyDirectory && b.Scope == emulator.ScopeTenant {
			b.Limit /= 100
			budgets = append(budgets, b)
		}
	}
	world.Throttling = &emulator.Throttling{Budgets: budgets}
	return world
}

// soakRig is one process's report pipeline as handler's newRunner and
// openStore wire it: one HTTP transport (trusting the emulator's CA, as
// REPORT_CA_FILE does) for Entra, Graph and storage, one Collector with
// its paced Transport, one Runner, run after run.
type soakRig struct {
	runner *run.Runner
	store  *reportstore.Store
	tr     *http.Transport
	em     *emulator.Running
	world  *emulator.World
	// expect is, by tenant id, each section's expected outcome.
	expect map[string]map[string]emulator.SectionCounts
}

func newSoakRig(t *testing.T, world *emulator.World) *soakRig {
	t.Helper()
	emulatortest.OwnIdentity(world)
	em, _ := emulatortest.Start(t, world, world.ManagedIdentity.ClientID)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(em.CAPEM)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	t.Cleanup(tr.CloseIdleConnections)
	co := azcore.ClientOptions{Transport: &http.Client{Transport: tr}}
	mi, err := tenantauth.NewManagedIdentity(world.ManagedIdentity.ClientID, co)
	if err != nil {
		t.Fatal(err)
	}
	creds := tenantauth.New(mi, tenantauth.Options{
		BridgeAppClientID: world.BridgeApp.ClientID,
		AuthorityHost:     em.URL + "/",
		ExchangeAudience:  "api://AzureADTokenExchange",
		ClientOptions:     co,
	})
	store, err := reportstore.NewFromConnectionString(azuritetest.ConnectionString(t), azuritetest.Container(t),
		&azblob.ClientOptions{ClientOptions: co})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureContainer(t.Context()); err != nil {
		t.Fatal(err)
	}
	pacing := graphdata.DefaultPacing()
	pacing.TimeScale = world.TimeScale
	sections := settings.AllSections()
	var tenants []settings.Tenant
	expect := map[string]map[string]emulator.SectionCounts{}
	for _, tn := range world.Tenants {
		tenants = append(tenants, settings.Tenant{ID: tn.ID, DisplayName: tn.DisplayName})
		expect[tn.ID] = map[string]emulator.SectionCounts{}
		for _, s := range sections {
			expect[tn.ID][s] = world.ExpectSection(tn.ID, s)
		}
	}
	r := &run.Runner{
		Tenants: tenants,
		Collector: &graphdata.Collector{Credentials: creds, Endpoint: em.URL, Scope: emulatortest.GraphScope,
			Transport: graphdata.NewTransport(tr, pacing), Sections: sections},
		Store: store, Sections: sections, Parallel: settings.DefaultConcurrency, SpoolDir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError})),
	}
	return &soakRig{runner: r, store: store, tr: tr, em: em, world: world, expect: expect}
}

// checkRun fails the test unless rec (and err, from Run) is a complete
// report of the world: every tenant done, every section the world serves
// read in full despite the faults, the record stored as returned, and the
// workbook in storage at the size the record says.
func (rig *soakRig) checkRun(t *testing.T, name string, rec run.Record, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: Run = %v (record %s: %s)", name, err, rec.State, rec.Reason)
	}
	// Some msp50 tenants cannot be read at all (no consent, blocked by
	// Conditional Access) or lack a licence: partial, never succeeded.
	if rec.State != run.StatePartial || rec.TenantsDone != len(rig.world.Tenants) || rec.TenantsTotal != len(rig.world.Tenants) ||
		len(rec.Tenants) != len(rig.world.Tenants) || rec.Report == "" {
		t.Errorf("%s: record %s, %d/%d tenants (%d results), report %q; want partial, %d/%d, a report", name, rec.State,
			rec.TenantsDone, rec.TenantsTotal, len(rec.Tenants), rec.Report, len(rig.world.Tenants), len(rig.world.Tenants))
	}
	for _, tr := range rec.Tenants {
		want, ok := rig.expect[tr.TenantID]
		if !ok {
			t.Errorf("%s: record has tenant %s (%s), which is not configured", name, tr.TenantID, tr.DisplayName)
			continue
		}
		if reason := want["users"].NotAvailable; strings.HasPrefix(reason, "token exchange") {
			if tr.Status != run.StatusFailed {
				t.Errorf("%s: %s is %s, want failed (%s)", name, tr.DisplayName, tr.Status, reason)
			}
			continue
		}
		for _, s := range tr.Sections {
			exp := want[s.Section]
			switch {
			case exp.NotAvailable != "" && s.Status != graphdata.SectionUnavailable:
				t.Errorf("%s: %s/%s is %s (%s), want not available: %s", name, tr.DisplayName, s.Section, s.Status, s.Reason, exp.NotAvailable)
			case exp.NotAvailable == "" && (s.Status != graphdata.SectionOK || s.Rows != exp.Rows):
				t.Errorf("%s: %s/%s is %s with %d rows (%s), want ok with %d", name, tr.DisplayName, s.Section, s.Status, s.Rows, s.Reason, exp.Rows)
			}
		}
	}
	stored := rig.storedRecord(t, rec.RunID)
	if stored.RunID != rec.RunID || stored.State != rec.State || stored.Report != rec.Report || stored.TenantsDone != rec.TenantsDone {
		t.Errorf("%s: stored record = %s %s %q %d done, want the returned %s %s %q %d", name, stored.RunID, stored.State, stored.Report,
			stored.TenantsDone, rec.RunID, rec.State, rec.Report, rec.TenantsDone)
	}
	if it, err := rig.store.Stat(t.Context(), rec.Report); err != nil || it.Size != rec.ReportBytes || it.Size == 0 {
		t.Errorf("%s: workbook blob %s = %d bytes (%v), want the record's %d", name, rec.Report, it.Size, err, rec.ReportBytes)
	}
}

// checkSpoolsRemoved fails the test unless the runs have removed their
// spool files: left behind, a run's rows would fill the disk run by run.
func (rig *soakRig) checkSpoolsRemoved(t *testing.T, name string) {
	t.Helper()
	left, err := os.ReadDir(rig.runner.SpoolDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("%s: spool directory holds %s after the run", name, e.Name())
	}
}

func (rig *soakRig) storedRecord(t *testing.T, runID string) run.Record {
	t.Helper()
	rc, err := rig.store.Open(t.Context(), run.RecordName(runID))
	if err != nil {
		t.Fatalf("record of %s: %v", runID, err)
	}
	defer rc.Close()
	var rec run.Record
	if err := json.NewDecoder(rc).Decode(&rec); err != nil {
		t.Fatalf("record of %s: %v", runID, err)
	}
	return rec
}

// usage is what the process holds between runs.
type usage struct {
	// pooled are the goroutines and open files with the transport's idle
	// connections kept for the next run, as the product keeps them.
	pooledGoroutines, pooledFDs int
	// goroutines and fds are what is left once the idle connections are
	// closed: the emulator's listener and the test itself.
	goroutines, fds int
	heap            uint64 // live heap after a collection, bytes
}

func (u usage) String() string {
	return fmt.Sprintf("%d goroutines, %d open files (%d and %d with idle connections pooled), %.1f MiB live heap",
		u.goroutines, u.fds, u.pooledGoroutines, u.pooledFDs, float64(u.heap)/(1<<20))
}

// idle measures the process between runs: with the transport's idle
// connections pooled, then with them closed (what stays then is a leak),
// each once the goroutine count has settled.
func (rig *soakRig) idle(t *testing.T) usage {
	t.Helper()
	var u usage
	u.pooledGoroutines, u.pooledFDs = settled(t)
	rig.tr.CloseIdleConnections()
	u.goroutines, u.fds = settled(t)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	u.heap = ms.HeapAlloc
	return u
}

// settled returns the goroutines and open files once the goroutine count
// has stayed the same for ten polls in a row (goroutines of a closed
// connection take a moment to return), or after ten seconds.
func settled(t *testing.T) (goroutines, fds int) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(10 * time.Second)
	n, same := runtime.NumGoroutine(), 0
	for same < 10 && time.Now().Before(deadline) {
		<-tick.C
		if m := runtime.NumGoroutine(); m == n {
			same++
		} else {
			n, same = m, 0
		}
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("open files cannot be counted here: %v", err)
	}
	return n, len(entries)
}

// cpuTime is the CPU time the process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Tolerances between run 2 and run 20. A leak of one goroutine or one file
// per run would add 18 of them, so a margin under 18 catches it; the
// margin covers what an idle process may hold at one moment but not the
// next (a connection still closing: a goroutine or two and its socket on
// each side). The live heap may vary by what caches bounded by the tenants
// (filled by run 2) and the runtime's pools hold at one moment: a quarter of
// it, at least 1 MiB. A run's record (fifty tenants of eleven sections,
// about 100 KiB) kept once per run would add more, and a run's rows (some
// MiB) far more.
const (
	soakRuns            = 20
	soakGoroutineMargin = 8
	soakFDMargin        = 4
	soakHeapMinMargin   = 1 << 20
)

// TestSoak runs twenty reports, one after another, in one process, through
// the product's wiring (azidentity and msgraph-sdk-go against the emulator
// over TLS, workbooks and records to Azurite), over soakWorld: the
// 50-tenant world, its users shrunk, with Graph failing, resetting
// connections, cutting bodies short and throttling. Every run's report is
// complete; between run 2 (caches and pools warm) and run 20 the process
// grows by no goroutine, open file or heap beyond the stated margins, and
// no run leaves spool files behind. It costs 25 to 35 s of CPU time (20 to
// 30 s on two idle cores; more on a busy machine); -short skips it.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("twenty report runs: skipped under -short")
	}
	rig := newSoakRig(t, soakWorld(t))
	start, cpu := time.Now(), cpuTime()
	var at2, at20 usage
	for i := 1; i <= soakRuns; i++ {
		rec, err := rig.runner.Run(t.Context(), run.Request{Trigger: "soak"})
		rig.checkRun(t, fmt.Sprintf("run %d", i), rec, err)
		rig.checkSpoolsRemoved(t, fmt.Sprintf("run %d", i))
		if t.Failed() {
			t.FailNow()
		}
		switch i {
		case 2:
			at2 = rig.idle(t)
		case soakRuns:
			at20 = rig.idle(t)
		}
	}
	took, cpu := time.Since(start), cpuTime()-cpu
	m := rig.em.Server.Metrics()
	faults := 0
	for _, n := range m.Faults {
		faults += n
	}
	t.Logf("%d runs in %v (%v of CPU time); Graph injected %d faults and throttled %d requests", soakRuns, took.Round(time.Millisecond),
		cpu.Round(time.Millisecond), faults, m.TooManyRequests)
	t.Logf("after run 2:  %v", at2)
	t.Logf("after run %d: %v", soakRuns, at20)
	// How many requests Graph throttles depends on how the tenants' requests
	// fall in time (107 in twenty runs measured, 1 under -race, which
	// spreads them out), so only the faults, drawn per request, are
	// required.
	if faults == 0 {
		t.Errorf("Graph injected no faults; the soak wants them")
	}
	if at20.goroutines > at2.goroutines+soakGoroutineMargin || at20.pooledGoroutines > at2.pooledGoroutines+soakGoroutineMargin {
		t.Errorf("goroutines grew from %d (%d pooled) after run 2 to %d (%d pooled) after run %d (margin %d)\n%s", at2.goroutines,
			at2.pooledGoroutines, at20.goroutines, at20.pooledGoroutines, soakRuns, soakGoroutineMargin, goroutineDump())
	}
	if at20.fds > at2.fds+soakFDMargin || at20.pooledFDs > at2.pooledFDs+soakFDMargin {
		t.Errorf("open files grew from %d (%d pooled) after run 2 to %d (%d pooled) after run %d (margin %d):\n%s", at2.fds, at2.pooledFDs,
			at20.fds, at20.pooledFDs, soakRuns, soakFDMargin, openFiles())
	}
	if margin := max(at2.heap/4, soakHeapMinMargin); at20.heap > at2.heap+margin {
		t.Errorf("live heap grew from %.1f MiB after run 2 to %.1f MiB after run %d (margin %.1f MiB)", float64(at2.heap)/(1<<20),
			float64(at20.heap)/(1<<20), soakRuns, float64(margin)/(1<<20))
	}
}

// goroutineDump is every goroutine's stack, for a failure message.
func goroutineDump() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// openFiles lists what the process's file descriptors point at.
func openFiles() string {
	entries, _ := os.ReadDir("/proc/self/fd")
	var b strings.Builder
	for _, e := range entries {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		fmt.Fprintf(&b, "%s -> %s\n", e.Name(), target)
	}
	return b.String()
}

// TestTwoRunsAtOnce: a timer run and an on-demand run start together in
// one process, sharing its Collector (and so its paced Transport and
// credentials) and its store, over the faulty 50-tenant world. Each gets
// its own run id, record and workbook, each complete: the records do not
// mix (every tenant once, its rows counted once), and both workbooks have
// the same sheets, every tenant's row, and their own run id.
func TestTwoRunsAtOnce(t *testing.T) {
	rig := newSoakRig(t, soakWorld(t))
	type outcome struct {
		rec run.Record
		err error
	}
	results := make(chan outcome, 2)
	for _, trigger := range []string{"timer", "http"} {
		go func() {
			rec, err := rig.runner.Run(t.Context(), run.Request{Trigger: trigger})
			results <- outcome{rec, err}
		}()
	}
	var recs []run.Record
	for range 2 {
		o := <-results
		recs = append(recs, o.rec)
		rig.checkRun(t, o.rec.Trigger+" run", o.rec, o.err)
	}
	rig.checkSpoolsRemoved(t, "two runs")
	if t.Failed() {
		t.FailNow()
	}
	a, b := recs[0], recs[1]
	if a.RunID == b.RunID || a.Report == b.Report {
		t.Fatalf("two runs share run id %s / %s or workbook %s / %s", a.RunID, b.RunID, a.Report, b.Report)
	}
	if a.Trigger == b.Trigger {
		t.Errorf("both records say trigger %q, want timer and http", a.Trigger)
	}
	for _, rec := range recs {
		seen := map[string]int{}
		for _, tr := range rec.Tenants {
			seen[tr.TenantID]++
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("%s run: tenant %s appears %d times in its record", rec.Trigger, id, n)
			}
		}
	}
	names := runtest.Names(t, rig.store, "reports/")
	if !slices.Contains(names, a.Report) || !slices.Contains(names, b.Report) || len(names) != 2 {
		t.Errorf("workbooks in storage = %q, want %s and %s", names, a.Report, b.Report)
	}

	var sheets [][]string
	for _, rec := range recs {
		f := runtest.Workbook(t, rig.store, rec.Report)
		sheets = append(sheets, f.GetSheetList())
		about := map[string]string{}
		for _, row := range sheetRows(t, f, "About")[1:] {
			about[row[0]] = cell(row, 1)
		}
		if about["Run ID"] != rec.RunID || about["Trigger"] != rec.Trigger {
			t.Errorf("%s workbook's About says run %q, trigger %q; want %s, %s", rec.Trigger, about["Run ID"], about["Trigger"], rec.RunID, rec.Trigger)
		}
		summary := countBy(sheetRows(t, f, "Summary"), nil)
		users := countBy(sheetRows(t, f, "Users"), nil)
		for _, tn := range rig.world.Tenants {
			if summary[tn.DisplayName] != 1 {
				t.Errorf("%s workbook: Summary has %d rows of %s, want 1", rec.Trigger, summary[tn.DisplayName], tn.DisplayName)
			}
			if exp := rig.expect[tn.ID]["users"]; exp.NotAvailable == "" && users[tn.DisplayName] != exp.Rows {
				t.Errorf("%s workbook: Users has %d rows of %s, want %d", rec.Trigger, users[tn.DisplayName], tn.DisplayName, exp.Rows)
			}
		}
	}
	if !slices.Equal(sheets[0], sheets[1]) {
		t.Errorf("the two workbooks' sheets differ: %q and %q", sheets[0], sheets[1])
	}
}
