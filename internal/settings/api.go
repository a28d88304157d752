package settings

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Settings of the Entra-authenticated API, through which callers in other
// tenants read their own tenants' reports.
const (
	KeyAPITenant   = "REPORT_API_TENANT_ID"
	KeyAPIClientID = "REPORT_API_CLIENT_ID"
	KeyAPIAppIDURI = "REPORT_API_APP_ID_URI"
	KeyAPICallers  = "REPORT_API_CALLERS"
)

// API is the Entra-authenticated API's settings; its zero value turns the
// API off.
type API struct {
	// TenantID is the home tenant, where the API app is registered and
	// which issues the tokens callers present.
	TenantID string
	// ClientID is the API app's client id; AppIDURI its application ID
	// URI. A token's aud is one of them.
	ClientID string
	AppIDURI string
	// Callers maps a caller — its client app id (the token's appid or azp)
	// or its service principal's object id in the home tenant (oid), lower
	// case — to the ids of the configured tenants it may read.
	Callers map[string][]string
}

// Enabled reports whether the API is configured.
func (a API) Enabled() bool { return a.ClientID != "" }

// loadAPI reads the API's settings, reporting each problem to fail;
// tenants are the configured ones, which every mapped tenant must be.
func loadAPI(getenv func(string) string, tenants []Tenant, fail func(field, value string, err error)) API {
	a := API{
		TenantID: strings.ToLower(strings.TrimSpace(getenv(KeyAPITenant))),
		ClientID: strings.ToLower(strings.TrimSpace(getenv(KeyAPIClientID))),
		AppIDURI: strings.TrimSpace(getenv(KeyAPIAppIDURI)),
	}
	callers := strings.TrimSpace(getenv(KeyAPICallers))
	if a.ClientID == "" {
		// Every other API setting needs the app: a value without it is a
		// half-done configuration, not one to ignore.
		for _, k := range []string{KeyAPITenant, KeyAPIAppIDURI, KeyAPICallers} {
			if v := getenv(k); strings.TrimSpace(v) != "" {
				fail(k, v, fmt.Errorf("%w: set %s too, or remove this setting", ErrInvalid, KeyAPIClientID))
			}
		}
		return API{}
	}
	if !IsGUID(a.ClientID) {
		fail(KeyAPIClientID, getenv(KeyAPIClientID), fmt.Errorf("%w: not a GUID (the API app's client id)", ErrInvalid))
	}
	switch {
	case a.TenantID == "":
		fail(KeyAPITenant, "", fmt.Errorf("%w: the home tenant id, which issues the API's tokens", ErrMissing))
	case !IsGUID(a.TenantID):
		fail(KeyAPITenant, getenv(KeyAPITenant), fmt.Errorf("%w: not a GUID (the home tenant id)", ErrInvalid))
	}
	if a.AppIDURI == "" {
		a.AppIDURI = "api://" + a.ClientID
	} else if !validAppIDURI(a.AppIDURI) {
		fail(KeyAPIAppIDURI, a.AppIDURI, fmt.Errorf("%w: want the API app's application ID URI, such as api://%s", ErrInvalid, a.ClientID))
	}
	if callers != "" {
		var m map[string][]string
		dec := json.NewDecoder(strings.NewReader(callers))
		err := dec.Decode(&m)
		if err == nil {
			// Not dec.More: it reports false for a stray "}".
			if _, end := dec.Token(); end != io.EOF {
				err = errors.New("data after the object")
			}
		}
		if err != nil {
			fail(KeyAPICallers, excerpt(callers, -1), fmt.Errorf(`%w: want {"<caller app id or service principal object id>":["<tenant id>",…],…}`, ErrInvalid))
			return a
		}
		a.Callers = make(map[string][]string, len(m))
		for caller, ids := range m {
			key := strings.ToLower(strings.TrimSpace(caller))
			if !IsGUID(key) {
				fail(KeyAPICallers, caller, fmt.Errorf("%w: a caller is its client app id or its service principal's object id, a GUID", ErrInvalid))
				continue
			}
			for i, id := range ids {
				id = strings.ToLower(strings.TrimSpace(id))
				// Checked only against tenants that loaded: a broken REPORT_TENANTS
				// is reported once, not again for every mapping.
				if len(tenants) > 0 && !slices.ContainsFunc(tenants, func(t Tenant) bool { return t.ID == id }) {
					fail(fmt.Sprintf("%s[%s][%d]", KeyAPICallers, caller, i), ids[i], fmt.Errorf("%w: not a tenant of %s", ErrInvalid, KeyTenants))
					continue
				}
				if !slices.Contains(a.Callers[key], id) {
					a.Callers[key] = append(a.Callers[key], id)
				}
			}
		}
	}
	return a
}

// validAppIDURI accepts the forms Entra allows for an application ID URI
// that matter here: api://…, or an https:// URI.
func validAppIDURI(v string) bool {
	rest, ok := strings.CutPrefix(v, "api://")
	if !ok {
		rest, ok = strings.CutPrefix(v, "https://")
	}
	// A scope (…/.default) is not the URI its resource is named by.
	return ok && rest != "" && !strings.ContainsAny(v, " \t\r\n\"*?#") && !strings.HasSuffix(v, "/") &&
		!strings.HasSuffix(v, "/.default")
}
