package graphdata

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/tenantreport/tenantreport/internal/section"
)

// Permission is a Microsoft Graph application permission (an app role of
// the Microsoft Graph service principal).
type Permission struct {
	Name string
	// ID is the app role id, what admin consent and Bicep grant.
	ID string
}

// permissions are the Graph application permissions the report can need,
// with their app role ids from the Microsoft Graph permissions reference.
var permissions = map[string]Permission{
	"Organization.Read.All":         {"Organization.Read.All", "498476ce-e0fe-48b0-b801-37ba7e2685c6"},
	"Domain.Read.All":               {"Domain.Read.All", "dbb9058a-0e50-45d7-ae91-66909b5d4664"},
	"User.Read.All":                 {"User.Read.All", "df021288-bdef-4463-88db-98f22de89214"},
	"AuditLog.Read.All":             {"AuditLog.Read.All", "b0afded3-3588-46d8-8b3d-9842eff778da"},
	"LicenseAssignment.Read.All":    {"LicenseAssignment.Read.All", "e2f98668-2877-4f38-a2f4-8202e0717aa1"},
	"RoleManagement.Read.Directory": {"RoleManagement.Read.Directory", "483bed4a-2ad3-4361-a73b-c83ccdbdc53c"},
	"Device.Read.All":               {"Device.Read.All", "7438b122-aefc-4978-80ed-43db9fcc7715"},
	"Policy.Read.All":               {"Policy.Read.All", "246dd0d5-5bd0-4def-940b-0421030a5b68"},
	"Application.Read.All":          {"Application.Read.All", "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30"},
	"SecurityEvents.Read.All":       {"SecurityEvents.Read.All", "bf394140-e372-4bf9-a898-299cfc7564e5"},
	"Directory.Read.All":            {"Directory.Read.All", "7ab1d382-f21e-4acd-a863-ba3e13f7da61"},
}

// higher lists, per least-privileged permission, the broader ones Graph
// also accepts for the same reads (the "higher privileged permissions" of
// each API's documentation). A ReadWrite variant always counts too.
var higher = map[string][]string{
	"Organization.Read.All":         {"Directory.Read.All"},
	"Domain.Read.All":               {"Directory.Read.All"},
	"User.Read.All":                 {"Directory.Read.All"},
	"LicenseAssignment.Read.All":    {"Organization.Read.All", "Directory.Read.All"},
	"RoleManagement.Read.Directory": {"Directory.Read.All", "RoleManagement.Read.All"},
	"Device.Read.All":               {"Directory.Read.All"},
	"Application.Read.All":          {"Directory.Read.All"},
}

// PermissionByName returns the permission called name.
func PermissionByName(name string) (Permission, bool) {
	p, ok := permissions[name]
	return p, ok
}

// Granted reports whether roles (a Graph token's roles claim) allow what
// perm allows.
func Granted(roles []string, perm string) bool {
	if slices.Contains(roles, perm) || slices.Contains(roles, strings.Replace(perm, ".Read.", ".ReadWrite.", 1)) {
		return true
	}
	for _, h := range higher[perm] {
		if slices.Contains(roles, h) || slices.Contains(roles, strings.Replace(h, ".Read.", ".ReadWrite.", 1)) {
			return true
		}
	}
	return false
}

// Missing returns the permissions of sec that roles lack.
func Missing(sec section.Section, roles []string) []string {
	var out []string
	for _, p := range sec.Permissions {
		if !Granted(roles, p) {
			out = append(out, p)
		}
	}
	return out
}

// LeastPrivilege returns the permissions the named sections need, each
// once, in a stable order.
func LeastPrivilege(names []string) []Permission {
	var out []Permission
	for _, n := range names {
		sec, _ := section.Lookup(n)
		for _, p := range sec.Permissions {
			if !slices.ContainsFunc(out, func(q Permission) bool { return q.Name == p }) {
				out = append(out, permissions[p])
			}
		}
	}
	return out
}

// errNotJWT means the access token is not a JWT we can read roles from.
var errNotJWT = errors.New("graphdata: access token is not a JWT")

// tokenRoles reads the roles claim of an access token. It does not verify
// the signature: the token came from Entra over TLS a moment ago, and Graph,
// not us, is the party that relies on it. The token itself goes nowhere.
func tokenRoles(token string) ([]string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errNotJWT
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, errNotJWT
	}
	var claims struct {
		Roles []string `json:"roles"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, errNotJWT
	}
	return claims.Roles, nil
}
