package settings

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

const (
	tenantA = "11111111-1111-1111-1111-111111111111"
	tenantB = "22222222-2222-2222-2222-222222222222"
	appID   = "33333333-3333-3333-3333-333333333333"
	miID    = "44444444-4444-4444-4444-444444444444"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func valid() map[string]string {
	return map[string]string{
		KeyTenants:    `[{"tenantId":"` + tenantA + `","displayName":"Contoso"},{"tenantId":"` + tenantB + `"}]`,
		KeyBridgeApp:  appID,
		KeyMIClientID: miID,
		KeyWebJobs:    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=c2VjcmV0;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;",
	}
}

func TestLoadDefaults(t *testing.T) {
	s, err := Load(env(valid()))
	if err != nil {
		t.Fatalf("Load(valid) = %v", err)
	}
	if len(s.Tenants) != 2 || s.Tenants[0].Name() != "Contoso" || s.Tenants[1].Name() != tenantB {
		t.Errorf("Tenants = %+v, want Contoso and an unnamed tenant shown by id", s.Tenants)
	}
	if s.Cloud.GraphEndpoint != "https://graph.microsoft.com" || s.Cloud.GraphScope != "https://graph.microsoft.com/.default" ||
		s.Cloud.AuthorityHost != "https://login.microsoftonline.com/" || s.Cloud.ExchangeAudience != "api://AzureADTokenExchange" {
		t.Errorf("Cloud = %+v, want the public cloud", s.Cloud)
	}
	if s.Container != DefaultContainer || s.Concurrency != DefaultConcurrency || s.Thresholds != DefaultThresholds {
		t.Errorf("defaults = %q %d %+v", s.Container, s.Concurrency, s.Thresholds)
	}
	if !s.TenantWorkbooks {
		t.Errorf("TenantWorkbooks = false, want each tenant's own workbook by default")
	}
	if s.Storage.Setting != KeyWebJobs || s.Storage.ConnectionString == "" {
		t.Errorf("Storage = %+v, want AzureWebJobsStorage's connection string", s.Storage)
	}
}

func TestLoadOverrides(t *testing.T) {
	m := valid()
	m[KeyCloud] = "usgov"
	m[KeyGraphEndpoint] = "https://127.0.0.1:8443/"
	m[KeyAuthorityHost] = "https://127.0.0.1:8443"
	m[KeyConcurrency] = "3"
	m[KeyContainer] = "tenant-reports"
	m[KeySchedule] = "0 30 5 * * 1-5"
	m[KeyStorage+"__blobServiceUri"] = "https://acct.blob.core.windows.net/"
	m[KeyStorage+"__clientId"] = miID
	m[KeyWasteSeats], m[KeyWastePercent], m[KeyMFAPercent], m[KeyScorePercent] = "10", "25%", "95", "0"
	m[KeyTenantWorkbooks] = "Off"
	s, err := Load(env(m))
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	if s.Cloud.GraphEndpoint != "https://127.0.0.1:8443" || s.Cloud.AuthorityHost != "https://127.0.0.1:8443/" {
		t.Errorf("endpoints = %q %q, want the overrides", s.Cloud.GraphEndpoint, s.Cloud.AuthorityHost)
	}
	// The token is still for the cloud's Graph, wherever requests are sent.
	if s.Cloud.GraphScope != "https://graph.microsoft.us/.default" || s.Cloud.ExchangeAudience != "api://AzureADTokenExchangeUSGov" {
		t.Errorf("Cloud = %+v, want US Government scope and audience", s.Cloud)
	}
	if s.Concurrency != 3 || s.Container != "tenant-reports" {
		t.Errorf("got %d %q", s.Concurrency, s.Container)
	}
	if s.TenantWorkbooks {
		t.Errorf("TenantWorkbooks with %s=Off = true, want false", KeyTenantWorkbooks)
	}
	if th := (Thresholds{WasteMinSeats: 10, WasteMinPercent: 25, MFAMinPercent: 95, ScoreMinPercent: 0}); s.Thresholds != th {
		t.Errorf("Thresholds = %+v, want %+v", s.Thresholds, th)
	}
	want := Storage{Setting: KeyStorage, ServiceURL: "https://acct.blob.core.windows.net/", ClientID: miID}
	if s.Storage != want {
		t.Errorf("Storage = %+v, want %+v (REPORT_STORAGE wins over AzureWebJobsStorage)", s.Storage, want)
	}
}

func TestLoadSections(t *testing.T) {
	m := valid()
	m[KeySections] = "users, TENANT"
	s, err := Load(env(m))
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	if strings.Join(s.Sections, ",") != "tenant,users" {
		t.Errorf("Sections = %q, want tenant,users in report order", s.Sections)
	}
	m[KeySections] = "users,nope"
	_, err = Load(env(m))
	if err == nil || !strings.Contains(err.Error(), "valid sections are tenant, users, signin, guests, licences") {
		t.Errorf("Load(unknown section) = %v, want the valid names listed", err)
	}
}

func TestLoadTenantCloud(t *testing.T) {
	m := valid()
	m[KeyCloud] = "usgov"
	m[KeyTenants] = `[{"tenantId":"` + tenantA + `","cloud":"USGov"}]`
	s, err := Load(env(m))
	if err != nil || s.Tenants[0].Cloud != "usgov" {
		t.Errorf("Load(tenant in the identity's cloud) = %+v, %v", s.Tenants, err)
	}
}

func TestLoadStorageAccountName(t *testing.T) {
	m := valid()
	delete(m, KeyWebJobs)
	m[KeyWebJobs+"__accountName"] = "reportsacct"
	s, err := Load(env(m))
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	if s.Storage.ServiceURL != "https://reportsacct.blob.core.windows.net/" {
		t.Errorf("ServiceURL = %q", s.Storage.ServiceURL)
	}
}

// TestLoadErrors checks that every problem is reported, naming the setting and
// the offending value.
func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		set   map[string]string
		field string
		value string
		is    error
	}{
		{"tenants missing", map[string]string{KeyTenants: ""}, KeyTenants, "", ErrMissing},
		{"tenants not json", map[string]string{KeyTenants: "contoso"}, KeyTenants, "contoso", ErrInvalid},
		{"tenants empty", map[string]string{KeyTenants: "[]"}, KeyTenants, "[]", ErrInvalid},
		{"tenant unknown key", map[string]string{KeyTenants: `[{"tenantId":"` + tenantA + `","name":"x"}]`}, KeyTenants, `[{"tenantId":"` + tenantA + `","name":"x"}]`, ErrInvalid},
		{"tenant bad guid", map[string]string{KeyTenants: `[{"tenantId":"` + tenantA + `"},{"tenantId":"contoso.com"}]`}, KeyTenants + "[1].tenantId", "contoso.com", ErrInvalid},
		{"tenant id missing", map[string]string{KeyTenants: `[{"displayName":"x"}]`}, KeyTenants + "[0].tenantId", "", ErrMissing},
		{"tenant duplicate", map[string]string{KeyTenants: `[{"tenantId":"` + tenantA + `"},{"tenantId":"` + strings.ToUpper(tenantA) + `"}]`}, KeyTenants + "[1].tenantId", strings.ToUpper(tenantA), ErrInvalid},
		{"bridge app missing", map[string]string{KeyBridgeApp: ""}, KeyBridgeApp, "", ErrMissing},
		{"bridge app bad", map[string]string{KeyBridgeApp: "tenantreport"}, KeyBridgeApp, "tenantreport", ErrInvalid},
		{"mi missing", map[string]string{KeyMIClientID: ""}, KeyMIClientID, "", ErrMissing},
		{"mi bad", map[string]string{KeyMIClientID: "12"}, KeyMIClientID, "12", ErrInvalid},
		{"cloud unknown", map[string]string{KeyCloud: "mars"}, KeyCloud, "mars", ErrInvalid},
		{"authority http", map[string]string{KeyAuthorityHost: "http://127.0.0.1:1/"}, KeyAuthorityHost, "http://127.0.0.1:1/", ErrInvalid},
		{"graph relative", map[string]string{KeyGraphEndpoint: "graph"}, KeyGraphEndpoint, "graph", ErrInvalid},
		{"schedule fields", map[string]string{KeySchedule: "0 6 * * *"}, KeySchedule, "0 6 * * *", ErrInvalid},
		{"container", map[string]string{KeyContainer: "Reports"}, KeyContainer, "Reports", ErrInvalid},
		{"concurrency zero", map[string]string{KeyConcurrency: "0"}, KeyConcurrency, "0", ErrInvalid},
		{"concurrency word", map[string]string{KeyConcurrency: "many"}, KeyConcurrency, "many", ErrInvalid},
		{"concurrency over the cap", map[string]string{KeyConcurrency: "1025"}, KeyConcurrency, "1025", ErrInvalid},
		{"pacing neither on nor off", map[string]string{KeyPacing: "sometimes"}, KeyPacing, "sometimes", ErrInvalid},
		{"time scale zero", map[string]string{KeyTimeScale: "0"}, KeyTimeScale, "0", ErrInvalid},
		{"time scale above 1", map[string]string{KeyTimeScale: "2"}, KeyTimeScale, "2", ErrInvalid},
		{"time scale word", map[string]string{KeyTimeScale: "fast"}, KeyTimeScale, "fast", ErrInvalid},
		{"tenant timeout without a unit", map[string]string{KeyTenantTimeout: "20"}, KeyTenantTimeout, "20", ErrInvalid},
		{"tenant timeout negative", map[string]string{KeyTenantTimeout: "-5m"}, KeyTenantTimeout, "-5m", ErrInvalid},
		{"waste seats zero", map[string]string{KeyWasteSeats: "0"}, KeyWasteSeats, "0", ErrInvalid},
		{"waste percent over", map[string]string{KeyWastePercent: "150%"}, KeyWastePercent, "150%", ErrInvalid},
		{"mfa percent word", map[string]string{KeyMFAPercent: "most"}, KeyMFAPercent, "most", ErrInvalid},
		{"score percent fraction", map[string]string{KeyScorePercent: "0.5"}, KeyScorePercent, "0.5", ErrInvalid},
		{"tenant cloud unknown", map[string]string{KeyTenants: `[{"tenantId":"` + tenantA + `","cloud":"mars"}]`}, KeyTenants + "[0].cloud", "mars", ErrInvalid},
		{"tenant in another cloud", map[string]string{KeyTenants: `[{"tenantId":"` + tenantA + `","cloud":"usgov"}]`}, KeyTenants + "[0].cloud", "usgov", ErrInvalid},
		{"section unknown", map[string]string{KeySections: "users,mfa-status"}, KeySections, "users,mfa-status", ErrInvalid},
		{"sections empty", map[string]string{KeySections: " , "}, KeySections, ",", ErrInvalid},
		{"storage dev shortcut", map[string]string{KeyWebJobs: "UseDevelopmentStorage=true"}, KeyWebJobs, "UseDevelopmentStorage=true", ErrInvalid},
		{"storage garbage", map[string]string{KeyStorage: "AccountKey=c2VjcmV0"}, KeyStorage, "<connection string>", ErrInvalid},
		{"storage uri http", map[string]string{KeyStorage + "__blobServiceUri": "http://x/"}, KeyStorage + "__blobServiceUri", "http://x/", ErrInvalid},
		{"storage account", map[string]string{KeyStorage + "__accountName": "Bad_Name"}, KeyStorage + "__accountName", "Bad_Name", ErrInvalid},
		{"storage client id", map[string]string{KeyStorage + "__accountName": "acct", KeyStorage + "__clientId": "x"}, KeyStorage + "__clientId", "x", ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := valid()
			for k, v := range tt.set {
				m[k] = v
			}
			_, err := Load(env(m))
			if err == nil {
				t.Fatalf("Load = nil, want an error for %s", tt.field)
			}
			var found bool
			for _, e := range unjoin(err) {
				var fe *FieldError
				if errors.As(e, &fe) && fe.Field == tt.field && fe.Value == tt.value {
					found = true
					if !errors.Is(fe, tt.is) {
						t.Errorf("error %v does not wrap %v", fe, tt.is)
					}
					if !strings.Contains(fe.Error(), tt.field) || !strings.Contains(fe.Error(), tt.value) {
						t.Errorf("Error() = %q, want it to name %s and %q", fe.Error(), tt.field, tt.value)
					}
				}
			}
			if !found {
				t.Errorf("Load = %v, want a FieldError{%s, %q}", err, tt.field, tt.value)
			}
		})
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	_, err := Load(env(map[string]string{KeyBridgeApp: "x", KeyConcurrency: "-1"}))
	if got := len(unjoin(err)); got != 4 {
		t.Errorf("Load reported %d problems (%v), want 4: tenants, bridge app, managed identity, concurrency", got, err)
	}
}

// TestLoadManagedIdentityRequired: without MANAGED_IDENTITY_CLIENT_ID the
// handler would ask for the system-assigned identity, which no federated
// credential can trust; the error says so.
func TestLoadManagedIdentityRequired(t *testing.T) {
	m := valid()
	delete(m, KeyMIClientID)
	_, err := Load(env(m))
	if !errors.Is(err, ErrMissing) {
		t.Fatalf("Load(no %s) = %v, want ErrMissing", KeyMIClientID, err)
	}
	for _, want := range []string{KeyMIClientID, "user-assigned", "federated credential"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Load(no %s) = %q, want it to say %q", KeyMIClientID, err, want)
		}
	}
}

// TestLoadLongTenantsCut: a long invalid REPORT_TENANTS is not echoed
// whole; the error gives the JSON error's offset and the text around it.
func TestLoadLongTenantsCut(t *testing.T) {
	var b strings.Builder
	b.WriteString("[")
	for i := range 40 {
		fmt.Fprintf(&b, `{"tenantId":"%08d-1111-1111-1111-111111111111","displayName":"Tenant %d"},`, i, i)
	}
	at := b.Len()
	b.WriteString(`{"tenantId": oops}]`)
	m := valid()
	m[KeyTenants] = b.String()
	_, err := Load(env(m))
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != KeyTenants {
		t.Fatalf("Load(long bad %s) = %v, want a FieldError for it", KeyTenants, err)
	}
	msg := fe.Error()
	if len(msg) > 2*excerptLen+200 {
		t.Errorf("Error() is %d bytes, want the value cut: %q", len(msg), msg)
	}
	for _, want := range []string{"oops", "…", fmt.Sprintf("byte offset %d", at+len(`{"tenantId": o`))} {
		if !strings.Contains(msg, want) {
			t.Errorf("Error() = %q, want it to contain %q", msg, want)
		}
	}
}

func TestExcerpt(t *testing.T) {
	long := strings.Repeat("é", 3*excerptLen/2) // 2 bytes a rune
	tests := []struct {
		v      string
		offset int64
		want   string
	}{
		{"short", -1, "short"},
		{"short", 3, "short"},
		{long, -1, strings.Repeat("é", excerptLen/2) + "…"},
		{long, excerptLen, strings.Repeat("é", excerptLen/2) + "…"},
		{long, int64(len(long)), "…" + strings.Repeat("é", excerptLen/2)},
		{long, int64(len(long) / 2), "…" + strings.Repeat("é", excerptLen/2) + "…"},
		{long, int64(len(long)/2 + 1), "…" + strings.Repeat("é", excerptLen/2) + "…"}, // mid-rune
	}
	for _, tt := range tests {
		if got := excerpt(tt.v, tt.offset); got != tt.want {
			t.Errorf("excerpt(%d bytes, %d) = %q, want %q", len(tt.v), tt.offset, got, tt.want)
		}
	}
}

func TestScheduleErrorSaysGotOnce(t *testing.T) {
	m := valid()
	m[KeySchedule] = "0 6 * * *"
	_, err := Load(env(m))
	if err == nil || strings.Count(err.Error(), "got") != 1 || !strings.Contains(err.Error(), "5 fields") {
		t.Errorf("Load(%s with 5 fields) = %v, want one \"got\" and the field count", KeySchedule, err)
	}
}

func TestAllSectionsIsACopy(t *testing.T) {
	a := AllSections()
	if len(a) == 0 {
		t.Fatal("AllSections() is empty")
	}
	a[0] = "changed"
	if b := AllSections(); b[0] == "changed" {
		t.Errorf("AllSections() = %q after a caller changed its slice, want a fresh copy", b)
	}
	secs, err := LoadSections(env(nil))
	if err != nil || slices.Contains(secs, "changed") || len(secs) != len(a) {
		t.Errorf("LoadSections(unset) = %q, %v, want every section", secs, err)
	}
}

func TestConnectionStringNeverInError(t *testing.T) {
	m := valid()
	m[KeyWebJobs] = "AccountKey=SuperSecretKey=="
	_, err := Load(env(m))
	if err == nil || strings.Contains(err.Error(), "SuperSecretKey") {
		t.Errorf("Load = %v, want an error that does not repeat the account key", err)
	}
}

func FuzzParseTenants(f *testing.F) {
	f.Add(`[{"tenantId":"` + tenantA + `","displayName":"Contoso"}]`)
	f.Add(`[{"tenantId":"x"},{"tenantId":"x"}]`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, in string) {
		ts, err := ParseTenants(strings.NewReader(in))
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, tn := range ts {
			if !IsGUID(tn.ID) || seen[tn.ID] {
				t.Fatalf("ParseTenants(%q) accepted %q", in, tn.ID)
			}
			seen[tn.ID] = true
		}
	})
}
