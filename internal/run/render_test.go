package run_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/tenantreport/tenantreport/internal/emulator"
	"github.com/tenantreport/tenantreport/internal/graphdata"
	"github.com/tenantreport/tenantreport/internal/reportstore"
	"github.com/tenantreport/tenantreport/internal/run"
	"github.com/tenantreport/tenantreport/internal/runtest"
	"github.com/tenantreport/tenantreport/internal/section"
	"github.com/tenantreport/tenantreport/internal/settings"
)

// soffice returns LibreOffice's command, skipping the test when it is not
// installed (make test installs it) — or failing it under CI, where the
// rendering tests must run.
func soffice(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("soffice")
	if err != nil {
		const msg = "soffice is not on PATH: install libreoffice-calc-nogui (make test does) to open the workbooks with LibreOffice"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return path
}

// convertToPDF opens xlsx with LibreOffice and prints it to PDF, as a person
// opening the report would see it; LibreOffice refuses (or repairs) a
// workbook it cannot read. It returns the PDF.
func convertToPDF(t *testing.T, xlsx string) []byte {
	t.Helper()
	bin := soffice(t)
	out, home := t.TempDir(), t.TempDir()
	// A profile of its own, so conversions in parallel do not share one.
	cmd := exec.CommandContext(t.Context(), bin, "--headless", "--norestore", "-env:UserInstallation=file://"+filepath.ToSlash(home),
		"--convert-to", "pdf", "--outdir", out, xlsx)
	cmd.Env = append(os.Environ(), "HOME="+home)
	msg, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("soffice --convert-to pdf %s: %v\n%s", filepath.Base(xlsx), err, msg)
	}
	pdf, err := os.ReadFile(filepath.Join(out, strings.TrimSuffix(filepath.Base(xlsx), ".xlsx")+".pdf"))
	if err != nil || !bytes.HasPrefix(pdf, []byte("%PDF")) {
		t.Fatalf("soffice wrote no PDF of %s (%v):\n%s", filepath.Base(xlsx), err, msg)
	}
	if bytes.Contains(msg, []byte("repair")) || bytes.Contains(msg, []byte("corrupt")) {
		t.Errorf("LibreOffice had to repair %s:\n%s", filepath.Base(xlsx), msg)
	}
	return pdf
}

// TestDemoWorkbookOpensInLibreOffice opens the demo's workbooks, the
// combined one and each tenant's own, in LibreOffice.
func TestDemoWorkbookOpensInLibreOffice(t *testing.T) {
	soffice(t)
	_, books := emulatedRun(t, emulator.SampleWorld(), settings.AllSections())
	for _, b := range books {
		t.Run(b.label, func(t *testing.T) { convertToPDF(t, b.path) })
	}
}

// hostileText is directory data written to break a spreadsheet: formula
// prefixes, control characters, invalid UTF-8, text past Excel's cell limit,
// and characters sheet names cannot hold.
var hostileText = []string{
	`=HYPERLINK("http://evil.example","click")`,
	"+cmd|' /C calc'!A0",
	"-2+3",
	"@SUM(1,2)",
	"bell\x07and\x00nul\x1bescape",
	"bad utf-8 \xff\xfe here",
	strings.Repeat("x", 40_000),
	`sheet: name / with \ all ? the * bad [chars]`,
}

// hostileDirectory serves one tenant whose users carry hostileText.
func hostileDirectory(_ context.Context, t settings.Tenant, _ []string, emit func(string, any) error) (graphdata.Result, error) {
	res := graphdata.Result{Sections: []graphdata.SectionResult{{Section: "users", Status: graphdata.SectionOK}}}
	for i, s := range hostileText {
		if err := emit("users", section.User{ID: fmt.Sprint(i), DisplayName: s, UserPrincipalName: fmt.Sprintf("u%d@hostile.example", i),
			Department: s, UserType: "Member", Created: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}); err != nil {
			return res, err
		}
		res.Users++
	}
	// A date Excel cannot show: a blank cell and a warning, not text in a
	// date column.
	if err := emit("users", section.User{ID: "old", DisplayName: "Before 1900", UserPrincipalName: "old@hostile.example",
		Created: time.Date(1850, 1, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
		return res, err
	}
	res.Users++
	return res, nil
}

// TestHostileWorkbook writes a report of hostile directory data: the
// workbooks, the combined one and the tenant's own, open (in excelize and
// LibreOffice), every text stays text, and nothing becomes a formula.
func TestHostileWorkbook(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store, err := reportstore.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := &run.Runner{
		Tenants:   []settings.Tenant{{ID: "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", DisplayName: `=evil/tenant:[1]*?\`}},
		Collector: runtest.Collector(hostileDirectory), Store: store, Sections: []string{"users"}, SpoolDir: t.TempDir(),
		TenantWorkbooks: true, Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	rec, err := r.Run(t.Context(), run.Request{Trigger: "test"})
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	if own := rec.Tenants[0].Report; !strings.HasSuffix(own, "/0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0.xlsx") {
		t.Errorf("the tenant's own workbook = %q, want it named by the tenant's id, not its hostile name", own)
	}
	for _, name := range []string{rec.Report, rec.Tenants[0].Report} {
		t.Run(path.Base(name), func(t *testing.T) {
			t.Parallel()
			checkHostile(t, filepath.Join(dir, filepath.FromSlash(name)))
		})
	}
}

func checkHostile(t *testing.T, file string) {
	f, err := excelize.OpenFile(file)
	if err != nil {
		t.Fatalf("hostile workbook does not open: %v", err)
	}
	defer f.Close()
	users := sheetRows(t, f, "Users")
	if len(users) != 2+len(hostileText) {
		t.Fatalf("Users has %d rows, want header + %d", len(users), 1+len(hostileText))
	}
	name, created := col(users, "Display name"), col(users, "Created (UTC)")
	for _, row := range users[1:] {
		if cell(row, name) == "Before 1900" && cell(row, created) != "" {
			t.Errorf("Created of a user from 1850 = %q, want blank", cell(row, created))
		}
	}
	status := sheetRows(t, f, "Run status")
	if w := cell(status[1], col(status, "Warnings")); w != "1" {
		t.Errorf("Run status warnings = %q, want 1 for the date Excel cannot show", w)
	}
	byDisplay := map[string]string{}
	for _, row := range users[1:] {
		byDisplay[cell(row, col(users, "User principal name"))] = cell(row, name)
	}
	if got, want := byDisplay["u4@hostile.example"], "bell\uFFFDand\uFFFDnul\uFFFDescape"; got != want {
		t.Errorf("control characters = %q, want each marked as %q", got, want)
	}
	long := []rune(byDisplay["u6@hostile.example"])
	kept := strings.Count(string(long), "x")
	if want := fmt.Sprintf("…[truncated %d chars]", 40_000-kept); len(long) > 32_767 || !strings.HasSuffix(string(long), want) {
		t.Errorf("40,000 characters = %d characters ending …%q, want at most Excel's 32,767, ending %q", len(long), string(long[max(0, len(long)-30):]), want)
	}
	for i, row := range users[1 : 1+len(hostileText)] {
		cellName, _ := excelize.CoordinatesToCellName(name+1, i+2)
		if formula, _ := f.GetCellFormula("Users", cellName); formula != "" {
			t.Errorf("%s holds formula %q, want text", cellName, formula)
		}
		got := cell(row, name)
		if got == "" {
			t.Errorf("%s is blank, want the (marked) text", cellName)
		}
		if row[0] != `=evil/tenant:[1]*?\` {
			t.Errorf("Tenant cell = %q, want the display name as text", row[0])
		}
	}
	convertToPDF(t, file)
}
