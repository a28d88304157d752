// Package settings turns the process environment of the handler into typed,
// validated settings.
//
// # Sources
//
// [Load] reads every setting through a getenv function, so only package main
// touches the real environment and tests pass a map lookup. Every invalid or
// missing setting is reported, each as a [*FieldError] naming the setting and
// the offending value, joined into one error so an operator fixes them all in
// one deploy.
//
// # Settings
//
//	REPORT_TENANTS              JSON list of {"tenantId","displayName"} (required)
//	BRIDGE_APP_CLIENT_ID        client id of the multi-tenant app in the home tenant (required)
//	MANAGED_IDENTITY_CLIENT_ID  client id of the user-assigned managed identity (required: only a
//	                            user-assigned identity can be a federated credential of the bridge app)
//	REPORT_CLOUD                public | usgov | usgovdod | china (default public)
//	REPORT_AUTHORITY_HOST       overrides the cloud's Entra authority host (the emulator sets it)
//	REPORT_GRAPH_ENDPOINT       overrides the cloud's Graph endpoint (the emulator sets it)
//	REPORT_CA_FILE              PEM file of an extra root CA to trust (the emulator's)
//	REPORT_SCHEDULE             NCRONTAB of the timer trigger, read by the Functions host (ReportTimer's
//	                            %REPORT_SCHEDULE%); the handler only checks it. infra sets "0 0 6 * * *"
//	REPORT_CONTAINER            blob container for reports (default "reports")
//	REPORT_CONCURRENCY          tenants collected at once, 1–1024 (default 256); Graph requests are paced to
//	                            Graph's budgets whatever the number
//	REPORT_PACING               on (default) | off: off sends requests as they come, one section after
//	                            another, and lets the SDK retry 429s (the benchmark's baselines)
//	REPORT_TENANT_WORKBOOKS     on (default) | off: on also writes each tenant's own workbook (its rows
//	                            only) beside the combined one, as reports/YYYY/MM/DD/<runId>/<tenantId>.xlsx
//	REPORT_TENANT_TIMEOUT       the longest one tenant is collected, a Go duration such as "20m" (default
//	                            none): the sections not read by then are reported as timed out
//	REPORT_GRAPH_TIME_SCALE     the time scale of an emulated world (its timeScale), 0–1 (default 1):
//	                            Graph's budget windows and backoffs are paced at that scale
//	REPORT_SECTIONS             comma-separated report sections (default all; see [AllSections])
//	REPORT_STORAGE[__…]         storage for reports; defaults to AzureWebJobsStorage[__…]
//	REPORT_WASTE_MIN_SEATS      unassigned seats of a licence flagged as waste from (default 5)
//	REPORT_WASTE_MIN_PERCENT    … and from this share of its seats, in % (default 10)
//	REPORT_MFA_MIN_PERCENT      Summary highlights MFA coverage below this, in % (default 90)
//	REPORT_SCORE_MIN_PERCENT    Summary highlights a secure score below this, in % (default 50)
//	REPORT_API_CLIENT_ID        client id of the API app that callers in other tenants get tokens for;
//	                            empty (the default) turns the Entra-authenticated routes off
//	REPORT_API_TENANT_ID        the home tenant, which registers the API app and issues its tokens
//	REPORT_API_APP_ID_URI       the API app's application ID URI (default api://<REPORT_API_CLIENT_ID>)
//	REPORT_API_CALLERS          JSON object: caller (client app id or service principal object id in
//	                            the home tenant) → the tenant ids it may read with Reports.Read.Tenant
package settings

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tenantreport/tenantreport/internal/section"
)

// Names of the settings, as they appear in app settings and local.settings.json.
const (
	KeyTenants         = "REPORT_TENANTS"
	KeyBridgeApp       = "BRIDGE_APP_CLIENT_ID"
	KeyMIClientID      = "MANAGED_IDENTITY_CLIENT_ID"
	KeyCloud           = "REPORT_CLOUD"
	KeyAuthorityHost   = "REPORT_AUTHORITY_HOST"
	KeyGraphEndpoint   = "REPORT_GRAPH_ENDPOINT"
	KeyCAFile          = "REPORT_CA_FILE"
	KeySchedule        = "REPORT_SCHEDULE"
	KeyContainer       = "REPORT_CONTAINER"
	KeyConcurrency     = "REPORT_CONCURRENCY"
	KeyPacing          = "REPORT_PACING"
	KeyTimeScale       = "REPORT_GRAPH_TIME_SCALE"
	KeyTenantTimeout   = "REPORT_TENANT_TIMEOUT"
	KeyTenantWorkbooks = "REPORT_TENANT_WORKBOOKS"
	KeySections        = "REPORT_SECTIONS"
	KeyStorage         = "REPORT_STORAGE"
	KeyWebJobs         = "AzureWebJobsStorage"
	KeyWasteSeats      = "REPORT_WASTE_MIN_SEATS"
	KeyWastePercent    = "REPORT_WASTE_MIN_PERCENT"
	KeyMFAPercent      = "REPORT_MFA_MIN_PERCENT"
	KeyScorePercent    = "REPORT_SCORE_MIN_PERCENT"
)

// Defaults, kept in one place. DefaultSchedule is the REPORT_SCHEDULE that
// infra deploys: the host, not the handler, reads the schedule.
const (
	DefaultSchedule    = "0 0 6 * * *"
	DefaultContainer   = "reports"
	DefaultConcurrency = 256
	maxConcurrency     = 1024
)

// DefaultThresholds are the report's highlights unless settings say
// otherwise.
var DefaultThresholds = Thresholds{WasteMinSeats: 5, WasteMinPercent: 10, MFAMinPercent: 90, ScoreMinPercent: 50}

// Thresholds decide what the report highlights.
type Thresholds struct {
	// A licence's unassigned seats are waste from WasteMinSeats seats that
	// are WasteMinPercent % or more of its seats: one spare seat is a
	// buffer, not waste.
	WasteMinSeats   int
	WasteMinPercent int
	// Summary highlights MFA coverage and secure scores below these, in %.
	MFAMinPercent   int
	ScoreMinPercent int
}

// Sentinel errors wrapped by [FieldError].
var (
	ErrMissing = errors.New("required setting is missing")
	ErrInvalid = errors.New("invalid value")
)

// FieldError is one invalid setting. Value is the offending value as given,
// or an excerpt of a long one (never a secret: connection strings are
// reported by shape, not content).
type FieldError struct {
	Field string
	Value string
	Err   error
}

func (e *FieldError) Error() string {
	if errors.Is(e.Err, ErrMissing) {
		return "settings: " + e.Field + ": " + e.Err.Error()
	}
	// The value is shown verbatim (not %q) so a JSON value reads as written,
	// unless verbatim would hide it: an empty or blank value, spaces around
	// it, or a control character would read as nothing, or as a cut message.
	v := e.Value
	switch {
	case secretShaped(v):
		// Load reports connection strings by shape, but a key can be pasted
		// into any setting (a connection string into a __blobServiceUri, a
		// SAS URL): no message repeats one, whichever setting holds it.
		v = "<not shown: it holds an account key or a SAS signature>"
	case needsQuotes(v):
		v = strconv.Quote(shorten(v))
	default:
		v = shorten(v)
	}
	return fmt.Sprintf("settings: %s: %v: got %s", e.Field, e.Err, v)
}

// secretShaped reports whether v holds a storage account key or a SAS
// signature.
func secretShaped(v string) bool {
	l := strings.ToLower(v)
	return strings.Contains(l, "accountkey=") || strings.Contains(l, "sharedaccesssignature=") || strings.Contains(l, "sig=")
}

// shorten cuts a long value as excerpt does. Values come from callers too
// (an API body's section names): a message quotes enough of one to
// recognise it, not all of it. A value Load already cut around a JSON
// error, "…" marks included, is left as it is.
func shorten(v string) string {
	if len(v) <= excerptLen+2*len("…") {
		return v
	}
	return excerpt(v, -1)
}

// needsQuotes reports whether v, shown verbatim, would not read as itself.
func needsQuotes(v string) bool {
	if strings.TrimSpace(v) != v || v == "" || !utf8.ValidString(v) {
		return true
	}
	// Controls, format characters (a byte order mark) and line separators.
	return strings.ContainsFunc(v, func(r rune) bool { return !unicode.IsGraphic(r) })
}

func (e *FieldError) Unwrap() error { return e.Err }

// Tenant is one target tenant of the report.
type Tenant struct {
	ID          string `json:"tenantId"`
	DisplayName string `json:"displayName"`
	// Cloud is the tenant's cloud if the operator wrote it down; a tenant
	// can only be reached from a managed identity of the same cloud.
	Cloud string `json:"cloud,omitempty"`
}

// Name is the display name, or the id when no name was configured.
func (t Tenant) Name() string {
	if t.DisplayName != "" {
		return t.DisplayName
	}
	return t.ID
}

// Cloud is the set of endpoints of one Azure cloud.
type Cloud struct {
	Name string
	// AuthorityHost is the Entra host, with a trailing slash.
	AuthorityHost string
	// GraphEndpoint is where Graph requests go, without /v1.0.
	GraphEndpoint string
	// GraphScope is the resource the Graph token is requested for. It stays
	// the cloud's even when GraphEndpoint is overridden, as Entra issues
	// tokens for the resource, not for the address it is served from.
	GraphScope string
	// ExchangeAudience is the audience of the managed identity token used as
	// the client assertion; the app's federated credential must list it.
	ExchangeAudience string
	// ConsentRedirectURI is where Entra sends a customer's admin after the
	// admin consent: the cloud's Azure portal. Entra redirects only to a
	// URI registered on the app, so the bridge app registers this one
	// (infra/modules/bridgeapp.bicep); it is a page, not an endpoint of ours,
	// and the redirect carries no code or token.
	ConsentRedirectURI string
}

// Clouds are the supported clouds by setting value.
var clouds = map[string]Cloud{
	"public": {
		Name: "public", AuthorityHost: "https://login.microsoftonline.com/",
		GraphEndpoint: "https://graph.microsoft.com", GraphScope: "https://graph.microsoft.com/.default",
		ExchangeAudience: "api://AzureADTokenExchange", ConsentRedirectURI: "https://portal.azure.com/",
	},
	"usgov": {
		Name: "usgov", AuthorityHost: "https://login.microsoftonline.us/",
		GraphEndpoint: "https://graph.microsoft.us", GraphScope: "https://graph.microsoft.us/.default",
		ExchangeAudience: "api://AzureADTokenExchangeUSGov", ConsentRedirectURI: "https://portal.azure.us/",
	},
	"usgovdod": {
		Name: "usgovdod", AuthorityHost: "https://login.microsoftonline.us/",
		GraphEndpoint: "https://dod-graph.microsoft.us", GraphScope: "https://dod-graph.microsoft.us/.default",
		ExchangeAudience: "api://AzureADTokenExchangeUSGov", ConsentRedirectURI: "https://portal.azure.us/",
	},
	"china": {
		Name: "china", AuthorityHost: "https://login.chinacloudapi.cn/",
		GraphEndpoint: "https://microsoftgraph.chinacloudapi.cn", GraphScope: "https://microsoftgraph.chinacloudapi.cn/.default",
		ExchangeAudience: "api://AzureADTokenExchangeChina", ConsentRedirectURI: "https://portal.azure.cn/",
	},
}

// Storage names a storage account. Either ConnectionString is set
// (Azurite, or account key), or service URLs used with the managed identity
// (ClientID "" means the handler's own, MANAGED_IDENTITY_CLIENT_ID).
type Storage struct {
	// Setting is the setting prefix the storage was read from, for messages.
	Setting          string
	ConnectionString string
	// ServiceURL is the blob service.
	ServiceURL string
	// QueueServiceURL is the queue service.
	QueueServiceURL string
	ClientID        string
}

// IsZero reports whether no blob storage was configured.
func (s Storage) IsZero() bool { return s.ConnectionString == "" && s.ServiceURL == "" }

// HasQueue reports whether the queue service can be reached.
func (s Storage) HasQueue() bool { return s.ConnectionString != "" || s.QueueServiceURL != "" }

// Settings is the validated configuration of the handler.
type Settings struct {
	Tenants                 []Tenant
	BridgeAppClientID       string
	ManagedIdentityClientID string
	Cloud                   Cloud
	CAFile                  string
	Container               string
	Concurrency             int
	// Unpaced turns pacing off (REPORT_PACING=off).
	Unpaced bool
	// TimeScale is the time scale of Graph's budgets: 1 but for emulated
	// worlds.
	TimeScale float64
	// TenantTimeout limits the collection of one tenant (0: none).
	TenantTimeout time.Duration
	// TenantWorkbooks writes each tenant's own workbook beside the
	// combined one (REPORT_TENANT_WORKBOOKS, on unless off).
	TenantWorkbooks bool
	// Sections are the enabled report sections, in report order.
	Sections []string
	// Storage holds the reports and run records.
	Storage    Storage
	Thresholds Thresholds
	// HostStorage is the Functions host's own storage (AzureWebJobsStorage),
	// where the run queue must be: ReportQueue's trigger reads it there.
	HostStorage Storage
	// API is the Entra-authenticated API (off unless REPORT_API_CLIENT_ID
	// is set).
	API API
}

// AllSections returns the report sections, in report order, from the
// section registry; REPORT_SECTIONS chooses among them. Each call returns a
// new slice, which the caller may modify.
func AllSections() []string { return section.Names() }

// Load reads and validates all settings. The error, if any, joins one
// [*FieldError] per problem.
func Load(getenv func(string) string) (Settings, error) {
	var errs []error
	fail := func(field, value string, err error) {
		errs = append(errs, &FieldError{Field: field, Value: value, Err: err})
	}
	s := Settings{
		Container:   DefaultContainer,
		Concurrency: DefaultConcurrency,
		TimeScale:   1,
		Thresholds:  DefaultThresholds,
		// A customer is handed its own tenant's workbook, not the others'.
		TenantWorkbooks: true,
	}

	if v := getenv(KeyTenants); v == "" {
		fail(KeyTenants, "", ErrMissing)
	} else if strings.HasPrefix(v, "\ufeff") {
		// encoding/json would say "invalid character 'ï'", the BOM's
		// first byte read as Latin-1: name the invisible culprit.
		fail(KeyTenants, excerpt(v, -1), fmt.Errorf("%w: starts with a byte order mark (U+FEFF); save the value without it", ErrInvalid))
	} else if ts, off, err := parseTenants(strings.NewReader(v)); err != nil {
		// Name each bad entry as REPORT_TENANTS[i].tenantId with its value.
		for _, e := range unjoin(err) {
			if fe := (*FieldError)(nil); errors.As(e, &fe) {
				fail(KeyTenants+fe.Field, excerpt(fe.Value, -1), fe.Err)
			} else {
				fail(KeyTenants, excerpt(v, off), e)
			}
		}
	} else {
		s.Tenants = ts
	}

	s.BridgeAppClientID = strings.TrimSpace(getenv(KeyBridgeApp))
	if s.BridgeAppClientID == "" {
		fail(KeyBridgeApp, "", ErrMissing)
	} else if !IsGUID(s.BridgeAppClientID) {
		fail(KeyBridgeApp, s.BridgeAppClientID, fmt.Errorf("%w: not a GUID", ErrInvalid))
	}

	s.ManagedIdentityClientID = strings.TrimSpace(getenv(KeyMIClientID))
	if s.ManagedIdentityClientID == "" {
		fail(KeyMIClientID, "", errMIMissing)
	} else if !IsGUID(s.ManagedIdentityClientID) {
		fail(KeyMIClientID, s.ManagedIdentityClientID, fmt.Errorf("%w: not a GUID", ErrInvalid))
	}

	cloud, err := LoadCloud(getenv)
	errs = append(errs, unjoin(err)...)
	s.Cloud = cloud
	s.CAFile = getenv(KeyCAFile)

	// The host reads the schedule; a bad one is still the operator's to fix.
	if v := getenv(KeySchedule); v != "" {
		if err := checkSchedule(v); err != nil {
			fail(KeySchedule, v, err)
		}
	}
	if v := getenv(KeyContainer); v != "" {
		if !containerName.MatchString(v) || strings.Contains(v, "--") {
			fail(KeyContainer, v, errContainerName)
		}
		s.Container = v
	}
	if v := getenv(KeyConcurrency); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxConcurrency {
			fail(KeyConcurrency, v, fmt.Errorf("%w: want a whole number from 1 to %d", ErrInvalid, maxConcurrency))
		}
		s.Concurrency = n
	}
	// Switches: on unless set to off.
	paced := true
	for _, sw := range []struct {
		key string
		on  *bool
	}{{KeyPacing, &paced}, {KeyTenantWorkbooks, &s.TenantWorkbooks}} {
		switch v := getenv(sw.key); strings.ToLower(v) {
		case "", "on":
		case "off":
			*sw.on = false
		default:
			fail(sw.key, v, fmt.Errorf("%w: want on or off", ErrInvalid))
		}
	}
	s.Unpaced = !paced
	if v := getenv(KeyTenantTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			fail(KeyTenantTimeout, v, fmt.Errorf("%w: want a Go duration above 0, such as 20m", ErrInvalid))
		}
		s.TenantTimeout = d
	}
	if v := getenv(KeyTimeScale); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f > 0 && f <= 1) {
			fail(KeyTimeScale, v, fmt.Errorf("%w: want a number above 0 and at most 1", ErrInvalid))
		}
		s.TimeScale = f
	}

	for _, th := range []struct {
		key      string
		min, max int
		v        *int
	}{
		{KeyWasteSeats, 1, 1_000_000, &s.Thresholds.WasteMinSeats},
		{KeyWastePercent, 0, 100, &s.Thresholds.WasteMinPercent},
		{KeyMFAPercent, 0, 100, &s.Thresholds.MFAMinPercent},
		{KeyScorePercent, 0, 100, &s.Thresholds.ScoreMinPercent},
	} {
		raw := strings.TrimSpace(getenv(th.key))
		if raw == "" {
			continue
		}
		// A lone "%" is not unset: it fails below rather than silently
		// keeping the default.
		v := strings.TrimSpace(strings.TrimSuffix(raw, "%"))
		n, err := strconv.Atoi(v)
		if err != nil || n < th.min || n > th.max {
			fail(th.key, getenv(th.key), fmt.Errorf("%w: want a whole number from %d to %d", ErrInvalid, th.min, th.max))
			continue
		}
		*th.v = n
	}

	secs, err := LoadSections(getenv)
	errs = append(errs, unjoin(err)...)
	s.Sections = secs

	// A tenant in another cloud cannot accept this identity's assertion:
	// say so now rather than at 3 a.m.
	for i, t := range s.Tenants {
		if t.Cloud != "" && s.Cloud.Name != "" && !strings.EqualFold(t.Cloud, s.Cloud.Name) {
			fail(fmt.Sprintf("%s[%d].cloud", KeyTenants, i), t.Cloud,
				fmt.Errorf("%w: the managed identity is in the %s cloud (%s); a tenant of another cloud needs its own deployment there", ErrInvalid, s.Cloud.Name, KeyCloud))
		}
	}

	s.Storage, s.HostStorage, err = loadStorages(getenv)
	errs = append(errs, unjoin(err)...)

	s.API = loadAPI(getenv, s.Tenants, fail)

	return s, errors.Join(errs...)
}

// LoadStore reads only what names the reports' store: the storage and the
// container, for commands that read reports and need nothing else.
func LoadStore(getenv func(string) string) (Storage, string, error) {
	st, _, err := loadStorages(getenv)
	container := DefaultContainer
	if v := getenv(KeyContainer); v != "" {
		if !containerName.MatchString(v) || strings.Contains(v, "--") {
			err = errors.Join(err, &FieldError{Field: KeyContainer, Value: v, Err: errContainerName})
		}
		container = v
	}
	return st, container, err
}

// errMIMissing says why the identity must be named: Entra trusts only a
// user-assigned managed identity as a federated credential of an app.
var errMIMissing = fmt.Errorf("%w: set the client id of the Function App's user-assigned managed identity, "+
	"the one the bridge app's federated credential trusts (only a user-assigned identity can be a federated credential of an app; "+
	"the system-assigned one cannot)", ErrMissing)

var errContainerName = fmt.Errorf("%w: container names are 3–63 lower-case letters, digits and single hyphens", ErrInvalid)

// loadStorages reads the reports' storage and the host's. A dedicated
// setting wins over the Functions host's own storage for reports, so they
// can live in another account than the host's leases and timers.
func loadStorages(getenv func(string) string) (reports, host Storage, err error) {
	host, herr := loadStorage(getenv, KeyWebJobs)
	reports, rerr := loadStorage(getenv, KeyStorage)
	if rerr == nil && reports.IsZero() {
		reports, rerr = host, herr
		herr = nil
	}
	return reports, host, errors.Join(rerr, herr)
}

// LoadCloud reads the cloud and its endpoint overrides, for commands that
// need nothing else (consent-url).
func LoadCloud(getenv func(string) string) (Cloud, error) {
	var errs []error
	name := strings.ToLower(strings.TrimSpace(getenv(KeyCloud)))
	if name == "" {
		name = "public"
	}
	c, ok := clouds[name]
	if !ok {
		errs = append(errs, &FieldError{Field: KeyCloud, Value: getenv(KeyCloud), Err: fmt.Errorf("%w: want one of public, usgov, usgovdod, china", ErrInvalid)})
	}
	if v := getenv(KeyAuthorityHost); v != "" {
		if u, err := httpsURL(v); err != nil {
			errs = append(errs, &FieldError{Field: KeyAuthorityHost, Value: v, Err: err})
		} else {
			c.AuthorityHost = strings.TrimSuffix(u, "/") + "/"
		}
	}
	if v := getenv(KeyGraphEndpoint); v != "" {
		if u, err := httpsURL(v); err != nil {
			errs = append(errs, &FieldError{Field: KeyGraphEndpoint, Value: v, Err: err})
		} else {
			c.GraphEndpoint = strings.TrimSuffix(u, "/")
		}
	}
	return c, errors.Join(errs...)
}

// LoadSections reads the enabled sections (all when unset or "all").
func LoadSections(getenv func(string) string) ([]string, error) {
	v := strings.TrimSpace(getenv(KeySections))
	if v == "" || strings.EqualFold(v, "all") {
		return AllSections(), nil
	}
	secs, err := parseSections(v)
	if err != nil {
		return nil, &FieldError{Field: KeySections, Value: v, Err: err}
	}
	return secs, nil
}

// loadStorage reads prefix (a connection string) or the identity-based form
// prefix__blobServiceUri / prefix__accountName (+ prefix__clientId), the
// convention the Functions host uses for AzureWebJobsStorage.
func loadStorage(getenv func(string) string, prefix string) (Storage, error) {
	st := Storage{Setting: prefix, ClientID: getenv(prefix + "__clientId")}
	if v := getenv(prefix); v != "" {
		if v == "UseDevelopmentStorage=true" {
			return st, &FieldError{Field: prefix, Value: v, Err: fmt.Errorf("%w: give Azurite's full connection string with its BlobEndpoint", ErrInvalid)}
		}
		if !strings.Contains(v, "BlobEndpoint=") && !strings.Contains(v, "AccountName=") {
			// Report the shape only: a connection string may hold an account key.
			return st, &FieldError{Field: prefix, Value: "<connection string>", Err: fmt.Errorf("%w: neither BlobEndpoint nor AccountName is set", ErrInvalid)}
		}
		st.ConnectionString = v
		return st, nil
	}
	account := getenv(prefix + "__accountName")
	if account != "" && !accountName.MatchString(account) {
		return st, &FieldError{Field: prefix + "__accountName", Value: account, Err: fmt.Errorf("%w: storage account names are 3–24 lower-case letters and digits", ErrInvalid)}
	}
	for _, svc := range []struct {
		name string
		url  *string
	}{{"blob", &st.ServiceURL}, {"queue", &st.QueueServiceURL}} {
		key := prefix + "__" + svc.name + "ServiceUri"
		if v := getenv(key); v != "" {
			u, err := httpsURL(v)
			if err != nil {
				return st, &FieldError{Field: key, Value: v, Err: err}
			}
			*svc.url = u
		} else if account != "" {
			*svc.url = "https://" + account + "." + svc.name + ".core.windows.net/"
		}
	}
	if st.ClientID != "" && !IsGUID(st.ClientID) {
		return st, &FieldError{Field: prefix + "__clientId", Value: st.ClientID, Err: fmt.Errorf("%w: not a GUID", ErrInvalid)}
	}
	return st, nil
}

var (
	guidRE        = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	containerName = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$`)
	accountName   = regexp.MustCompile(`^[a-z0-9]{3,24}$`)
	cronField     = regexp.MustCompile(`^[0-9A-Za-z*/,\-]+$`)
)

// IsGUID reports whether s is a GUID in its 36-character form.
func IsGUID(s string) bool { return guidRE.MatchString(s) }

func httpsURL(v string) (string, error) {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%w: not an absolute URL", ErrInvalid)
	}
	if u.Scheme != "https" {
		return "", fmt.Errorf("%w: must be https", ErrInvalid)
	}
	return v, nil
}

// checkSchedule accepts the six-field NCRONTAB expressions of the Functions
// timer trigger ({second} {minute} {hour} {day} {month} {day-of-week}).
func checkSchedule(v string) error {
	fields := strings.Fields(v)
	if len(fields) != 6 {
		return fmt.Errorf("%w: %d fields, want 6 NCRONTAB fields (second minute hour day month day-of-week)", ErrInvalid, len(fields))
	}
	for i, f := range fields {
		if !cronField.MatchString(f) {
			return fmt.Errorf("%w: field %q", ErrInvalid, f)
		}
		// Out-of-range values ("0 0 25 * * *") pass the character check,
		// and the host would only refuse the function at startup, in its
		// own log.
		if err := cronFields[i].check(f); err != nil {
			return fmt.Errorf("%w: %s field %q: %v", ErrInvalid, cronFields[i].name, f, err)
		}
	}
	return nil
}

// cronFieldSpec is one NCRONTAB field: its range and, for months and days of
// the week, the names that stand for min, min+1, …
type cronFieldSpec struct {
	name     string
	min, max int
	names    []string
}

var cronFields = [6]cronFieldSpec{
	{name: "second", max: 59},
	{name: "minute", max: 59},
	{name: "hour", max: 23},
	{name: "day", min: 1, max: 31},
	{name: "month", min: 1, max: 12, names: []string{"january", "february", "march", "april", "may", "june",
		"july", "august", "september", "october", "november", "december"}},
	{name: "day-of-week", max: 6, names: []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}},
}

// check checks a field's comma-separated items: *, a value, or a range,
// each with an optional /step.
func (c cronFieldSpec) check(f string) error {
	for item := range strings.SplitSeq(f, ",") {
		base, step, hasStep := strings.Cut(item, "/")
		if hasStep {
			if n, err := strconv.Atoi(step); err != nil || n < 1 {
				return fmt.Errorf("step %q is not a whole number of 1 or more", step)
			}
		}
		if base == "*" {
			continue
		}
		vals := []string{base}
		if lo, hi, isRange := strings.Cut(base, "-"); isRange {
			vals = []string{lo, hi}
		}
		for _, v := range vals {
			if err := c.value(v); err != nil {
				return err
			}
		}
	}
	return nil
}

// value checks one value: a number in range, or a name (NCRONTAB takes any
// leading part of one, case-insensitively: "mon", "Monday").
func (c cronFieldSpec) value(v string) error {
	if n, err := strconv.Atoi(v); err == nil {
		if n < c.min || n > c.max {
			return fmt.Errorf("%d is out of range %d–%d", n, c.min, c.max)
		}
		return nil
	}
	for _, name := range c.names {
		if v != "" && strings.HasPrefix(name, strings.ToLower(v)) {
			return nil
		}
	}
	if c.names != nil {
		return fmt.Errorf("%q is neither a number from %d to %d nor a %s name", v, c.min, c.max, c.name)
	}
	return fmt.Errorf("%q is not a number from %d to %d", v, c.min, c.max)
}

// ParseTenants parses a JSON list of tenants. Unknown keys, ids that are not
// GUIDs, duplicates and an empty list are errors. Problems with one entry are
// reported each as a [*FieldError] whose Field is relative, like
// "[2].tenantId", joined into one error.
func ParseTenants(r io.Reader) ([]Tenant, error) {
	ts, _, err := parseTenants(r)
	return ts, err
}

// parseTenants is [ParseTenants], and also returns the byte offset in r of
// a JSON error (-1 when there is none) so that a message can quote the
// input around it.
func parseTenants(r io.Reader) ([]Tenant, int64, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var ts []Tenant
	if err := dec.Decode(&ts); err != nil {
		if off := jsonOffset(err); off >= 0 {
			return nil, off, fmt.Errorf("%w: %s (byte offset %d)", ErrInvalid, jsonProblem(err), off)
		}
		return nil, -1, fmt.Errorf("%w: %s", ErrInvalid, jsonProblem(err))
	}
	// Not dec.More: it reports false for a stray "]" or "}", so
	// `[…]]` was taken for a list.
	if _, err := dec.Token(); err != io.EOF {
		off := dec.InputOffset()
		return nil, off, fmt.Errorf("%w: trailing data after the tenant list (byte offset %d)", ErrInvalid, off)
	}
	if len(ts) == 0 {
		return nil, -1, fmt.Errorf("%w: the tenant list is empty", ErrInvalid)
	}
	var errs []error
	seen := make(map[string]int, len(ts))
	for i := range ts {
		t := &ts[i]
		field := fmt.Sprintf("[%d].tenantId", i)
		id := strings.ToLower(strings.TrimSpace(t.ID))
		switch {
		case id == "":
			errs = append(errs, &FieldError{Field: field, Err: ErrMissing})
		case !IsGUID(id):
			errs = append(errs, &FieldError{Field: field, Value: t.ID, Err: fmt.Errorf("%w: not a GUID", ErrInvalid)})
		default:
			if j, dup := seen[id]; dup {
				errs = append(errs, &FieldError{Field: field, Value: t.ID, Err: fmt.Errorf("%w: duplicates tenant [%d]", ErrInvalid, j)})
			}
			seen[id] = i
		}
		t.ID = id
		t.DisplayName = strings.TrimSpace(t.DisplayName)
		t.Cloud = strings.ToLower(strings.TrimSpace(t.Cloud))
		if t.Cloud != "" {
			if _, ok := clouds[t.Cloud]; !ok {
				errs = append(errs, &FieldError{Field: fmt.Sprintf("[%d].cloud", i), Value: t.Cloud, Err: fmt.Errorf("%w: want one of public, usgov, usgovdod, china", ErrInvalid)})
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, -1, err
	}
	return ts, -1, nil
}

// jsonProblem says what is wrong with the tenant list in the operator's
// terms: encoding/json's type errors name Go types ("[]settings.Tenant",
// "Go struct field Tenant.displayName"), which mean nothing in an app
// setting.
func jsonProblem(err error) string {
	te := (*json.UnmarshalTypeError)(nil)
	if !errors.As(err, &te) {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return "the JSON ends too early (truncated?)"
		}
		if errors.Is(err, io.EOF) {
			return "no JSON in the value"
		}
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	switch {
	case te.Field != "":
		return fmt.Sprintf("a tenant's %q is a JSON %s, want a string", te.Field, te.Value)
	case te.Type.Kind() == reflect.Slice:
		return fmt.Sprintf(`the tenant list is a JSON %s, want a list like [{"tenantId":"…","displayName":"…"}]`, te.Value)
	default:
		return fmt.Sprintf(`a tenant is a JSON %s, want an object like {"tenantId":"…","displayName":"…"}`, te.Value)
	}
}

// jsonOffset is where in its input a JSON error occurred, or -1 when the
// error does not say.
func jsonOffset(err error) int64 {
	if se := (*json.SyntaxError)(nil); errors.As(err, &se) {
		return se.Offset
	}
	if te := (*json.UnmarshalTypeError)(nil); errors.As(err, &te) {
		return te.Offset
	}
	return -1
}

// excerptLen bounds how much of a value an error repeats.
const excerptLen = 200

// excerpt returns v, or, when v is longer than excerptLen bytes, excerptLen
// bytes of it around offset (its start when offset is -1 or near the start),
// with "…" where it was cut.
func excerpt(v string, offset int64) string {
	if len(v) <= excerptLen {
		return v
	}
	start := 0
	if offset > excerptLen {
		start = min(int(offset)-excerptLen/2, len(v)-excerptLen)
	}
	end := start + excerptLen
	for start > 0 && !utf8.RuneStart(v[start]) {
		start--
	}
	for end < len(v) && !utf8.RuneStart(v[end]) {
		end--
	}
	out := v[start:end]
	if start > 0 {
		out = "…" + out
	}
	if end < len(v) {
		out += "…"
	}
	return out
}

// parseSections parses a comma-separated list of section names, keeping
// the report's order whatever order they were given in.
func parseSections(v string) ([]string, error) {
	all := AllSections()
	want := map[string]bool{}
	for _, name := range strings.Split(v, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		if !slices.Contains(all, name) {
			return nil, fmt.Errorf("%w: unknown section %q; valid sections are %s", ErrInvalid, name, strings.Join(all, ", "))
		}
		want[name] = true
	}
	var out []string
	for _, name := range all {
		if want[name] {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no section named; valid sections are %s", ErrInvalid, strings.Join(all, ", "))
	}
	return out, nil
}

// unjoin returns the errors joined in err, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
