package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"regexp"
	"slices"
	"strings"
)

// World declares everything the emulator serves: the home tenant with its managed identity, the bridge app and its
// federated identity credentials, the target tenants with their synthetic directories, and tenantreport's own API
// with the callers from other tenants that use it. A World is plain data; the
// emulator copies it in [New], so changing a World afterwards does not affect a running [Server].
type World struct {
	// HomeTenantID is the tenant that issues the managed identity's tokens.
	HomeTenantID string `json:"homeTenantId"`
	// ManagedIdentity is the user-assigned identity served by the managed-identity endpoint to requests that name it
	// (client_id, principal_id or object_id).
	ManagedIdentity ManagedIdentity `json:"managedIdentity"`
	// SystemAssignedIdentity is the Function App's system-assigned identity; nil (the default) means it has none.
	// As on App Service, the managed-identity endpoint serves it to requests that name no identity, and answers
	// them 400 when there is none. Entra accepts only user-assigned identities as federated credentials, so the
	// product never asks for it.
	SystemAssignedIdentity *ManagedIdentity `json:"systemAssignedIdentity,omitempty"`
	// BridgeApp is the multi-tenant app registration that trusts the managed identity.
	BridgeApp App `json:"bridgeApp"`
	// Tenants are the target tenants, in report order.
	Tenants []Tenant `json:"tenants"`
	// Generate declares many synthetic tenants compactly; [World.Expand] appends them to Tenants (see
	// [TenantGroup]). [LoadWorld] and [New] expand it, so a loaded or served world has only Tenants.
	Generate []TenantGroup `json:"generate,omitempty"`
	// Seed drives everything synthetic (user data, the signing key) that a tenant does not seed itself.
	Seed int64 `json:"seed"`
	// Epoch anchors every date that is relative to "now" (sign-ins, credential expiry, secure score history), as an
	// RFC 3339 date ("2026-01-01") or date-time. "" anchors them to the UTC day on which the Server first serves,
	// so that a report run today sees credentials expiring within 30 days; set it for bodies that are
	// byte-identical across days.
	Epoch string `json:"epoch,omitempty"`
	// TimeScale compresses latencies, slow responses, throttling windows and Retry-After values by one factor:
	// 0.01 replays a 20-minute run in 12 seconds with every ratio preserved. 0 means 1.
	TimeScale float64 `json:"timeScale,omitempty"`
	// Throttling adjusts Graph's budgets; nil applies [DefaultBudgets].
	Throttling *Throttling `json:"throttling,omitempty"`
	// Latency and Faults apply to every tenant's Graph responses unless the tenant sets its own.
	Latency *Latency `json:"latency,omitempty"`
	Faults  *Faults  `json:"faults,omitempty"`
	// API is tenantreport's own API, registered in the home tenant; nil means the world has none, and a token
	// request for it fails like one for any unknown resource (AADSTS500011).
	API *API `json:"api,omitempty"`
	// Callers are workloads in other tenants that call the API, each with its own managed identity and client app.
	Callers []Caller `json:"callers,omitempty"`

	// dir is where recorded tenants' folders resolve; set by [LoadWorldFile] and [OpenWorld]. nil means the
	// process's working directory.
	dir fs.FS
}

// ManagedIdentity is a managed identity: the Function App's in the home tenant, or a [Caller]'s in its own tenant.
type ManagedIdentity struct {
	ClientID string `json:"clientId"`
	// ObjectID is the identity's service principal (principal) id: the sub and oid of its tokens.
	ObjectID string `json:"objectId"`
}

// App is an app registration.
type App struct {
	ClientID string `json:"clientId"`
	// TenantID is the tenant where the app is registered; "" means the home tenant for the bridge app and the
	// caller's tenant for a [Caller]'s app. Entra refuses managed-identity assertions for an app registered outside
	// the issuing tenant (AADSTS700236).
	TenantID             string `json:"tenantId,omitempty"`
	FederatedCredentials []FIC  `json:"federatedCredentials"`
}

// FIC is a federated identity credential on [App]. Issuer and Subject match the assertion's iss and sub exactly
// (case-sensitively, as Entra does); Audiences must contain its aud.
type FIC struct {
	Name      string   `json:"name"`
	Issuer    string   `json:"issuer"`
	Subject   string   `json:"subject"`
	Audiences []string `json:"audiences"`
}

// Tenant is a target tenant: a synthetic directory generated from a seed, or a recorded one served from files.
type Tenant struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	// Domain is the initial domain, e.g. "contoso.onmicrosoft.com"; "" derives it from DisplayName.
	Domain string `json:"domain,omitempty"`
	// AppProvisioned reports whether the bridge app has a service principal here (admin consent given).
	// nil means true; false makes the token exchange fail with AADSTS700016.
	AppProvisioned *bool `json:"appProvisioned,omitempty"`
	// Grants are the Graph application permissions granted to the bridge app here. They become the roles claim of
	// the Graph token. nil grants every permission in [KnownPermissions]; an empty list grants none.
	Grants []string `json:"grants"`
	// Users is the number of synthetic users.
	Users int `json:"users"`
	// GuestRatio and DisabledRatio are fractions of Users, rounded to the nearest user.
	GuestRatio    float64 `json:"guestRatio,omitempty"`
	DisabledRatio float64 `json:"disabledRatio,omitempty"`
	// Seed seeds this tenant's data; 0 derives a seed from World.Seed and the tenant's index.
	Seed int64 `json:"seed,omitempty"`

	// Premium reports whether the tenant has Entra ID P1 or P2, which signInActivity and userRegistrationDetails
	// need. nil derives it from Licenses (a SKU with an AAD_PREMIUM service plan), or true without Licenses.
	Premium *bool `json:"premium,omitempty"`
	// Licenses are the subscribed SKUs; nil derives one paid SKU for the members (Microsoft 365 E3 when premium,
	// Business Standard otherwise) with a few unused seats.
	Licenses []License `json:"licenses,omitempty"`
	// Domains are verified custom domains besides the initial one.
	Domains []string `json:"domains,omitempty"`
	// Admins is the number of enabled members holding a directory role (one assignment each).
	Admins int `json:"admins,omitempty"`
	// MFARatio is the fraction of users registered for MFA (nil = 0.8); InactiveRatio the fraction without a
	// sign-in in the last 90 days, half of them never signed in (nil = 0.15).
	MFARatio      *float64 `json:"mfaRatio,omitempty"`
	InactiveRatio *float64 `json:"inactiveRatio,omitempty"`
	// Devices and ConditionalAccessPolicies are counts of synthetic objects.
	Devices                   int `json:"devices,omitempty"`
	ConditionalAccessPolicies int `json:"conditionalAccessPolicies,omitempty"`
	// Apps is the number of app registrations; each has a client secret and every third one also a certificate.
	// ExpiredCredentials of those credentials have expired and ExpiringCredentials expire within 30 days of the
	// epoch (never within 2 days of either boundary, so a clock on the same day classifies them the same way).
	Apps                int `json:"apps,omitempty"`
	ExpiredCredentials  int `json:"expiredCredentials,omitempty"`
	ExpiringCredentials int `json:"expiringCredentials,omitempty"`
	// SecureScore is the latest score; nil derives one from the seed.
	SecureScore *Score `json:"secureScore,omitempty"`

	// ServicePrincipalDisabled makes the bridge app's token exchange fail with AADSTS7000112;
	// BlockedByConditionalAccess with AADSTS53003 (a Conditional Access policy for workload identities that targets
	// the bridge app). Neither affects a [Caller]'s app.
	ServicePrincipalDisabled   bool `json:"servicePrincipalDisabled,omitempty"`
	BlockedByConditionalAccess bool `json:"blockedByConditionalAccess,omitempty"`
	// TokenOutage makes the tenant's token endpoint answer 503 temporarily_unavailable (AADSTS90033), as Entra
	// does in an outage, to every request.
	TokenOutage bool `json:"tokenOutage,omitempty"`

	// Recorded is a folder of Graph responses served instead of synthetic data (see the package doc). Relative
	// paths resolve against the world file's folder.
	Recorded string `json:"recorded,omitempty"`
	// Latency and Faults replace the world's for this tenant.
	Latency *Latency `json:"latency,omitempty"`
	Faults  *Faults  `json:"faults,omitempty"`
}

// License is a subscribed SKU: Sku is its part number (one of [KnownSKUs]), Enabled the prepaid seats and
// Consumed the assigned ones.
type License struct {
	Sku      string `json:"sku"`
	Enabled  int    `json:"enabled"`
	Consumed int    `json:"consumed"`
}

// Score is a Microsoft Secure Score.
type Score struct {
	Current float64 `json:"current"`
	Max     float64 `json:"max"`
}

// Counts are the totals Graph serves for a tenant's /users collection.
type Counts struct {
	Users        int
	EnabledUsers int
	Guests       int
}

// MaxUsers bounds Tenant.Users. Users are generated page by page, so the bound is about run time, not memory.
const MaxUsers = 10_000_000

// KnownPermissions returns the Graph application permissions the emulator understands, in the order a nil
// Tenant.Grants puts them into the roles claim.
func KnownPermissions() []string { return append([]string(nil), knownPermissions...) }

// acceptedPermissions are the permissions Tenant.Grants may name: the defaults and the broader ones Graph also
// accepts for the same reads.
var acceptedPermissions = append(slices.Clone(knownPermissions),
	"RoleManagement.Read.All",
	"Organization.ReadWrite.All", "Domain.ReadWrite.All", "User.ReadWrite.All", "Directory.ReadWrite.All",
	"LicenseAssignment.ReadWrite.All", "RoleManagement.ReadWrite.Directory", "Device.ReadWrite.All",
	"Policy.ReadWrite.ConditionalAccess", "Application.ReadWrite.All", "Application.ReadWrite.OwnedBy",
	"SecurityEvents.ReadWrite.All",
)

var knownPermissions = []string{
	"Organization.Read.All",
	"Domain.Read.All",
	"User.Read.All",
	"Directory.Read.All",
	"AuditLog.Read.All",
	"LicenseAssignment.Read.All",
	"RoleManagement.Read.Directory",
	"Device.Read.All",
	"Policy.Read.All",
	"Application.Read.All",
	"SecurityEvents.Read.All",
}

// Sentinel errors wrapped by [FieldError].
var (
	ErrMissing           = errors.New("missing")
	ErrNotGUID           = errors.New("not a GUID")
	ErrDuplicate         = errors.New("duplicate")
	ErrOutOfRange        = errors.New("out of range")
	ErrUnknownPermission = errors.New("unknown Graph application permission")
	ErrUnknownSKU        = errors.New("unknown SKU part number")
	ErrUnknownTenant     = errors.New("neither the home tenant nor a tenant of the world")
	ErrUnknownRole       = errors.New("not an app role of the api")
	ErrNotURI            = errors.New("not an absolute URI")
)

// FieldError reports an invalid World field. Field is a JSON path such as "tenants[1].id".
type FieldError struct {
	Field string
	Value string
	Err   error
}

func (e *FieldError) Error() string {
	if e.Value == "" {
		return "emulator: world: " + e.Field + ": " + e.Err.Error()
	}
	return fmt.Sprintf("emulator: world: %s %q: %s", e.Field, e.Value, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

// LoadWorld decodes a World from JSON, rejecting unknown fields and trailing data, expands its generated tenants
// ([World.Expand]) and validates it.
func LoadWorld(r io.Reader) (*World, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var w World
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("emulator: world: %w", err)
	}
	if dec.More() {
		return nil, errors.New("emulator: world: trailing data after the JSON object")
	}
	if err := w.Expand(); err != nil {
		return nil, err
	}
	if err := w.Validate(); err != nil {
		return nil, err
	}
	return &w, nil
}

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// guid checks that v is a GUID, and present if required.
func guid(field, v string, required bool) error {
	switch {
	case v == "" && required:
		return &FieldError{Field: field, Err: ErrMissing}
	case v != "" && !guidRE.MatchString(v):
		return &FieldError{Field: field, Value: v, Err: ErrNotGUID}
	}
	return nil
}

// Validate checks GUIDs, required fields, ranges, permission and app role names, the tenants callers name,
// duplicates, and the groups of Generate when it has not been expanded (expand it to check the tenants it generates
// too). It returns the first problem as a *FieldError.
func (w *World) Validate() error {
	checks := []error{
		guid("homeTenantId", w.HomeTenantID, true),
		guid("managedIdentity.clientId", w.ManagedIdentity.ClientID, true),
		guid("managedIdentity.objectId", w.ManagedIdentity.ObjectID, true),
		guid("bridgeApp.clientId", w.BridgeApp.ClientID, true),
		guid("bridgeApp.tenantId", w.BridgeApp.TenantID, false),
	}
	if sa := w.SystemAssignedIdentity; sa != nil {
		checks = append(checks,
			guid("systemAssignedIdentity.clientId", sa.ClientID, true),
			guid("systemAssignedIdentity.objectId", sa.ObjectID, true))
		switch {
		case strings.EqualFold(sa.ClientID, w.ManagedIdentity.ClientID):
			checks = append(checks, &FieldError{Field: "systemAssignedIdentity.clientId", Value: sa.ClientID, Err: ErrDuplicate})
		case strings.EqualFold(sa.ObjectID, w.ManagedIdentity.ObjectID):
			checks = append(checks, &FieldError{Field: "systemAssignedIdentity.objectId", Value: sa.ObjectID, Err: ErrDuplicate})
		}
	}
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	if err := validateFICs("bridgeApp.federatedCredentials", w.BridgeApp.FederatedCredentials); err != nil {
		return err
	}
	if !(w.TimeScale >= 0 && w.TimeScale <= 1000) {
		return &FieldError{Field: "timeScale", Value: fmt.Sprint(w.TimeScale), Err: ErrOutOfRange}
	}
	if w.Epoch != "" {
		if _, err := parseEpoch(w.Epoch); err != nil {
			return &FieldError{Field: "epoch", Value: w.Epoch, Err: err}
		}
	}
	if err := w.Throttling.validate("throttling"); err != nil {
		return err
	}
	if err := w.Faults.validate("faults"); err != nil {
		return err
	}
	if err := w.Latency.validate("latency"); err != nil {
		return err
	}
	if err := w.validateGenerate(); err != nil {
		return err
	}
	known := map[string]bool{}
	for _, p := range acceptedPermissions {
		known[p] = true
	}
	ids, domains := map[string]bool{}, map[string]bool{}
	for i, t := range w.Tenants {
		p := fmt.Sprintf("tenants[%d]", i)
		if err := guid(p+".id", t.ID, true); err != nil {
			return err
		}
		if ids[strings.ToLower(t.ID)] {
			return &FieldError{Field: p + ".id", Value: t.ID, Err: ErrDuplicate}
		}
		ids[strings.ToLower(t.ID)] = true
		if strings.TrimSpace(t.DisplayName) == "" {
			return &FieldError{Field: p + ".displayName", Err: ErrMissing}
		}
		d := t.domain(i)
		if domains[d] {
			return &FieldError{Field: p + ".domain", Value: d, Err: ErrDuplicate}
		}
		domains[d] = true
		if t.Users < 0 || t.Users > MaxUsers {
			return &FieldError{Field: p + ".users", Value: fmt.Sprint(t.Users), Err: ErrOutOfRange}
		}
		for _, r := range []struct {
			name string
			v    float64
		}{{"guestRatio", t.GuestRatio}, {"disabledRatio", t.DisabledRatio}} {
			if !(r.v >= 0 && r.v <= 1) {
				return &FieldError{Field: p + "." + r.name, Value: fmt.Sprint(r.v), Err: ErrOutOfRange}
			}
		}
		if err := t.validateData(p); err != nil {
			return err
		}
		seen := map[string]bool{}
		for j, g := range t.Grants {
			f := fmt.Sprintf("%s.grants[%d]", p, j)
			if !known[g] {
				return &FieldError{Field: f, Value: g, Err: ErrUnknownPermission}
			}
			if seen[g] {
				return &FieldError{Field: f, Value: g, Err: ErrDuplicate}
			}
			seen[g] = true
		}
	}
	return w.validateCallers()
}

// validateFICs checks the federated identity credentials of an app; field is their JSON path.
func validateFICs(field string, fics []FIC) error {
	names := map[string]bool{}
	for i, f := range fics {
		p := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case f.Name == "":
			return &FieldError{Field: p + ".name", Err: ErrMissing}
		case names[strings.ToLower(f.Name)]:
			return &FieldError{Field: p + ".name", Value: f.Name, Err: ErrDuplicate}
		case f.Issuer == "":
			return &FieldError{Field: p + ".issuer", Err: ErrMissing}
		case f.Subject == "":
			return &FieldError{Field: p + ".subject", Err: ErrMissing}
		case len(f.Audiences) == 0:
			return &FieldError{Field: p + ".audiences", Err: ErrMissing}
		}
		names[strings.ToLower(f.Name)] = true
	}
	return nil
}

// Expect returns the /users totals that Graph serves for tenantID, or zero Counts for a tenant the world does not
// declare. Tests compare a report against it; [World.ExpectTenant] and [World.ExpectSection] count every section.
func (w *World) Expect(tenantID string) Counts {
	for _, t := range w.Tenants {
		if strings.EqualFold(t.ID, tenantID) {
			if t.Recorded != "" {
				e := w.ExpectTenant(tenantID)
				return Counts{Users: e.Users, EnabledUsers: e.EnabledUsers, Guests: e.Guests}
			}
			g, d := t.split()
			return Counts{Users: t.Users, EnabledUsers: t.Users - d, Guests: g}
		}
	}
	return Counts{}
}

// split returns the exact number of guests and of disabled users.
func (t *Tenant) split() (guests, disabled int) {
	return int(math.Round(t.GuestRatio * float64(t.Users))), int(math.Round(t.DisabledRatio * float64(t.Users)))
}

// domain returns the tenant's initial domain: Domain, or one derived from DisplayName.
func (t *Tenant) domain(index int) string {
	if t.Domain != "" {
		return strings.ToLower(t.Domain)
	}
	var b strings.Builder
	for _, r := range strings.ToLower(t.DisplayName) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		fmt.Fprintf(&b, "tenant%d", index+1)
	}
	return b.String() + ".onmicrosoft.com"
}

// provisioned reports whether the bridge app has a service principal in the tenant.
func (t *Tenant) provisioned() bool { return t.AppProvisioned == nil || *t.AppProvisioned }

// roles returns the permissions granted in the tenant, as they appear in the roles claim.
func (t *Tenant) roles() []string {
	if t.Grants == nil {
		return knownPermissions
	}
	return t.Grants
}

// clone returns a deep copy of w.
func (w *World) clone() World {
	b, err := json.Marshal(w)
	if err != nil {
		panic("emulator: world does not marshal: " + err.Error()) // plain data: cannot happen
	}
	var c World
	if err := json.Unmarshal(b, &c); err != nil {
		panic("emulator: world does not unmarshal: " + err.Error())
	}
	c.dir = w.dir
	return c
}

// Fixed identifiers of [SampleWorld].
const (
	sampleHome      = "6f1c2a9e-3b4d-4e8f-9a0b-1c2d3e4f5a6b"
	sampleMIClient  = "0d4f5b6a-7c8e-4f90-a1b2-c3d4e5f6a7b8"
	sampleMIObject  = "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a80"
	sampleBridgeApp = "3a7b9c1d-2e4f-4a6b-8c0d-1e2f3a4b5c6d"
)

// SampleWorld returns the demo world: a home tenant whose managed identity federates into the bridge app, and three
// target tenants. Contoso (250 users, Entra ID P1 through Microsoft 365 E3) grants every permission and has admins,
// devices, Conditional Access policies, apps with expired and soon-expiring secrets, unused licences and a secure
// score. Fabrikam (1,200 users, so /users takes two pages at $top=999) has no Entra ID P1/P2, so signInActivity and
// userRegistrationDetails answer 403, and grants only User.Read.All and Organization.Read.All. Northwind is
// misconfigured: admin consent was never given, so the token exchange fails with AADSTS700016. Identifiers and seeds
// are fixed; testdata/demo.json and worlds/demo.json hold the same world as JSON. Each call returns a new World.
func SampleWorld() *World {
	no := false
	return &World{
		HomeTenantID:    sampleHome,
		ManagedIdentity: ManagedIdentity{ClientID: sampleMIClient, ObjectID: sampleMIObject},
		BridgeApp: App{
			ClientID: sampleBridgeApp,
			FederatedCredentials: []FIC{{
				Name:      "tenantreport-function-mi",
				Issuer:    "https://login.microsoftonline.com/" + sampleHome + "/v2.0",
				Subject:   sampleMIObject,
				Audiences: []string{"api://AzureADTokenExchange"},
			}},
		},
		Tenants: []Tenant{
			{ID: "2b8e4f1a-6c3d-4b7e-9f5a-0d1c2e3f4a5b", DisplayName: "Contoso", Users: 250,
				GuestRatio: 0.12, DisabledRatio: 0.08, Seed: 101,
				Admins: 5, Devices: 180, ConditionalAccessPolicies: 5, Apps: 6, ExpiredCredentials: 2, ExpiringCredentials: 2,
				Licenses:    []License{{Sku: "SPE_E3", Enabled: 240, Consumed: 214}, {Sku: "VISIOCLIENT", Enabled: 10, Consumed: 4}},
				SecureScore: &Score{Current: 41.5, Max: 78}},
			{ID: "9c5d7e3f-1a2b-4c8d-b6e0-7f8a9b0c1d2e", DisplayName: "Fabrikam", Users: 1200,
				// Everything but Policy.Read.All: the demo shows a section
				// disabled by a missing permission, next to the premium ones
				// a tenant without Entra ID P1/P2 cannot serve.
				Grants: []string{"Organization.Read.All", "Domain.Read.All", "User.Read.All", "AuditLog.Read.All",
					"LicenseAssignment.Read.All", "RoleManagement.Read.Directory", "Device.Read.All",
					"Application.Read.All", "SecurityEvents.Read.All"},
				GuestRatio: 0.25, DisabledRatio: 0.05, Seed: 202,
				Premium: &no, Admins: 8, Devices: 700, Apps: 12, ExpiredCredentials: 3, ExpiringCredentials: 1},
			{ID: "e4a1b2c3-d5e6-4f70-8192-a3b4c5d6e7f8", DisplayName: "Northwind Traders", AppProvisioned: &no, Users: 80,
				GuestRatio: 0.1, DisabledRatio: 0.1, Seed: 303, Admins: 2, Devices: 40, Apps: 2},
		},
		Seed: 20260101,
	}
}
