package run_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/tenantreport/tenantreport/internal/emulator"
	"github.com/tenantreport/tenantreport/internal/section"
	"github.com/tenantreport/tenantreport/internal/settings"
)

// everyColumnTenant is the recorded tenant in testdata/everycolumn: every
// collection the collectors read holds an entity with every selected field
// set (booleans true, lists non-empty, each date distinct), and users,
// domains, devices, registrations, role assignments and credentials also
// hold one that Graph sent without its optional booleans (or dates).
const (
	everyColumnTenantID = "5d1e0c7a-3f2b-4c8d-9e6f-a1b2c3d4e5f6"
	everyColumnTenant   = "Every Column Ltd"
)

// unsaidRow is a row whose source entity lacks some fields: Blank maps each
// column that must then be blank to the Graph fields it is read from.
type unsaidRow struct {
	Sheet, KeyHeader, Key string
	Blank                 map[string]string
}

var unsaidRows = []unsaidRow{
	{"Domains", "Domain", "unsaid.everycolumn.example", map[string]string{
		"Default": "isDefault", "Initial": "isInitial", "Verified": "isVerified"}},
	{"Users", "User principal name", "unsaid.booleans@everycolumn.example", map[string]string{
		"Account enabled": "accountEnabled"}},
	{"Admin roles", "Principal", "Unsaid Booleans", map[string]string{
		"Guest": "principal.userType", "Disabled": "principal.accountEnabled",
		"Needs review": "principal.userType and principal.accountEnabled"}},
	{"MFA registration", "User principal name", "unsaid.booleans@everycolumn.example", map[string]string{
		"Admin": "isAdmin", "MFA registered": "isMfaRegistered", "Admin without MFA": "isAdmin and isMfaRegistered",
		"MFA capable": "isMfaCapable", "Passwordless capable": "isPasswordlessCapable", "SSPR registered": "isSsprRegistered"}},
	{"Devices", "Device", "UNSAID-BOOLEANS-MAC", map[string]string{
		"Enabled": "accountEnabled", "Compliant": "isCompliant", "Managed": "isManaged"}},
	{"App credentials", "Name", "undated secret", map[string]string{
		"Starts (UTC)": "startDateTime", "Expires (UTC)": "endDateTime", "Days to expiry": "endDateTime",
		"Expired": "endDateTime", "Expires within 30 days": "endDateTime"}},
}

// cellCheck is the value one cell must hold: for a Time column, the source
// date-time (RFC 3339); otherwise the raw cell value.
type cellCheck struct {
	Sheet, KeyHeader, Key, Header, Want string
}

// everyColumnCells are the recorded values the workbook must show. Every
// Time column of every section sheet needs at least one.
var everyColumnCells = []cellCheck{
	{"Users", "User principal name", "every.field@everycolumn.example", "Created (UTC)", "2021-02-03T04:05:06Z"},
	{"Users", "User principal name", "every.field@everycolumn.example", "Last sign-in (UTC)", "2026-10-20T09:41:07Z"},
	{"Users", "User principal name", "every.field@everycolumn.example", "Last non-interactive sign-in (UTC)", "2026-10-28T17:22:33Z"},
	{"Users", "User principal name", "every.field@everycolumn.example", "Account enabled", "1"},
	{"Users", "User principal name", "every.field@everycolumn.example", "Inactive 90 days", "0"},
	{"Users", "User principal name", "unsaid.booleans@everycolumn.example", "Created (UTC)", "2023-07-08T09:10:11Z"},
	{"Guests", "User principal name", "every.guest_partner.example#EXT#@everycolumn.onmicrosoft.com", "Created (UTC)", "2022-06-07T08:09:10Z"},
	{"Guests", "User principal name", "every.guest_partner.example#EXT#@everycolumn.onmicrosoft.com", "Last sign-in (UTC)", "2026-03-14T15:16:17Z"},
	{"Guests", "User principal name", "every.guest_partner.example#EXT#@everycolumn.onmicrosoft.com", "Last non-interactive sign-in (UTC)", "2026-04-15T16:17:18Z"},
	{"Guests", "User principal name", "every.guest_partner.example#EXT#@everycolumn.onmicrosoft.com", "Inactive 90 days", "1"},
	{"Domains", "Domain", "everycolumn.example", "Services", "Email, OfficeCommunicationsOnline"},
	{"Licences", "SKU", "AAD_PREMIUM", "Product", "Microsoft Entra ID P1"},
	{"Licences", "SKU", "AAD_PREMIUM", "Unassigned", "40"},
	{"Licences", "SKU", "AAD_PREMIUM", "Seats wasted", "1"},
	{"Licences", "SKU", "AAD_PREMIUM", "Seats in warning", "3"},
	{"Licences", "SKU", "AAD_PREMIUM", "Seats suspended", "2"},
	{"Admin roles", "Principal", "Every Field", "Role", "Global Administrator"},
	{"Admin roles", "Principal", "Every Field", "Privileged", "1"},
	{"Admin roles", "Principal", "Every Field", "Principal type", "user"},
	{"Admin roles", "Principal", "Every Field", "Scope", "Tenant-wide"},
	{"MFA registration", "User principal name", "every.field@everycolumn.example", "Updated (UTC)", "2026-10-30T11:12:13Z"},
	{"MFA registration", "User principal name", "every.field@everycolumn.example", "Methods", "microsoftAuthenticatorPush, fido2"},
	{"MFA registration", "User principal name", "unsaid.booleans@everycolumn.example", "Updated (UTC)", "2026-09-08T07:06:05Z"},
	{"Devices", "Device", "EVERY-FIELD-PC", "Last sign-in (UTC)", "2026-10-31T23:59:01Z"},
	{"Devices", "Device", "EVERY-FIELD-PC", "Registered (UTC)", "2024-01-02T03:04:05Z"},
	{"Devices", "Device", "UNSAID-BOOLEANS-MAC", "Registered (UTC)", "2025-03-04T05:06:07Z"},
	{"Conditional access", "Policy", "Require MFA and a compliant device", "Created (UTC)", "2025-05-06T07:08:09Z"},
	{"Conditional access", "Policy", "Require MFA and a compliant device", "Modified (UTC)", "2026-06-07T08:09:10Z"},
	{"Conditional access", "Policy", "Require MFA and a compliant device", "State", "report-only"},
	{"Conditional access", "Policy", "Require MFA and a compliant device", "Grant controls", "mfa, compliantDevice"},
	{"Conditional access", "Policy", "Require MFA and a compliant device", "Applies to", "2 users, 1 group, 3 roles"},
	{"Conditional access", "Policy", "Require MFA and a compliant device", "Excluded groups", "2"},
	{"App credentials", "Name", "future secret", "Starts (UTC)", "2026-02-14T08:29:42Z"},
	{"App credentials", "Name", "future secret", "Expires (UTC)", "2027-02-14T08:30:41Z"},
	{"App credentials", "Name", "future secret", "Expired", "0"},
	{"App credentials", "Name", "CN=expired certificate", "Starts (UTC)", "2024-09-30T12:14:44Z"},
	{"App credentials", "Name", "CN=expired certificate", "Expires (UTC)", "2025-09-30T12:15:43Z"},
	{"App credentials", "Name", "CN=expired certificate", "Expired", "1"},
	{"App credentials", "Name", "expiring secret", "Starts (UTC)", "2026-05-15T10:21:31Z"},
	{"App credentials", "Name", "expiring secret", "Expires (UTC)", "2026-11-15T10:20:30Z"},
	{"App credentials", "Name", "expiring secret", "Days to expiry", "14"},
	{"App credentials", "Name", "expiring secret", "Expires within 30 days", "1"},
	{"App credentials", "Name", "expiring secret", "Object", "Service principal"},
	{"App credentials", "Name", "CN=service certificate", "Expires (UTC)", "2028-01-01T01:02:03Z"},
	{"App credentials", "Name", "CN=service certificate", "Credential", "Certificate"},
	{"Secure score", "Tenant", everyColumnTenant, "Date (UTC)", "2026-10-31T02:03:04Z"},
	{"Secure score", "Tenant", everyColumnTenant, "Score", "41.5"},
}

// everyColumnWorld is the demo's identities with testdata/everycolumn as
// its one, recorded, tenant.
func everyColumnWorld(t *testing.T) *emulator.World {
	t.Helper()
	recorded, err := filepath.Abs(filepath.Join("testdata", "everycolumn"))
	if err != nil {
		t.Fatal(err)
	}
	base := emulator.SampleWorld()
	b, err := json.Marshal(map[string]any{
		"homeTenantId": base.HomeTenantID, "managedIdentity": base.ManagedIdentity, "bridgeApp": base.BridgeApp, "seed": base.Seed,
		"tenants": []map[string]any{{"id": everyColumnTenantID, "displayName": everyColumnTenant, "recorded": recorded}},
	})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "world.json")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	world, err := emulator.LoadWorldFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return world
}

// TestEveryColumnReachesTheWorkbook runs every section over a recorded
// tenant whose entities set every field the collectors select, and reads
// the workbook back: no cell may be blank whose source value Graph sent,
// the dates must be the dates Graph sent, and a value Graph did not send
// must be blank, never FALSE. It guards the path Graph → collector → spool
// → workbook for every column the registry declares, so a section or
// column added without a fixture value fails here. The tenant's own
// workbook is checked as the combined one is.
func TestEveryColumnReachesTheWorkbook(t *testing.T) {
	_, books := emulatedRun(t, everyColumnWorld(t), settings.AllSections())
	for _, b := range books {
		t.Run(b.label, func(t *testing.T) { checkEveryColumn(t, b.f) })
	}
}

func checkEveryColumn(t *testing.T, f *excelize.File) {

	// Every section was read, whole.
	status := sheetRows(t, f, "Run status")
	for _, name := range settings.AllSections() {
		sec, _ := section.Lookup(name)
		i := slices.IndexFunc(status[1:], func(row []string) bool {
			return cell(row, col(status, "Tenant")) == everyColumnTenant && cell(row, col(status, "Section")) == sec.Title
		})
		if i < 0 {
			t.Errorf("Run status has no row for %s", sec.Title)
			continue
		}
		row := status[1+i]
		if st, w := cell(row, col(status, "Status")), cell(row, col(status, "Warnings")); st != "ok" || w != "0" {
			t.Errorf("Run status of %s = %s with %q warnings (%s), want ok with 0", sec.Title, st, w, cell(row, col(status, "Reason")))
		}
	}

	for _, sec := range section.All() {
		if !sec.HasSheet() {
			continue
		}
		t.Run(sec.Sheet, func(t *testing.T) {
			rows := sheetRows(t, f, sec.Sheet)
			want := []string{"Tenant", "Tenant ID"}
			for _, c := range sec.Columns {
				want = append(want, c.Header)
			}
			var header []string
			if len(rows) > 0 {
				header = rows[0]
			}
			if !slices.Equal(header, want) {
				t.Fatalf("%s header = %q, want %q", sec.Sheet, header, want)
			}
			if len(rows) < 2 {
				t.Fatalf("%s has no rows: give testdata/everycolumn an entity for section %s", sec.Sheet, sec.Name)
			}
			for r, row := range rows[1:] {
				unsaid := unsaidAt(sec.Sheet, rows, row)
				for i, header := range rows[0] {
					v := cell(row, i)
					fields, mustBlank := unsaid[header]
					switch {
					case mustBlank && v != "":
						t.Errorf("%s row %d (%s): %q = %q, want blank: Graph did not send %s, so the value is unknown, and unknown is blank, never FALSE",
							sec.Sheet, r+2, rowName(sec.Sheet, rows, row), header, v, fields)
					case !mustBlank && v == "":
						t.Errorf("%s row %d (%s): %q is blank, but every field it is read from was sent",
							sec.Sheet, r+2, rowName(sec.Sheet, rows, row), header)
					}
				}
			}
			for _, u := range unsaidRows {
				if u.Sheet == sec.Sheet && findRow(rows, u.KeyHeader, u.Key) < 0 {
					t.Errorf("%s has no row with %s %q", sec.Sheet, u.KeyHeader, u.Key)
				}
			}
			checkCells(t, f, sec, rows)
		})
	}
}

// unsaidAt returns the columns of row that must be blank, or nil.
func unsaidAt(sheet string, rows [][]string, row []string) map[string]string {
	for _, u := range unsaidRows {
		if u.Sheet == sheet && cell(row, col(rows, u.KeyHeader)) == u.Key {
			return u.Blank
		}
	}
	return nil
}

// rowName names a row in a failure by the column everyColumnCells key its
// sheet's rows by (the tenant where they name none).
func rowName(sheet string, rows [][]string, row []string) string {
	key := "Tenant"
	if i := slices.IndexFunc(everyColumnCells, func(c cellCheck) bool { return c.Sheet == sheet }); i >= 0 {
		key = everyColumnCells[i].KeyHeader
	}
	return key + " " + strconv.Quote(cell(row, col(rows, key)))
}

func findRow(rows [][]string, keyHeader, key string) int {
	k := col(rows, keyHeader)
	for i, row := range rows {
		if i > 0 && k >= 0 && cell(row, k) == key {
			return i
		}
	}
	return -1
}

// checkCells compares sec's cells with everyColumnCells. A date is checked
// twice: the cell's serial number is the instant Graph sent, and the cell
// shows it in the column's format, yyyy-mm-dd hh:mm.
func checkCells(t *testing.T, f *excelize.File, sec section.Section, rows [][]string) {
	t.Helper()
	for _, c := range sec.Columns {
		if c.Kind == section.Time && !slices.ContainsFunc(everyColumnCells, func(cc cellCheck) bool {
			return cc.Sheet == sec.Sheet && cc.Header == c.Header
		}) {
			t.Errorf("%s %q: no date check in everyColumnCells; add one", sec.Sheet, c.Header)
		}
	}
	for _, cc := range everyColumnCells {
		if cc.Sheet != sec.Sheet {
			continue
		}
		r, i := findRow(rows, cc.KeyHeader, cc.Key), col(rows, cc.Header)
		if r < 0 || i < 0 {
			t.Errorf("%s has no row with %s %q, or no column %q", cc.Sheet, cc.KeyHeader, cc.Key, cc.Header)
			continue
		}
		got := cell(rows[r], i)
		ci := slices.IndexFunc(sec.Columns, func(c section.Column) bool { return c.Header == cc.Header })
		if ci < 0 || sec.Columns[ci].Kind != section.Time {
			if got != cc.Want {
				t.Errorf("%s %q of %s %q = %q, want %q", cc.Sheet, cc.Header, cc.KeyHeader, cc.Key, got, cc.Want)
			}
			continue
		}
		want, err := time.Parse(time.RFC3339, cc.Want)
		if err != nil {
			t.Fatal(err)
		}
		serial, err := strconv.ParseFloat(got, 64)
		if err != nil {
			t.Errorf("%s %q of %s %q = %q, want the date %s as a serial number", cc.Sheet, cc.Header, cc.KeyHeader, cc.Key, got, cc.Want)
			continue
		}
		at, err := excelize.ExcelDateToTime(serial, false)
		if d := at.Sub(want); err != nil || d < -time.Second || d > time.Second {
			t.Errorf("%s %q of %s %q = %v (serial %s), want %s", cc.Sheet, cc.Header, cc.KeyHeader, cc.Key, at.Format(time.RFC3339), got, cc.Want)
		}
		axis, _ := excelize.CoordinatesToCellName(i+1, r+1)
		if shown, err := f.GetCellValue(cc.Sheet, axis); err != nil || shown != want.Format("2006-01-02 15:04") {
			t.Errorf("%s %s (%q of %s %q) shows %q (%v), want %q", cc.Sheet, axis, cc.Header, cc.KeyHeader, cc.Key, shown, err,
				want.Format("2006-01-02 15:04"))
		}
	}
}
