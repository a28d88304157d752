package run_test

import (
	"bytes"
	"encoding/json"
	"flag"
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
	"github.com/tenantreport/tenantreport/internal/section"
	"github.com/tenantreport/tenantreport/internal/settings"
	"github.com/tenantreport/tenantreport/internal/workbook"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// epoch is the emulated worlds' "now": fixed, so reports are comparable.
var epoch = time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC)

// emulatedRun runs a report of world on the emulator, through the real
// azidentity and msgraph-sdk-go clients, and returns the workbook.
func emulatedRun(t *testing.T, world *emulator.World, sections []string) (run.Record, *excelize.File, string) {
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
		Store: store, Sections: sections, Parallel: 4, Now: now,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	rec, err := r.Run(t.Context(), run.Request{Trigger: "test"})
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	path := filepath.Join(dir, filepath.FromSlash(rec.Report))
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return rec, f, path
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

// TestReportEverySection checks every sheet against the emulated world:
// row counts per tenant, the flags, and the reasons of skipped sections.
func TestReportEverySection(t *testing.T) {
	world := emulator.SampleWorld()
	rec, f, _ := emulatedRun(t, world, settings.AllSections())

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
	for sec, name := range sheets {
		rows := sheetRows(t, f, name)
		if rows[0][0] != "Tenant" || rows[0][1] != "Tenant ID" {
			t.Errorf("%s header = %q, want Tenant and Tenant ID first", name, rows[0])
		}
		got := countBy(rows, nil)
		for _, tn := range world.Tenants {
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
	for _, tn := range world.Tenants {
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
	_, _, path := emulatedRun(t, emulator.SampleWorld(), settings.AllSections())
	b, err := os.ReadFile(path)
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
	_, f, _ := emulatedRun(t, world, settings.AllSections())
	users := sheetRows(t, f, "Users")
	var names []string
	for _, row := range users[1:] {
		names = append(names, cell(row, col(users, "Display name")))
	}
	if !slices.Contains(names, "Adele Vance") || !slices.Contains(names, "Alex Wilber") {
		t.Errorf("Users = %q, want the recorded Adele Vance and Alex Wilber", names)
	}
	mfa := sheetRows(t, f, "MFA registration")
	if len(mfa) < 2 || cell(mfa[1], col(mfa, "User principal name")) != "AdeleV@contosorecorded.onmicrosoft.com" {
		t.Errorf("MFA registration = %q, want the recorded registration of Adele Vance", mfa)
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
	rec, f, _ := emulatedRun(t, world, []string{"tenant", "users"})
	users := sheetRows(t, f, "Users")
	if len(users) != 4 {
		t.Fatalf("Users has %d rows, want header + 3: %q", len(users), users)
	}
	created, name := col(users, "Created (UTC)"), col(users, "Display name")
	for _, row := range users[1:] {
		if blank := cell(row, created) == ""; blank != (cell(row, name) == "Empty Date") {
			t.Errorf("Users row %q: Created blank = %v, want blank only for Empty Date", row, blank)
		}
	}
	s, _ := rec.Tenants[0].Section("users")
	if s.Status != graphdata.SectionOK || s.Warnings != 1 || s.Rows != 3 {
		t.Errorf("users section = %+v, want ok, 3 rows, 1 warning", s)
	}
}

// TestWorkbookReadsWell reads the demo workbook back and checks what a
// person sees beyond the data: where it came from, how it prints, what is
// highlighted, and Microsoft's names for licences and roles.
func TestWorkbookReadsWell(t *testing.T) {
	rec, f, _ := emulatedRun(t, emulator.SampleWorld(), settings.AllSections())

	props, err := f.GetDocProps()
	if err != nil {
		t.Fatal(err)
	}
	if props.Creator != "tenantreport" || !strings.Contains(props.Title, "3 tenants") || !strings.Contains(props.Description, rec.RunID) ||
		!strings.HasPrefix(props.Created, epoch.Format("2006-01-02T15:04:05")) {
		t.Errorf("document properties = %+v, want creator tenantreport, the tenant count, the run id and the run's start", props)
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
	if sheets := f.GetSheetList(); sheets[0] != "Overview" {
		t.Errorf("first sheet = %q, want the Overview chart", sheets[0])
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
		t.Errorf("Summary A2 links to %q (%v), want Contoso's first Run status row", target, link)
	}
	cfs, err := f.GetConditionalFormats("Summary")
	if err != nil || len(cfs) < 4 {
		t.Errorf("Summary conditional formats = %d (%v), want the row flag and the threshold highlights", len(cfs), err)
	}

	lic := sheetRows(t, f, "Licences")
	products := map[string]string{}
	for _, row := range lic[1:] {
		products[cell(row, col(lic, "SKU"))] = cell(row, col(lic, "Product"))
	}
	if products["SPE_E3"] != "Microsoft 365 E3" {
		t.Errorf("Licences products = %q, want Microsoft's name for SPE_E3", products)
	}
	roles := sheetRows(t, f, "Admin roles")
	privileged := map[string]string{}
	for _, row := range roles[1:] {
		privileged[cell(row, col(roles, "Role"))] = cell(row, col(roles, "Privileged"))
	}
	if privileged["Global Administrator"] != "1" || privileged["Exchange Administrator"] != "0" {
		t.Errorf("Privileged = %q, want Global Administrator yes and Exchange Administrator no, as Microsoft labels them", privileged)
	}
}
