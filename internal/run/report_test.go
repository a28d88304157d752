package run_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/tenantreport/tenantreport/internal/emulator"
	"github.com/tenantreport/tenantreport/internal/emulatortest"
	"github.com/tenantreport/tenantreport/internal/graphdata"
	"github.com/tenantreport/tenantreport/internal/reportstore"
	"github.com/tenantreport/tenantreport/internal/run"
	"github.com/tenantreport/tenantreport/internal/runtest"
	"github.com/tenantreport/tenantreport/internal/section"
	"github.com/tenantreport/tenantreport/internal/settings"
	"github.com/tenantreport/tenantreport/internal/workbook"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// epoch is the emulated worlds' "now": fixed, so reports are comparable.
var epoch = time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC)

// book is one workbook a run stored: the combined one, or a tenant's own.
type book struct {
	name string // in the store
	path string // on disk
	// tenant is the id of the tenant whose own workbook it is; "" for the
	// combined one.
	tenant string
	label  string // combined, or the tenant's display name
	f      *excelize.File
}

// holds reports whether b has rows of the tenant with id.
func (b book) holds(id string) bool { return b.tenant == "" || b.tenant == id }

// emulatedRun runs a report of world on the emulator, through the real
// azidentity and msgraph-sdk-go clients, and returns the workbooks it
// stored: the combined one first, then each tenant's own in report order.
// The store holds those and nothing else under reports/.
func emulatedRun(t *testing.T, world *emulator.World, sections []string) (run.Record, []book) {
	t.Helper()
	world.Epoch = epoch.Format(time.RFC3339)
	emulatortest.OwnIdentity(world)
	em, src := emulatortest.Start(t, world, world.ManagedIdentity.ClientID)
	var tenants []settings.Tenant
	for _, tn := range world.Tenants {
		tenants = append(tenants, settings.Tenant{ID: tn.ID, DisplayName: tn.DisplayName})
	}
	dir := t.TempDir()
	store, err := reportstore.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return epoch }
	r := &run.Runner{
		Tenants: tenants,
		Collector: &graphdata.Collector{Credentials: src, Endpoint: em.URL, Scope: emulatortest.GraphScope,
			Transport: graphdata.NewTransport(em.Client().Transport, graphdata.DefaultPacing()), Sections: sections, Now: now},
		Store: store, Sections: sections, Parallel: 4, Now: now, TenantWorkbooks: true,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	rec, err := r.Run(t.Context(), run.Request{Trigger: "test"})
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	books := []book{{name: rec.Report, label: "combined"}}
	for _, tr := range rec.Tenants {
		books = append(books, book{name: tr.Report, tenant: tr.TenantID, label: tr.DisplayName})
		if want := run.TenantReportName(epoch, rec.RunID, tr.TenantID); tr.Report != want || tr.ReportBytes <= 0 {
			t.Errorf("%s's own workbook = %q (%d bytes), want %s", tr.DisplayName, tr.Report, tr.ReportBytes, want)
		}
	}
	var names []string
	for i := range books {
		b := &books[i]
		names = append(names, b.name)
		b.path = filepath.Join(dir, filepath.FromSlash(b.name))
		if b.f, err = excelize.OpenFile(b.path); err != nil {
			t.Fatalf("workbook %s does not open: %v", b.name, err)
		}
		t.Cleanup(func() { b.f.Close() })
	}
	slices.Sort(names)
	if got := runtest.Names(t, store, "reports/"); !slices.Equal(got, names) {
		t.Errorf("stored under reports/ = %q, want the workbooks the record names, %q", got, names)
	}
	return rec, books
}

// sheetRows returns a sheet's rows as raw values, header first.
func sheetRows(t *testing.T, f *excelize.File, sheet string) [][]string {
	t.Helper()
	rows, err := f.GetRows(sheet, excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatalf("sheet %q: %v", sheet, err)
	}
	return rows
}

// countBy counts rows per value of column 0 (the tenant) where keep holds.
func countBy(rows [][]string, keep func(row []string) bool) map[string]int {
	n := map[string]int{}
	for _, row := range rows[1:] {
		if keep == nil || keep(row) {
			n[row[0]]++
		}
	}
	return n
}

func col(rows [][]string, header string) int {
	return slices.Index(rows[0], header)
}

func cell(row []string, i int) string {
	if i < 0 || i >= len(row) {
		return ""
	}
	return row[i]
}

// TestReportEverySection checks every sheet of every workbook of a run
// (the combined one and each tenant's own) against the emulated world: row
// counts per tenant, the flags, and the reasons of skipped sections. A
// tenant's own workbook holds its rows and no other tenant's.
func TestReportEverySection(t *testing.T) {
	world := emulator.SampleWorld()
	rec, books := emulatedRun(t, world, settings.AllSections())
	for _, b := range books {
		t.Run(b.label, func(t *testing.T) { checkEverySection(t, world, rec, b) })
	}
}

func checkEverySection(t *testing.T, world *emulator.World, rec run.Record, b book) {
	f := b.f
	var tenants []emulator.Tenant // the world's tenants b holds
	for _, tn := range world.Tenants {
		if b.holds(tn.ID) {
			tenants = append(tenants, tn)
		}
	}
	sheets := map[string]string{ // section → sheet
		"tenant": "Domains", "users": "Users", "guests": "Guests", "licences": "Licences", "roles": "Admin roles",
		"mfa": "MFA registration", "devices": "Devices", "conditionalaccess": "Conditional access",
		"appcredentials": "App credentials", "securescore": "Secure score",
	}
	want := []string{"Overview", "Summary", "Domains", "Users", "Guests", "Licences", "Admin roles", "MFA registration", "Devices",
		"Conditional access", "App credentials", "Secure score", "Run status", "About"}
	if got := f.GetSheetList(); !slices.Equal(got, want) {
		t.Errorf("sheets = %q, want %q", got, want)
	}
	status := sheetRows(t, f, "Run status")
	reason := func(tenant, name string) (string, string) {
		sec, _ := section.Lookup(name)
		for _, row := range status[1:] {
			if row[0] == tenant && row[2] == sec.Title {
				return row[3], cell(row, col(status, "Reason"))
			}
		}
		return "", ""
	}
	holds := func(name string) bool {
		return slices.ContainsFunc(tenants, func(tn emulator.Tenant) bool { return tn.DisplayName == name })
	}
	for name, n := range countBy(status, nil) {
		if !holds(name) {
			t.Errorf("Run status has %d rows of %s, which this workbook is not of", n, name)
		}
	}
	for sec, name := range sheets {
		rows := sheetRows(t, f, name)
		if rows[0][0] != "Tenant" || rows[0][1] != "Tenant ID" {
			t.Errorf("%s header = %q, want Tenant and Tenant ID first", name, rows[0])
		}
		got := countBy(rows, nil)
		for other, n := range got {
			if !holds(other) {
				t.Errorf("%s: %d rows of %s, which this workbook is not of", name, n, other)
			}
		}
		for _, tn := range tenants {
			exp := world.ExpectSection(tn.ID, sec)
			st, why := reason(tn.DisplayName, sec)
			if exp.NotAvailable != "" {
				if got[tn.DisplayName] != 0 {
					t.Errorf("%s: %d rows of %s, want none (%s)", name, got[tn.DisplayName], tn.DisplayName, exp.NotAvailable)
				}
				if strings.HasPrefix(exp.NotAvailable, "token exchange") {
					continue // the tenant's one Run status row says why
				}
				if st != "not available" || why != exp.NotAvailable {
					t.Errorf("Run status of %s/%s = %q %q, want not available: %q", tn.DisplayName, sec, st, why, exp.NotAvailable)
				}
				continue
			}
			wantRows := exp.Rows
			if sec == "tenant" {
				wantRows = world.ExpectTenant(tn.ID).Domains // one row per domain
			}
			if got[tn.DisplayName] != wantRows || st != "ok" {
				t.Errorf("%s of %s: %d rows (status %q %q), want %d", name, tn.DisplayName, got[tn.DisplayName], st, why, wantRows)
			}
		}
	}

	// Flags, per tenant, against the world.
	isTrue := func(rows [][]string, header string) func([]string) bool {
		i := col(rows, header)
		return func(row []string) bool { return cell(row, i) == "1" }
	}
	creds := sheetRows(t, f, "App credentials")
	expired, expiring := countBy(creds, isTrue(creds, "Expired")), countBy(creds, isTrue(creds, "Expires within 30 days"))
	mfa := sheetRows(t, f, "MFA registration")
	noMFA := countBy(mfa, isTrue(mfa, "Admin without MFA"))
	users := sheetRows(t, f, "Users")
	inactive := countBy(users, isTrue(users, "Inactive 90 days"))
	lic := sheetRows(t, f, "Licences")
	unused := map[string]int{}
	for _, row := range lic[1:] {
		n, _ := strconv.Atoi(cell(row, col(lic, "Unassigned")))
		unused[row[0]] += n
	}
	for _, tn := range tenants {
		e := world.ExpectTenant(tn.ID)
		if e.Exchange != "" {
			continue
		}
		if world.ExpectSection(tn.ID, "appcredentials").NotAvailable == "" &&
			(expired[tn.DisplayName] != e.ExpiredCredentials || expiring[tn.DisplayName] != e.ExpiringCredentials) {
			t.Errorf("%s credentials flagged expired %d, expiring %d; want %d, %d", tn.DisplayName,
				expired[tn.DisplayName], expiring[tn.DisplayName], e.ExpiredCredentials, e.ExpiringCredentials)
		}
		if world.ExpectSection(tn.ID, "mfa").NotAvailable == "" && noMFA[tn.DisplayName] != e.AdminsWithoutMFA {
			t.Errorf("%s admins without MFA flagged = %d, want %d", tn.DisplayName, noMFA[tn.DisplayName], e.AdminsWithoutMFA)
		}
		if world.ExpectSection(tn.ID, "signin").NotAvailable == "" && inactive[tn.DisplayName] != e.InactiveUsers {
			t.Errorf("%s inactive users flagged = %d, want %d", tn.DisplayName, inactive[tn.DisplayName], e.InactiveUsers)
		}
		if world.ExpectSection(tn.ID, "licences").NotAvailable == "" && unused[tn.DisplayName] != e.UnusedLicences {
			t.Errorf("%s unused licences = %d, want %d", tn.DisplayName, unused[tn.DisplayName], e.UnusedLicences)
		}
	}

	// The run record carries the same per-section outcome.
	for _, tr := range rec.Tenants {
		if !b.holds(tr.TenantID) {
			continue
		}
		for _, s := range tr.Sections {
			if st, _ := reason(tr.DisplayName, s.Section); st != string(s.Status) {
				t.Errorf("record %s/%s = %s, Run status says %s", tr.DisplayName, s.Section, s.Status, st)
			}
		}
	}
}

// TestReportGolden compares a text dump of the demo workbook with
// testdata/demo.golden (go test -run TestReportGolden -update rewrites it).
// Durations vary from run to run and are blanked.
func TestReportGolden(t *testing.T) {
	_, books := emulatedRun(t, emulator.SampleWorld(), settings.AllSections())
	b, err := os.ReadFile(books[0].path)
	if err != nil {
		t.Fatal(err)
	}
	dump, err := workbook.Dump(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	got := blankColumns(dump, "Duration (s)")
	// The emulator's port and Entra's request ids differ per run.
	got = regexp.MustCompile(`https://127\.0\.0\.1:\d+`).ReplaceAllString(got, "https://emulator")
	got = regexp.MustCompile(`trace id [0-9a-f-]+, correlation id [0-9a-f-]+`).ReplaceAllString(got, "trace id …, correlation id …")
	got = regexp.MustCompile(`[0-9]{8}T[0-9]{9}Z-[0-9a-f]{6}`).ReplaceAllString(got, "<run id>")
	golden := filepath.Join("testdata", "demo.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("dump differs from %s at line %d:\ngot:  %q\nwant: %q", golden, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("dump has %d lines, %s has %d", len(gl), golden, len(wl))
	}
}

// blankColumns empties the cells of columns with the given header in a
// workbook.Dump, sheet by sheet.
func blankColumns(dump, header string) string {
	var out []string
	blank := -1
	lines := strings.Split(dump, "\n")
	for i, line := range lines {
		if strings.HasPrefix(line, "== ") {
			blank = -1
			if i+1 < len(lines) {
				blank = slices.Index(strings.Split(lines[i+1], "\t"), header)
			}
			out = append(out, line)
			continue
		}
		cells := strings.Split(line, "\t")
		if blank >= 0 && blank < len(cells) && cells[blank] != header {
			cells[blank] = ""
		}
		out = append(out, strings.Join(cells, "\t"))
	}
	return strings.Join(out, "\n")
}

// TestRecordedWorld serves recorded Graph responses (Graph's documented
// examples) and finds their values in the workbook.
func TestRecordedWorld(t *testing.T) {
	world, err := emulator.OpenWorld("recorded")
	if err != nil {
		t.Fatal(err)
	}
	_, books := emulatedRun(t, world, settings.AllSections())
	for _, b := range books {
		users := sheetRows(t, b.f, "Users")
		var names []string
		for _, row := range users[1:] {
			names = append(names, cell(row, col(users, "Display name")))
		}
		// The world's one tenant: its own workbook shows what the
		// combined one does.
		if !slices.Contains(names, "Adele Vance") || !slices.Contains(names, "Alex Wilber") {
			t.Errorf("%s: Users = %q, want the recorded Adele Vance and Alex Wilber", b.label, names)
		}
		mfa := sheetRows(t, b.f, "MFA registration")
		if len(mfa) < 2 || cell(mfa[1], col(mfa, "User principal name")) != "AdeleV@contosorecorded.onmicrosoft.com" {
			t.Errorf("%s: MFA registration = %q, want the recorded registration of Adele Vance", b.label, mfa)
		}
	}
}

// TestMalformedValueCostsOnlyTheCell serves a page in which one user has
// "" for a datetime, as Graph's own documentation example does: the cell is
// blank, a warning is counted, and the rest of the page is in the report.
func TestMalformedValueCostsOnlyTheCell(t *testing.T) {
	dir := t.TempDir()
	tenant := "71c3a8e2-4b5d-4e6f-8a9b-0c1d2e3f4a5b"
	files := map[string]string{
		"users.json": `{"value":[
			{"id":"1","displayName":"Good One","userPrincipalName":"good@x.example","userType":"Member","accountEnabled":true,"createdDateTime":"2021-03-04T10:11:12Z"},
			{"id":"2","displayName":"Empty Date","userPrincipalName":"empty@x.example","userType":"Member","accountEnabled":true,"createdDateTime":""},
			{"id":"3","displayName":"Good Two","userPrincipalName":"good2@x.example","userType":"Member","accountEnabled":false,"createdDateTime":"2022-05-06T07:08:09Z"}]}`,
		"organization.json": `{"value":[{"id":"` + tenant + `","displayName":"Malformed Ltd","verifiedDomains":[]}]}`,
		"domains.json":      `{"value":[]}`,
	}
	for name, body := range files {
		p := filepath.Join(dir, "t", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	base := emulator.SampleWorld()
	w := map[string]any{
		"homeTenantId": base.HomeTenantID, "managedIdentity": base.ManagedIdentity, "bridgeApp": base.BridgeApp, "seed": base.Seed,
		"tenants": []map[string]any{{"id": tenant, "displayName": "Malformed Ltd", "recorded": "t"}},
	}
	b, _ := json.Marshal(w)
	worldFile := filepath.Join(dir, "world.json")
	if err := os.WriteFile(worldFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	world, err := emulator.LoadWorldFile(worldFile)
	if err != nil {
		t.Fatal(err)
	}
	rec, books := emulatedRun(t, world, []string{"tenant", "users"})
	for _, b := range books { // the combined workbook and the tenant's own
		users := sheetRows(t, b.f, "Users")
		if len(users) != 4 {
			t.Fatalf("%s: Users has %d rows, want header + 3: %q", b.label, len(users), users)
		}
		created, name := col(users, "Created (UTC)"), col(users, "Display name")
		for _, row := range users[1:] {
			if blank := cell(row, created) == ""; blank != (cell(row, name) == "Empty Date") {
				t.Errorf("%s: Users row %q: Created blank = %v, want blank only for Empty Date", b.label, row, blank)
			}
		}
		status := sheetRows(t, b.f, "Run status")
		if i := slices.IndexFunc(status, func(row []string) bool { return cell(row, col(status, "Section")) == "Users" }); i < 0 ||
			cell(status[i], col(status, "Warnings")) != "1" {
			t.Errorf("%s: Run status = %q, want 1 warning on Users", b.label, status)
		}
	}
	s, _ := rec.Tenants[0].Section("users")
	if s.Status != graphdata.SectionOK || s.Warnings != 1 || s.Rows != 3 {
		t.Errorf("users section = %+v, want ok, 3 rows, 1 warning", s)
	}
}

// TestWorkbookReadsWell reads the demo workbooks back, the combined one and
// each tenant's own, and checks what a person sees beyond the data: where
// it came from, how it prints, the frozen header and filter on every sheet,
// what is highlighted, and Microsoft's names for licences and roles.
func TestWorkbookReadsWell(t *testing.T) {
	rec, books := emulatedRun(t, emulator.SampleWorld(), settings.AllSections())
	for _, b := range books {
		t.Run(b.label, func(t *testing.T) {
			title := "3 tenants"
			if b.tenant != "" {
				title = b.label // a customer's workbook is titled with its name
			}
			checkReadsWell(t, rec, b, title)
		})
	}
}

func checkReadsWell(t *testing.T, rec run.Record, b book, title string) {
	f := b.f
	props, err := f.GetDocProps()
	if err != nil {
		t.Fatal(err)
	}
	if props.Creator != "tenantreport" || !strings.Contains(props.Title, title) || !strings.Contains(props.Description, rec.RunID) ||
		!strings.HasPrefix(props.Created, epoch.Format("2006-01-02T15:04:05")) {
		t.Errorf("document properties = %+v, want creator tenantreport, title naming %s, the run id and the run's start", props, title)
	}

	about := map[string]string{}
	for _, row := range sheetRows(t, f, "About")[1:] {
		about[row[0]] = cell(row, 1)
	}
	if about["Run ID"] != rec.RunID || about["Trigger"] != "test" || about["Started"] != "2026-11-01 06:00:00 UTC" || !strings.Contains(about["Sections"], "Conditional access") {
		t.Errorf("About = %q, want the run id, trigger, start and sections", about)
	}

	for _, sheet := range []string{"Summary", "Run status", "Users"} {
		var orient excelize.PageLayoutOptions
		if orient, err = f.GetPageLayout(sheet); err != nil {
			t.Fatal(err)
		}
		if orient.Orientation == nil || *orient.Orientation != "landscape" || orient.FitToWidth == nil || *orient.FitToWidth != 1 {
			t.Errorf("%s prints %+v, want landscape, one page wide", sheet, orient)
		}
	}
	sheets := f.GetSheetList()
	if sheets[0] != "Overview" {
		t.Errorf("first sheet = %q, want the Overview chart", sheets[0])
	}
	// Every sheet keeps its header in view and filters all its rows.
	filters := map[string]string{}
	for _, dn := range f.GetDefinedName() {
		if dn.Name == "_xlnm._FilterDatabase" {
			filters[dn.Scope] = dn.RefersTo
		}
	}
	for _, sheet := range sheets {
		if p, err := f.GetPanes(sheet); err != nil || !p.Freeze || p.YSplit != 1 || p.XSplit != 0 || p.TopLeftCell != "A2" {
			t.Errorf("%s panes = %+v, %v; want the header row frozen", sheet, p, err)
		}
		rows := sheetRows(t, f, sheet)
		last, _ := excelize.ColumnNumberToName(len(rows[0]))
		if want := fmt.Sprintf("'%s'!$A$1:$%s$%d", sheet, last, len(rows)); filters[sheet] != want {
			t.Errorf("%s filter = %q, want %q: header and every row", sheet, filters[sheet], want)
		}
	}

	summary := sheetRows(t, f, "Summary")
	notes, status := col(summary, "Notes"), col(summary, "Status")
	for _, row := range summary[1:] {
		switch row[0] {
		case "Contoso":
			if cell(row, status) != "ok" || cell(row, notes) != "" {
				t.Errorf("Contoso = %q, %q; want ok without notes", cell(row, status), cell(row, notes))
			}
		case "Fabrikam":
			if cell(row, status) != "partial" || !strings.Contains(cell(row, notes), "not available: Sign-in activity, MFA registration (needs Entra ID P1/P2)") {
				t.Errorf("Fabrikam = %q, %q; want partial, saying which sections are not available and why", cell(row, status), cell(row, notes))
			}
		}
	}
	if link, target, _ := f.GetCellHyperLink("Summary", "A2"); !link || target != "'Run status'!A2" {
		t.Errorf("Summary A2 links to %q (%v), want the first tenant's first Run status row", target, link)
	}
	cfs, err := f.GetConditionalFormats("Summary")
	if err != nil || len(cfs) < 4 {
		t.Errorf("Summary conditional formats = %d (%v), want the row flag and the threshold highlights", len(cfs), err)
	}

	// Contoso holds an E3 licence; Contoso and Fabrikam have a Global and
	// an Exchange Administrator.
	lic := sheetRows(t, f, "Licences")
	products := map[string]string{}
	for _, row := range lic[1:] {
		products[cell(row, col(lic, "SKU"))] = cell(row, col(lic, "Product"))
	}
	if b.holds(sampleContoso) && products["SPE_E3"] != "Microsoft 365 E3" {
		t.Errorf("Licences products = %q, want Microsoft's name for SPE_E3", products)
	}
	roles := sheetRows(t, f, "Admin roles")
	privileged := map[string]string{}
	for _, row := range roles[1:] {
		privileged[cell(row, col(roles, "Role"))] = cell(row, col(roles, "Privileged"))
	}
	if (b.holds(sampleContoso) || b.holds(sampleFabrikam)) && (privileged["Global Administrator"] != "1" || privileged["Exchange Administrator"] != "0") {
		t.Errorf("Privileged = %q, want Global Administrator yes and Exchange Administrator no, as Microsoft labels them", privileged)
	}
}

// The sample world's tenants whose directories hold licences and roles.
const (
	sampleContoso  = "2b8e4f1a-6c3d-4b7e-9f5a-0d1c2e3f4a5b"
	sampleFabrikam = "9c5d7e3f-1a2b-4c8d-b6e0-7f8a9b0c1d2e"
)

// TestTenantWorkbooksMatchCombined: each tenant's own workbook has the
// combined one's sheets and headers, a Summary of one row (no totals), and
// exactly that tenant's rows, the same as in the combined workbook, on
// every sheet — a failed tenant's included, whose Run status says why.
func TestTenantWorkbooksMatchCombined(t *testing.T) {
	_, books := emulatedRun(t, emulator.SampleWorld(), settings.AllSections())
	combined := books[0]
	if len(books) != 4 {
		t.Fatalf("%d workbooks, want the combined one and one per tenant (3)", len(books))
	}
	for _, b := range books[1:] {
		t.Run(b.label, func(t *testing.T) {
			if got, want := b.f.GetSheetList(), combined.f.GetSheetList(); !slices.Equal(got, want) {
				t.Errorf("sheets = %q, want the combined workbook's %q", got, want)
			}
			for _, sheet := range combined.f.GetSheetList() {
				all, own := sheetRows(t, combined.f, sheet), sheetRows(t, b.f, sheet)
				if !slices.Equal(own[0], all[0]) {
					t.Errorf("%s header = %q, want %q", sheet, own[0], all[0])
				}
				var want [][]string
				switch id := col(all, "Tenant ID"); {
				case id >= 0: // Summary, Run status and the section sheets
					for _, row := range all[1:] {
						if cell(row, id) == b.tenant {
							want = append(want, row)
						}
					}
				case sheet == "Overview": // its bars are named, not keyed
					for _, row := range all[1:] {
						if row[0] == b.label || strings.HasPrefix(row[0], b.label+" (") {
							want = append(want, row)
						}
					}
				case sheet == "About":
					for _, row := range all[1:] {
						if row[0] == "Tenants" {
							row = []string{"Tenants", "1"}
						}
						want = append(want, row)
					}
				default:
					t.Fatalf("sheet %s: no way to find a tenant's rows in it", sheet)
				}
				if sheet == "Summary" && len(want) != 1 {
					t.Fatalf("combined Summary has %d rows of %s, want 1", len(want), b.label)
				}
				if got := own[1:]; !slices.EqualFunc(got, want, slices.Equal) {
					t.Errorf("%s = %d rows, want the combined workbook's %d rows of %s:\n got %.300q\nwant %.300q",
						sheet, len(got), len(want), b.label, got, want)
				}
			}
		})
	}
}
