package main

import (
	"bytes"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/tenantreport/tenantreport/internal/settings"
)

const (
	testTenant    = "11111111-1111-1111-1111-111111111111"
	testBridgeApp = "33333333-3333-3333-3333-333333333333"
)

// TestConsentURL: the URL names the tenant, the bridge app and the
// redirect the bridge app registers, on the cloud's authority.
func TestConsentURL(t *testing.T) {
	tests := []struct {
		cloud, authority, redirect string
	}{
		{"", "https://login.microsoftonline.com/", "https://portal.azure.com/"},
		{"usgov", "https://login.microsoftonline.us/", "https://portal.azure.us/"},
		{"china", "https://login.chinacloudapi.cn/", "https://portal.azure.cn/"},
	}
	for _, tt := range tests {
		env := map[string]string{settings.KeyBridgeApp: testBridgeApp, settings.KeyCloud: tt.cloud}
		stdout, _, err := callDispatch(t, envOf(env), "consent-url", "--tenant", strings.ToUpper(testTenant))
		if err != nil {
			t.Fatalf("consent-url (cloud %q) = %v", tt.cloud, err)
		}
		u, err := url.Parse(strings.TrimSpace(stdout))
		if err != nil {
			t.Fatalf("consent-url printed %q: %v", stdout, err)
		}
		q := u.Query()
		if got := u.Scheme + "://" + u.Host + "/"; got != tt.authority || u.Path != "/"+testTenant+"/adminconsent" ||
			q.Get("client_id") != testBridgeApp || q.Get("redirect_uri") != tt.redirect {
			t.Errorf("consent-url (cloud %q) = %s, want %s%s/adminconsent?client_id=%s&redirect_uri=%s",
				tt.cloud, u, tt.authority, testTenant, testBridgeApp, tt.redirect)
		}
	}
}

// TestConsentURLBridgeApp: a missing BRIDGE_APP_CLIENT_ID is reported as
// missing, not as an invalid empty value.
func TestConsentURLBridgeApp(t *testing.T) {
	tests := []struct {
		value string
		is    error
		not   string
	}{
		{"", settings.ErrMissing, "got"},
		{"  ", settings.ErrMissing, "got"},
		{"tenantreport", settings.ErrInvalid, "missing"},
	}
	for _, tt := range tests {
		_, _, err := callDispatch(t, envOf(map[string]string{settings.KeyBridgeApp: tt.value}), "consent-url", "--tenant", testTenant)
		var fe *settings.FieldError
		if !errors.As(err, &fe) || fe.Field != settings.KeyBridgeApp || !errors.Is(err, tt.is) || strings.Contains(err.Error(), tt.not) {
			t.Errorf("consent-url with %s=%q = %v, want a FieldError wrapping %v without %q", settings.KeyBridgeApp, tt.value, err, tt.is, tt.not)
		}
	}
}

// TestDoctorManagedIdentityFix: outside Azure (no IDENTITY_ENDPOINT) the
// advice is where to run doctor, not which identity to name.
func TestDoctorManagedIdentityFix(t *testing.T) {
	miErr := errors.New("tenantauth: managed identity token: no response")
	tests := []struct {
		endpoint  string
		want, not string
	}{
		{"", "handler emulate", settings.KeyMIClientID},
		{"http://127.0.0.1:41741/msi/token", settings.KeyMIClientID, "handler emulate"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		printDoctor(&out, miErr, managedIdentityFix(tt.endpoint), nil)
		if text := out.String(); !strings.Contains(text, "managed identity: FAILED") || !strings.Contains(text, tt.want) || strings.Contains(text, tt.not) {
			t.Errorf("doctor with IDENTITY_ENDPOINT=%q printed %q, want the advice to name %q and not %q", tt.endpoint, text, tt.want, tt.not)
		}
	}
}
