package run

import (
	"io"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/tenantreport/tenantreport/internal/graphdata"
	"github.com/tenantreport/tenantreport/internal/workbook"
)

// sheetDef is one section's sheet: its columns and how a spooled row of
// one tenant becomes a workbook row.
type sheetDef struct {
	section string
	name    string
	columns []workbook.Column
	rows    func(tenant string, spool string) iter.Seq2[[]any, error]
}

// sheet defines a section's sheet over rows of type T. The Tenant column
// comes first on every section sheet.
func sheet[T any](section, name string, cols []workbook.Column, row func(T) []any) sheetDef {
	return sheetDef{
		section: section,
		name:    name,
		columns: append([]workbook.Column{{Header: "Tenant", Kind: workbook.Text, Width: 28}}, cols...),
		rows: func(tenant, spool string) iter.Seq2[[]any, error] {
			return func(yield func([]any, error) bool) {
				for v, err := range readSpool[T](spool) {
					if err != nil {
						yield(nil, err)
						return
					}
					if !yield(append([]any{tenant}, row(v)...), nil) {
						return
					}
				}
			}
		},
	}
}

// when returns t, or nil (a blank cell) for the zero time.
func when(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func optBool(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}

var userColumns = []workbook.Column{
	{Header: "Display name", Kind: workbook.Text, Width: 28},
	{Header: "User principal name", Kind: workbook.Text, Width: 40},
	{Header: "Mail", Kind: workbook.Text, Width: 36},
	{Header: "User type", Kind: workbook.Text, Width: 10},
	{Header: "Account enabled", Kind: workbook.Bool},
	{Header: "Created", Kind: workbook.Time},
	{Header: "Last sign-in", Kind: workbook.Time},
	{Header: "Last non-interactive sign-in", Kind: workbook.Time},
	{Header: "Inactive 90 days", Kind: workbook.Bool, Flag: true},
	{Header: "External user state", Kind: workbook.Text, Width: 18},
	{Header: "Job title", Kind: workbook.Text, Width: 24},
	{Header: "Department", Kind: workbook.Text, Width: 20},
	{Header: "User ID", Kind: workbook.Text, Width: 38},
}

func userRow(u graphdata.User) []any {
	var inactive any
	if u.SignInKnown {
		inactive = u.Inactive
	}
	return []any{u.DisplayName, u.UserPrincipalName, u.Mail, u.UserType, u.AccountEnabled, when(u.CreatedDateTime),
		when(u.LastSignIn), when(u.LastNonInteractiveSignIn), inactive, u.ExternalUserState, u.JobTitle, u.Department, u.ID}
}

// rowKey is the key a row is sorted by within its tenant and section:
// something stable and meaningful to a reader (names before ids).
func rowKey(row any) string {
	lower := strings.ToLower
	switch r := row.(type) {
	case graphdata.User:
		return lower(r.UserPrincipalName) + "\x00" + r.ID
	case graphdata.Domain:
		return lower(r.Name)
	case graphdata.Licence:
		return r.SkuPartNumber + "\x00" + r.SkuID
	case graphdata.RoleAssignment:
		return lower(r.Role) + "\x00" + lower(r.PrincipalName) + "\x00" + r.PrincipalID + "\x00" + r.DirectoryScope
	case graphdata.Registration:
		return lower(r.UserPrincipalName)
	case graphdata.Device:
		return lower(r.DisplayName) + "\x00" + r.ID
	case graphdata.Policy:
		return lower(r.DisplayName)
	case graphdata.AppCredential:
		return lower(r.DisplayName) + "\x00" + r.AppID + "\x00" + r.ObjectType + "\x00" + r.CredentialType + "\x00" + r.KeyID
	}
	return ""
}

// sheetDefs are the section sheets in report order.
var sheetDefs = []sheetDef{
	sheet("tenant", "Domains", []workbook.Column{
		{Header: "Domain", Kind: workbook.Text, Width: 36},
		{Header: "Default", Kind: workbook.Bool},
		{Header: "Initial", Kind: workbook.Bool},
		{Header: "Verified", Kind: workbook.Bool},
		{Header: "Authentication", Kind: workbook.Text, Width: 14},
		{Header: "Services", Kind: workbook.Text, Width: 40},
	}, func(d graphdata.Domain) []any {
		return []any{d.Name, d.IsDefault, d.IsInitial, d.IsVerified, d.AuthenticationType, strings.Join(d.SupportedServices, ", ")}
	}),
	sheet("users", "Users", userColumns, userRow),
	sheet("guests", "Guests", userColumns, userRow),
	sheet("licences", "Licences", []workbook.Column{
		{Header: "SKU", Kind: workbook.Text, Width: 30},
		{Header: "SKU ID", Kind: workbook.Text, Width: 38},
		{Header: "Status", Kind: workbook.Text, Width: 10},
		{Header: "Enabled", Kind: workbook.Int},
		{Header: "Consumed", Kind: workbook.Int},
		{Header: "Available", Kind: workbook.Int},
		{Header: "Unused", Kind: workbook.Bool, Flag: true},
		{Header: "Warning", Kind: workbook.Int},
		{Header: "Suspended", Kind: workbook.Int},
	}, func(l graphdata.Licence) []any {
		return []any{l.SkuPartNumber, l.SkuID, l.CapabilityStatus, l.PrepaidUnits.Enabled, l.ConsumedUnits, l.Available(),
			l.CapabilityStatus == "Enabled" && l.Available() > 0, l.PrepaidUnits.Warning, l.PrepaidUnits.Suspended}
	}),
	sheet("roles", "Admin roles", []workbook.Column{
		{Header: "Role", Kind: workbook.Text, Width: 32},
		{Header: "Privileged", Kind: workbook.Bool},
		{Header: "Principal", Kind: workbook.Text, Width: 28},
		{Header: "User principal name", Kind: workbook.Text, Width: 40},
		{Header: "Principal type", Kind: workbook.Text, Width: 16},
		{Header: "Guest", Kind: workbook.Bool},
		{Header: "Disabled", Kind: workbook.Bool},
		{Header: "Needs review", Kind: workbook.Bool, Flag: true},
		{Header: "Scope", Kind: workbook.Text, Width: 12},
		{Header: "Principal ID", Kind: workbook.Text, Width: 38},
	}, func(r graphdata.RoleAssignment) []any {
		return []any{r.Role, r.Privileged, r.PrincipalName, r.PrincipalUPN, r.PrincipalType, r.Guest, r.Disabled, r.Flagged(), r.DirectoryScope, r.PrincipalID}
	}),
	sheet("mfa", "MFA registration", []workbook.Column{
		{Header: "User", Kind: workbook.Text, Width: 28},
		{Header: "User principal name", Kind: workbook.Text, Width: 40},
		{Header: "User type", Kind: workbook.Text, Width: 10},
		{Header: "Admin", Kind: workbook.Bool},
		{Header: "MFA registered", Kind: workbook.Bool},
		{Header: "Admin without MFA", Kind: workbook.Bool, Flag: true},
		{Header: "MFA capable", Kind: workbook.Bool},
		{Header: "Passwordless capable", Kind: workbook.Bool},
		{Header: "SSPR registered", Kind: workbook.Bool},
		{Header: "Methods", Kind: workbook.Text, Width: 40},
		{Header: "Updated", Kind: workbook.Time},
	}, func(r graphdata.Registration) []any {
		return []any{r.UserDisplayName, r.UserPrincipalName, r.UserType, r.IsAdmin, r.IsMfaRegistered, r.AdminWithoutMFA(),
			r.IsMfaCapable, r.IsPasswordless, r.IsSsprRegistered, strings.Join(r.MethodsRegistered, ", "), when(r.LastUpdatedDateTime.T)}
	}),
	sheet("devices", "Devices", []workbook.Column{
		{Header: "Device", Kind: workbook.Text, Width: 28},
		{Header: "Operating system", Kind: workbook.Text, Width: 16},
		{Header: "Version", Kind: workbook.Text, Width: 16},
		{Header: "Enabled", Kind: workbook.Bool},
		{Header: "Trust type", Kind: workbook.Text, Width: 14},
		{Header: "Compliant", Kind: workbook.Bool},
		{Header: "Managed", Kind: workbook.Bool},
		{Header: "Last sign-in", Kind: workbook.Time},
		{Header: "Registered", Kind: workbook.Time},
		{Header: "Device ID", Kind: workbook.Text, Width: 38},
	}, func(d graphdata.Device) []any {
		return []any{d.DisplayName, d.OperatingSystem, d.OperatingSystemVersion, d.AccountEnabled, d.TrustType,
			optBool(d.IsCompliant), optBool(d.IsManaged), when(d.LastSignIn.T), when(d.Registered.T), d.ID}
	}),
	sheet("conditionalaccess", "Conditional access", []workbook.Column{
		{Header: "Policy", Kind: workbook.Text, Width: 40},
		{Header: "State", Kind: workbook.Text, Width: 14},
		{Header: "Grant controls", Kind: workbook.Text, Width: 30},
		{Header: "Include users", Kind: workbook.Text, Width: 24},
		{Header: "Exclude users", Kind: workbook.Int},
		{Header: "Created", Kind: workbook.Time},
		{Header: "Modified", Kind: workbook.Time},
	}, func(p graphdata.Policy) []any {
		grant := ""
		if p.GrantControls != nil {
			grant = strings.Join(p.GrantControls.BuiltInControls, ", ")
		}
		return []any{p.DisplayName, p.StateText(), grant, strings.Join(p.Conditions.Users.IncludeUsers, ", "), len(p.Conditions.Users.ExcludeUsers),
			when(p.Created.T), when(p.Modified.T)}
	}),
	sheet("appcredentials", "App credentials", []workbook.Column{
		{Header: "Application", Kind: workbook.Text, Width: 32},
		{Header: "Object", Kind: workbook.Text, Width: 16},
		{Header: "App ID", Kind: workbook.Text, Width: 38},
		{Header: "Credential", Kind: workbook.Text, Width: 12},
		{Header: "Name", Kind: workbook.Text, Width: 24},
		{Header: "Starts", Kind: workbook.Time},
		{Header: "Expires", Kind: workbook.Time},
		{Header: "Days to expiry", Kind: workbook.Int},
		{Header: "Expired", Kind: workbook.Bool, Flag: true},
		{Header: "Expires within 30 days", Kind: workbook.Bool, Flag: true},
		{Header: "Key ID", Kind: workbook.Text, Width: 38},
	}, func(c graphdata.AppCredential) []any {
		var days any
		if !c.End.IsZero() {
			days = c.DaysToExpiry
		}
		return []any{c.DisplayName, c.ObjectType, c.AppID, c.CredentialType, c.Name, when(c.Start), when(c.End), days, c.Expired, c.ExpiringSoon, c.KeyID}
	}),
	sheet("securescore", "Secure score", []workbook.Column{
		{Header: "Date", Kind: workbook.Time},
		{Header: "Score", Kind: workbook.Float},
		{Header: "Max score", Kind: workbook.Float},
		{Header: "Score %", Kind: workbook.Percent},
		{Header: "Licensed users", Kind: workbook.Int},
		{Header: "Active users", Kind: workbook.Int},
	}, func(s graphdata.SecureScore) []any {
		return []any{when(s.Created.T), s.CurrentScore, s.MaxScore, s.Percent(), s.LicensedUsers, s.ActiveUsers}
	}),
}

var summaryColumns = []workbook.Column{
	{Header: "Tenant", Kind: workbook.Text, Width: 28},
	{Header: "Tenant ID", Kind: workbook.Text, Width: 38},
	{Header: "Status", Kind: workbook.Text, Width: 10},
	{Header: "Users", Kind: workbook.Int},
	{Header: "Enabled users", Kind: workbook.Int},
	{Header: "Guests", Kind: workbook.Int},
	{Header: "Inactive users", Kind: workbook.Int},
	{Header: "MFA coverage", Kind: workbook.Percent},
	{Header: "Admins without MFA", Kind: workbook.Int},
	{Header: "Role assignments", Kind: workbook.Int},
	{Header: "Unused licences", Kind: workbook.Int},
	{Header: "Expired credentials", Kind: workbook.Int},
	{Header: "Credentials expiring in 30 days", Kind: workbook.Int},
	{Header: "Secure score", Kind: workbook.Percent},
	{Header: "Graph requests", Kind: workbook.Int},
	{Header: "Throttled", Kind: workbook.Int},
	{Header: "Duration (s)", Kind: workbook.Float},
	{Header: "Failed", Kind: workbook.Bool, Flag: true},
	{Header: "Error", Kind: workbook.Text, Width: 100},
}

var runStatusColumns = []workbook.Column{
	{Header: "Tenant", Kind: workbook.Text, Width: 28},
	{Header: "Tenant ID", Kind: workbook.Text, Width: 38},
	{Header: "Section", Kind: workbook.Text, Width: 18},
	{Header: "Status", Kind: workbook.Text, Width: 14},
	{Header: "Rows", Kind: workbook.Int},
	{Header: "Warnings", Kind: workbook.Int},
	{Header: "Graph requests", Kind: workbook.Int},
	{Header: "Throttled", Kind: workbook.Int},
	{Header: "Duration (s)", Kind: workbook.Float},
	{Header: "Reason", Kind: workbook.Text, Width: 100},
}

// writeWorkbook writes the report of results, reading rows from the spools.
// Only the enabled sections get a sheet.
func writeWorkbook(w io.Writer, results []tenantRun, enabled []string) error {
	sheets := []workbook.Sheet{{
		Name: "Summary", Columns: summaryColumns, Rows: summaryRows(results),
		Chart: &workbook.Chart{Title: "MFA coverage and secure score", Category: "Tenant", Series: []string{"MFA coverage", "Secure score"}, Percent: true},
	}}
	for _, d := range sheetDefs {
		if !slices.Contains(enabled, d.section) {
			continue
		}
		sheets = append(sheets, workbook.Sheet{Name: d.name, Columns: d.columns, Rows: sectionRows(results, d)})
	}
	sheets = append(sheets, workbook.Sheet{Name: "Run status", Columns: runStatusColumns, Rows: runStatusRows(results)})
	return workbook.Write(w, sheets...)
}

// sectionRows are the rows of d, tenant after tenant in report order.
func sectionRows(results []tenantRun, d sheetDef) iter.Seq2[[]any, error] {
	return func(yield func([]any, error) bool) {
		for _, t := range results {
			path := t.spools[d.section]
			if path == "" {
				continue
			}
			for row, err := range d.rows(t.DisplayName, path) {
				if !yield(row, err) || err != nil {
					return
				}
			}
		}
	}
}

func summaryRows(results []tenantRun) iter.Seq2[[]any, error] {
	return func(yield func([]any, error) bool) {
		for _, t := range results {
			// A figure whose section was not read is unknown: a blank cell,
			// never a zero.
			ok := func(section string, v any) any {
				if s, _ := t.Section(section); s.Status == graphdata.SectionOK {
					return v
				}
				return nil
			}
			var mfa, score any
			if t.MFAMembers > 0 {
				mfa = ok("mfa", float64(t.MFARegistered)/float64(t.MFAMembers))
			}
			if t.SecureScore != nil {
				score = ok("securescore", t.SecureScore.Percent())
			}
			row := []any{t.DisplayName, t.TenantID, string(t.Status),
				ok("users", t.Users), ok("users", t.EnabledUsers), ok("users", t.Guests), ok("signin", t.InactiveUsers),
				mfa, ok("mfa", t.AdminsWithoutMFA), ok("roles", t.RoleAssignments), ok("licences", t.UnusedLicences),
				ok("appcredentials", t.ExpiredCredentials), ok("appcredentials", t.ExpiringCredentials), score,
				t.Requests, t.Throttled, t.Duration.Seconds(), t.Status == StatusFailed, t.Error}
			if !yield(row, nil) {
				return
			}
		}
	}
}

// runStatusRows has a row per tenant and section, or one row for a tenant
// that could not be reached at all, so no gap goes unexplained.
func runStatusRows(results []tenantRun) iter.Seq2[[]any, error] {
	return func(yield func([]any, error) bool) {
		for _, t := range results {
			if len(t.Sections) == 0 {
				if !yield([]any{t.DisplayName, t.TenantID, "(all)", string(t.Status), nil, nil, t.Requests, t.Throttled, t.Duration.Seconds(), t.Error}, nil) {
					return
				}
				continue
			}
			for _, s := range t.Sections {
				if !yield([]any{t.DisplayName, t.TenantID, s.Section, string(s.Status), s.Rows, s.Warnings, s.Requests, s.Throttled, s.Duration.Seconds(), s.Reason}, nil) {
					return
				}
			}
		}
	}
}
