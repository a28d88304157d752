package graphdata

import (
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tenantreport/tenantreport/internal/section"
)

func TestGranted(t *testing.T) {
	tests := []struct {
		roles []string
		perm  string
		want  bool
	}{
		{[]string{"User.Read.All"}, "User.Read.All", true},
		{[]string{"User.ReadWrite.All"}, "User.Read.All", true},
		{[]string{"Directory.Read.All"}, "User.Read.All", true},
		{[]string{"Directory.ReadWrite.All"}, "Device.Read.All", true},
		{[]string{"Organization.Read.All"}, "LicenseAssignment.Read.All", true},
		{[]string{"Organization.Read.All"}, "User.Read.All", false},
		{[]string{"Directory.Read.All"}, "Policy.Read.All", false},
		{nil, "Organization.Read.All", false},
	}
	for _, tt := range tests {
		if got := Granted(tt.roles, tt.perm); got != tt.want {
			t.Errorf("Granted(%q, %q) = %v, want %v", tt.roles, tt.perm, got, tt.want)
		}
	}
}

func TestEverySectionPermissionIsKnown(t *testing.T) {
	for _, s := range section.All() {
		if len(s.Permissions) == 0 {
			t.Errorf("section %s needs no permission", s.Name)
		}
		for _, p := range s.Permissions {
			if perm, ok := permissions[p]; !ok || len(perm.ID) != 36 {
				t.Errorf("section %s needs %s, which has no app role id", s.Name, p)
			}
		}
	}
}

// TestEverySectionHasACollector: a registered section that no collector
// reads would be a silent gap in every report.
func TestEverySectionHasACollector(t *testing.T) {
	for _, s := range section.All() {
		if _, ok := collectors[s.Name]; !ok && !slices.Contains(usersFamily, s.Name) {
			t.Errorf("section %s has no collector", s.Name)
		}
	}
}

func TestTokenRoles(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	tok := enc([]byte(`{"alg":"ES256"}`)) + "." + enc([]byte(`{"roles":["User.Read.All","Organization.Read.All"]}`)) + ".sig"
	roles, err := tokenRoles(tok)
	if err != nil || strings.Join(roles, ",") != "User.Read.All,Organization.Read.All" {
		t.Errorf("tokenRoles = %q, %v", roles, err)
	}
	for _, bad := range []string{"", "opaque-token", "a.!!!.c", "a." + enc([]byte("[1]")) + ".c"} {
		if _, err := tokenRoles(bad); !errors.Is(err, errNotJWT) {
			t.Errorf("tokenRoles(%q) = %v, want errNotJWT", bad, err)
		}
	}
}

func TestGraphErrorExplain(t *testing.T) {
	users, _ := section.Lookup("users")
	tests := []struct {
		err  GraphError
		want string
	}{
		{GraphError{Op: "users", Status: 403, Code: "Authorization_RequestDenied", RequestID: "r1", ClientRequestID: "c1"},
			"grant User.Read.All to the bridge app"},
		{GraphError{Op: "users", Status: 401, Code: "InvalidAuthenticationToken"}, "REPORT_CLOUD"},
		{GraphError{Op: "users", Status: 503, Code: "serviceNotAvailable", Msg: "try later"}, "HTTP 503 serviceNotAvailable: try later"},
	}
	for _, tt := range tests {
		if got := tt.err.Explain(users); !strings.Contains(got, tt.want) {
			t.Errorf("Explain(%+v) = %q, want it to contain %q", tt.err, got, tt.want)
		}
	}
	if got := (&GraphError{RequestID: "r1", ClientRequestID: "c1"}).Explain(users); !strings.Contains(got, "request id r1, client request id c1") {
		t.Errorf("Explain = %q, want the request ids for a support case", got)
	}
	premium := &GraphError{Status: 403, Code: "Authentication_RequestFromNonPremiumTenantOrB2CTenant"}
	if !errors.Is(premium, errNotPremium) {
		t.Errorf("non-premium 403 does not match errNotPremium")
	}
}
