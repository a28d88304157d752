package settings

import (
	"cmp"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// badValue is one bad value of one setting, and what the operator must read
// in the error.
type badValue struct {
	name  string
	key   string // the setting given the value
	value string
	// also sets other settings the case needs ("" removes one).
	also map[string]string
	// field is the setting the error names, when not key (an entry of
	// REPORT_TENANTS).
	field string
	// shows is how the error shows the value, when not the value itself
	// (quoted, an entry of a list, or a secret's placeholder).
	shows string
	// want are parts of the message that say what is wrong.
	want []string
	// secret, when set, must not appear anywhere in the error.
	secret string
	// missing: the error wraps ErrMissing rather than ErrInvalid.
	missing bool
}

const (
	secretKey = "SuperSecretKey0123456789=="
	secretSig = "sig=SuperSecretSignature%3D"
)

// badTenants are bad values of REPORT_TENANTS.
func badTenants() []badValue {
	a, b := `{"tenantId":"`+tenantA+`"}`, `{"tenantId":"`+tenantB+`"}`
	return []badValue{
		{name: "empty", value: "", missing: true},
		{name: "blank", value: "  ", shows: `"  "`, want: []string{"no JSON"}},
		{name: "not json", value: "contoso", want: []string{"invalid character"}},
		{name: "byte order mark", value: "\ufeff[" + a + "]", want: []string{"byte order mark (U+FEFF)"}},
		{name: "object", value: a, want: []string{"tenant list is a JSON object", "want a list"}},
		{name: "string", value: `"` + tenantA + `"`, want: []string{"tenant list is a JSON string"}},
		{name: "number", value: "5", want: []string{"tenant list is a JSON number"}},
		{name: "bool", value: "true", want: []string{"tenant list is a JSON bool"}},
		{name: "null", value: "null", want: []string{"the tenant list is empty"}},
		{name: "empty list", value: "[]", want: []string{"the tenant list is empty"}},
		{name: "nested list", value: "[[" + a + "]]", want: []string{"a tenant is a JSON array", "want an object"}},
		{name: "list of strings", value: `["` + tenantA + `"]`, want: []string{"a tenant is a JSON string"}},
		{name: "truncated", value: "[" + a, want: []string{"ends too early"}},
		{name: "truncated string", value: `[{"tenantId":"` + tenantA[:10], want: []string{"ends too early"}},
		{name: "trailing text", value: "[" + a + "] x", want: []string{"trailing data"}},
		{name: "trailing bracket", value: "[" + a + "]]", want: []string{"trailing data"}},
		{name: "trailing brace", value: "[" + a + "]}", want: []string{"trailing data"}},
		{name: "second list", value: "[" + a + "][" + b + "]", want: []string{"trailing data"}},
		{name: "missing comma", value: "[" + a + b + "]", want: []string{"invalid character"}},
		{name: "tenantId number", value: `[{"tenantId":5}]`, want: []string{`"tenantId" is a JSON number, want a string`}},
		{name: "displayName object", value: `[{"tenantId":"` + tenantA + `","displayName":{}}]`, want: []string{`"displayName" is a JSON object`}},
		{name: "cloud number", value: `[{"tenantId":"` + tenantA + `","cloud":7}]`, want: []string{`"cloud" is a JSON number`}},
		{name: "unknown key", value: `[{"tenantId":"` + tenantA + `","name":"Contoso"}]`, want: []string{`unknown field "name"`}},
		{name: "tenantId missing", value: `[{"displayName":"Contoso"}]`, field: KeyTenants + "[0].tenantId", missing: true},
		{name: "tenantId empty", value: `[{"tenantId":""}]`, field: KeyTenants + "[0].tenantId", missing: true},
		{name: "null entry", value: "[" + a + ",null]", field: KeyTenants + "[1].tenantId", missing: true},
		{name: "domain for id", value: "[" + a + `,{"tenantId":"contoso.onmicrosoft.com"}]`, field: KeyTenants + "[1].tenantId", shows: "contoso.onmicrosoft.com", want: []string{"not a GUID"}},
		{name: "guid in braces", value: `[{"tenantId":"{` + tenantA + `}"}]`, field: KeyTenants + "[0].tenantId", shows: "{" + tenantA + "}", want: []string{"not a GUID"}},
		{name: "guid short", value: `[{"tenantId":"` + tenantA[:35] + `"}]`, field: KeyTenants + "[0].tenantId", shows: tenantA[:35], want: []string{"not a GUID"}},
		{name: "guid not hex", value: `[{"tenantId":"g` + tenantA[1:] + `"}]`, field: KeyTenants + "[0].tenantId", shows: "g" + tenantA[1:], want: []string{"not a GUID"}},
		{name: "duplicate", value: "[" + a + "," + b + "," + a + "]", field: KeyTenants + "[2].tenantId", shows: tenantA, want: []string{"duplicates tenant [0]"}},
		{name: "duplicate in other case", value: "[" + a + `,{"tenantId":"` + strings.ToUpper(tenantA) + `"}]`, field: KeyTenants + "[1].tenantId", shows: strings.ToUpper(tenantA), want: []string{"duplicates tenant [0]"}},
		{name: "duplicate with spaces", value: "[" + a + `,{"tenantId":" ` + tenantA + ` "}]`, field: KeyTenants + "[1].tenantId", shows: strconv.Quote(" " + tenantA + " "), want: []string{"duplicates tenant [0]"}},
		{name: "unknown cloud", value: `[{"tenantId":"` + tenantA + `","cloud":"mars"}]`, field: KeyTenants + "[0].cloud", shows: "mars", want: []string{"public, usgov, usgovdod, china"}},
		{name: "tenant in another cloud", value: `[{"tenantId":"` + tenantA + `","cloud":"china"}]`, field: KeyTenants + "[0].cloud", shows: "china", want: []string{"own deployment"}},
	}
}

// badGUID are bad values of a required client id.
func badGUID() []badValue {
	return []badValue{
		{name: "empty", value: "", missing: true},
		{name: "blank", value: " \t", missing: true},
		{name: "name", value: "tenantreport-bridge", want: []string{"not a GUID"}},
		{name: "braces", value: "{" + appID + "}", want: []string{"not a GUID"}},
		{name: "no hyphens", value: strings.ReplaceAll(appID, "-", ""), want: []string{"not a GUID"}},
		{name: "not hex", value: "z" + appID[1:], want: []string{"not a GUID"}},
		{name: "two ids", value: appID + "," + miID, want: []string{"not a GUID"}},
	}
}

// badURL are bad values of an https URL setting.
func badURL() []badValue {
	return []badValue{
		{name: "http", value: "http://127.0.0.1:8443/", want: []string{"must be https"}},
		{name: "relative", value: "graph.microsoft.com", want: []string{"not an absolute URL"}},
		{name: "no host", value: "https://", want: []string{"not an absolute URL"}},
		{name: "bad escape", value: "https://host/%zz", want: []string{"not an absolute URL"}},
		{name: "connection string pasted", value: "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + secretKey,
			shows: "<not shown", secret: secretKey, want: []string{"not an absolute URL"}},
		{name: "SAS URL over http", value: "http://acct.blob.core.windows.net/?sv=2024-11-04&" + secretSig,
			shows: "<not shown", secret: "SuperSecretSignature", want: []string{"must be https"}},
	}
}

// badPercent are bad values of a percentage threshold.
func badPercent() []badValue {
	return []badValue{
		{name: "word", value: "most", want: []string{"from 0 to 100"}},
		{name: "over 100", value: "150%", want: []string{"from 0 to 100"}},
		{name: "negative", value: "-1", want: []string{"from 0 to 100"}},
		{name: "fraction", value: "0.5", want: []string{"from 0 to 100"}},
		{name: "lone percent sign", value: "%", want: []string{"from 0 to 100"}},
		{name: "two percent signs", value: "50%%", want: []string{"from 0 to 100"}},
	}
}

// badStorage returns the bad values of the storage settings under prefix.
func badStorage(prefix string) []badValue {
	// Without a connection string, the identity-based settings are read.
	noConn := map[string]string{KeyWebJobs: "", KeyStorage: ""}
	byAccount := map[string]string{KeyWebJobs: "", KeyStorage: "", prefix + "__accountName": "acct"}
	var out []badValue
	out = append(out,
		badValue{key: prefix, name: "dev shortcut", value: "UseDevelopmentStorage=true", want: []string{"Azurite's full connection string"}},
		badValue{key: prefix, name: "key without account", value: "AccountKey=" + secretKey, shows: "<connection string>", secret: secretKey, want: []string{"neither BlobEndpoint nor AccountName"}},
		badValue{key: prefix, name: "url for connection string", value: "https://acct.blob.core.windows.net/", shows: "<connection string>", want: []string{"neither BlobEndpoint nor AccountName"}},
		badValue{key: prefix + "__accountName", name: "upper case", value: "Reports_Acct", also: noConn, want: []string{"3–24 lower-case letters and digits"}},
		badValue{key: prefix + "__accountName", name: "too short", value: "ab", also: noConn, want: []string{"3–24"}},
		badValue{key: prefix + "__accountName", name: "too long", value: strings.Repeat("a", 25), also: noConn, want: []string{"3–24"}},
		badValue{key: prefix + "__accountName", name: "host name", value: "acct.blob.core.windows.net", also: noConn, want: []string{"3–24"}},
		badValue{key: prefix + "__clientId", name: "not a GUID", value: "reports-identity", also: byAccount, want: []string{"not a GUID"}},
		badValue{key: prefix + "__clientId", name: "braces", value: "{" + miID + "}", also: byAccount, want: []string{"not a GUID"}},
	)
	for _, svc := range []string{"__blobServiceUri", "__queueServiceUri"} {
		for _, b := range badURL() {
			b.key, b.also = prefix+svc, noConn
			out = append(out, b)
		}
	}
	return out
}

// settingCases is the bad-input matrix: every setting Load reads, with the
// values an operator can get wrong.
func settingCases() []badValue {
	var cases []badValue
	add := func(key string, bs ...badValue) {
		for _, b := range bs {
			b.key = key
			cases = append(cases, b)
		}
	}
	add(KeyTenants, badTenants()...)
	add(KeyBridgeApp, badGUID()...)
	add(KeyMIClientID, badGUID()...)
	add(KeyCloud,
		badValue{name: "unknown", value: "mars", want: []string{"public, usgov, usgovdod, china"}},
		badValue{name: "display name", value: "Azure Government", want: []string{"public, usgov, usgovdod, china"}},
		badValue{name: "number", value: "1", want: []string{"public, usgov"}},
	)
	add(KeyAuthorityHost, badURL()...)
	add(KeyGraphEndpoint, badURL()...)
	add(KeySchedule,
		badValue{name: "five fields", value: "0 6 * * *", want: []string{"5 fields, want 6"}},
		badValue{name: "seven fields", value: "0 0 6 * * * 2026", want: []string{"7 fields, want 6"}},
		badValue{name: "macro", value: "@daily", want: []string{"1 fields, want 6"}},
		badValue{name: "blank", value: "   ", shows: `"   "`, want: []string{"0 fields"}},
		badValue{name: "question mark", value: "0 0 6 ? * *", want: []string{`field "?"`}},
		badValue{name: "second 60", value: "60 0 6 * * *", want: []string{`second field "60"`, "out of range 0–59"}},
		badValue{name: "hour 25", value: "0 0 25 * * *", want: []string{`hour field "25"`, "out of range 0–23"}},
		badValue{name: "day 0", value: "0 0 6 0 * *", want: []string{`day field "0"`, "out of range 1–31"}},
		badValue{name: "month 13", value: "0 0 6 * 13 *", want: []string{`month field "13"`, "1–12"}},
		badValue{name: "day of week 7", value: "0 0 6 * * 7", want: []string{`day-of-week field "7"`, "0–6"}},
		badValue{name: "range end out of range", value: "0 0 6-24 * * *", want: []string{`hour field "6-24"`, "24 is out of range"}},
		badValue{name: "unknown name", value: "0 0 6 * * funday", want: []string{`"funday" is neither a number`}},
		badValue{name: "name in the hour", value: "0 0 six * * *", want: []string{`"six" is not a number from 0 to 23`}},
		badValue{name: "step zero", value: "0 */0 * * * *", want: []string{`step "0"`}},
		badValue{name: "empty list item", value: "0 0 6,,7 * * *", want: []string{`"" is not a number`}},
	)
	add(KeyContainer,
		badValue{name: "upper case", value: "Reports", want: []string{"3–63 lower-case"}},
		badValue{name: "too short", value: "ab", want: []string{"3–63"}},
		badValue{name: "too long", value: strings.Repeat("r", 64), want: []string{"3–63"}},
		badValue{name: "double hyphen", value: "tenant--reports", want: []string{"single hyphens"}},
		badValue{name: "leading hyphen", value: "-reports", want: []string{"3–63"}},
		badValue{name: "path", value: "reports/2026", want: []string{"3–63"}},
		badValue{name: "newline", value: "\n", shows: `"\n"`, want: []string{"3–63"}},
	)
	add(KeyConcurrency,
		badValue{name: "word", value: "many", want: []string{"from 1 to 1024"}},
		badValue{name: "zero", value: "0", want: []string{"from 1 to 1024"}},
		badValue{name: "negative", value: "-1", want: []string{"from 1 to 1024"}},
		badValue{name: "over the cap", value: "1025", want: []string{"from 1 to 1024"}},
		badValue{name: "overflow", value: "99999999999999999999", want: []string{"from 1 to 1024"}},
		badValue{name: "fraction", value: "1.5", want: []string{"from 1 to 1024"}},
		badValue{name: "leading space", value: " 3", shows: `" 3"`, want: []string{"from 1 to 1024"}},
	)
	add(KeyPacing,
		badValue{name: "word", value: "sometimes", want: []string{"want on or off"}},
		badValue{name: "bool", value: "true", want: []string{"want on or off"}},
		badValue{name: "blank", value: " ", shows: `" "`, want: []string{"want on or off"}},
	)
	add(KeyTenantWorkbooks,
		badValue{name: "word", value: "yes", want: []string{"want on or off"}},
		badValue{name: "bool", value: "false", want: []string{"want on or off"}},
		badValue{name: "number", value: "0", want: []string{"want on or off"}},
		badValue{name: "padded", value: " off", shows: `" off"`, want: []string{"want on or off"}},
	)
	// The API's settings other than its client id are checked with it set:
	// alone, each is a half-done configuration.
	api := map[string]string{KeyAPIClientID: appID, KeyAPITenant: miID}
	add(KeyAPIClientID,
		badValue{name: "name", value: "tenantreport-api", also: api, want: []string{"not a GUID"}},
		badValue{name: "braces", value: "{" + appID + "}", also: api, want: []string{"not a GUID"}},
		badValue{name: "app ID URI", value: "api://" + appID, also: api, want: []string{"not a GUID"}},
	)
	add(KeyAPITenant,
		badValue{name: "missing", value: "", also: map[string]string{KeyAPIClientID: appID}, missing: true, want: []string{"home tenant id"}},
		badValue{name: "domain", value: "contoso.onmicrosoft.com", also: api, want: []string{"not a GUID"}},
		badValue{name: "without the client id", value: tenantA, want: []string{"set " + KeyAPIClientID + " too"}},
	)
	add(KeyAPIAppIDURI,
		badValue{name: "no scheme", value: "tenantreport-api", also: api, want: []string{"application ID URI", "api://" + appID}},
		badValue{name: "trailing slash", value: "api://" + appID + "/", also: api, want: []string{"application ID URI"}},
		badValue{name: "with scope", value: "api://" + appID + "/.default ", also: api, shows: "api://" + appID + "/.default", want: []string{"application ID URI"}},
		badValue{name: "without the client id", value: "api://" + appID, want: []string{"set " + KeyAPIClientID + " too"}},
	)
	add(KeyAPICallers,
		badValue{name: "list", value: `["` + appID + `"]`, also: api, want: []string{`{"<caller app id`}},
		badValue{name: "trailing data", value: `{}}`, also: api, want: []string{`{"<caller app id`}},
		badValue{name: "tenants as a string", value: `{"` + appID + `":"` + tenantA + `"}`, also: api, want: []string{`{"<caller app id`}},
		badValue{name: "caller not a GUID", value: `{"contoso-automation":["` + tenantA + `"]}`, also: api, shows: "contoso-automation", want: []string{"client app id or its service principal's object id"}},
		badValue{name: "tenant not configured", value: `{"` + appID + `":["` + miID + `"]}`, also: api, field: KeyAPICallers + "[" + appID + "][0]", shows: miID, want: []string{"not a tenant of " + KeyTenants}},
		badValue{name: "without the client id", value: `{}`, want: []string{"set " + KeyAPIClientID + " too"}},
	)
	add(KeyTenantTimeout,
		badValue{name: "no unit", value: "20", want: []string{"Go duration above 0"}},
		badValue{name: "word", value: "forever", want: []string{"Go duration"}},
		badValue{name: "negative", value: "-5m", want: []string{"above 0"}},
		badValue{name: "zero", value: "0s", want: []string{"above 0"}},
		badValue{name: "overflow", value: "9999999999h", want: []string{"Go duration"}},
		badValue{name: "days", value: "1d", want: []string{"Go duration"}},
	)
	add(KeyTimeScale,
		badValue{name: "word", value: "fast", want: []string{"above 0 and at most 1"}},
		badValue{name: "zero", value: "0", want: []string{"above 0 and at most 1"}},
		badValue{name: "negative", value: "-0.5", want: []string{"above 0"}},
		badValue{name: "above 1", value: "2", want: []string{"at most 1"}},
		badValue{name: "NaN", value: "NaN", want: []string{"above 0"}},
		badValue{name: "infinity", value: "Inf", want: []string{"above 0"}},
		badValue{name: "overflow", value: "1e400", want: []string{"above 0"}},
		badValue{name: "percent", value: "1%", want: []string{"above 0"}},
	)
	add(KeySections,
		badValue{name: "unknown", value: "users,mfa-status", want: []string{`unknown section "mfa-status"`, "valid sections are tenant, users"}},
		badValue{name: "semicolons", value: "users;devices", want: []string{`unknown section "users;devices"`}},
		badValue{name: "only commas", value: " , ", shows: ",", want: []string{"no section named"}},
	)
	cases = append(cases, badStorage(KeyWebJobs)...)
	cases = append(cases, badStorage(KeyStorage)...)
	add(KeyWasteSeats,
		badValue{name: "zero", value: "0", want: []string{"from 1 to 1000000"}},
		badValue{name: "word", value: "five", want: []string{"from 1 to 1000000"}},
		badValue{name: "lone percent sign", value: "%", want: []string{"from 1 to 1000000"}},
		badValue{name: "over the cap", value: "1000001", want: []string{"from 1 to 1000000"}},
		badValue{name: "fraction", value: "5.5", want: []string{"from 1 to 1000000"}},
	)
	add(KeyWastePercent, badPercent()...)
	add(KeyMFAPercent, badPercent()...)
	add(KeyScorePercent, badPercent()...)
	return cases
}

// noBadValue are the settings Load reads that no value makes invalid
// there, and why.
var noBadValue = map[string]string{
	// Any path: the handler reads the file and names the setting when it
	// cannot (handler/wire.go); Load reads no files.
	KeyCAFile: "a path, checked where the file is read",
}

// keysLoadReads returns every setting Load asks getenv for.
func keysLoadReads(t *testing.T) []string {
	t.Helper()
	var (
		mu   sync.Mutex
		seen []string
	)
	_, _ = Load(func(k string) string {
		mu.Lock()
		defer mu.Unlock()
		if !slices.Contains(seen, k) {
			seen = append(seen, k)
		}
		return ""
	})
	slices.Sort(seen)
	return seen
}

// TestEverySettingRejectsBadValues is the bad-input matrix of the settings:
// each bad value of each setting is an error that names the setting, shows
// the value (quoted when it would not read as itself, never a key), says
// what is wrong, and wraps ErrInvalid or ErrMissing. A setting Load reads
// without a case here fails the test.
func TestEverySettingRejectsBadValues(t *testing.T) {
	cases := settingCases()
	covered := map[string]bool{}
	for _, tc := range cases {
		covered[tc.key] = true
	}
	keys := keysLoadReads(t)
	for _, k := range keys {
		if !covered[k] && noBadValue[k] == "" {
			t.Errorf("Load reads %s, but the matrix has no bad value for it: add its cases to settingCases", k)
		}
	}
	for k := range covered {
		if !slices.Contains(keys, k) {
			t.Errorf("settingCases has cases for %s, which Load does not read", k)
		}
	}
	t.Logf("%d bad values of %d settings", len(cases), len(covered))

	for _, tc := range cases {
		t.Run(tc.key+"/"+tc.name, func(t *testing.T) {
			m := valid()
			for k, v := range tc.also {
				m[k] = v
			}
			m[tc.key] = tc.value
			_, err := Load(env(m))
			if err == nil {
				t.Fatalf("Load(%s=%q) = nil, want an error", tc.key, tc.value)
			}
			field := cmp.Or(tc.field, tc.key)
			shows := tc.shows
			if shows == "" && !tc.missing {
				shows = tc.value
				if needsQuotes(shows) {
					shows = strconv.Quote(shows)
				}
			}
			var fe *FieldError
			for _, e := range unjoin(err) {
				if f := (*FieldError)(nil); errors.As(e, &f) && f.Field == field {
					fe = f
				}
			}
			if fe == nil {
				t.Fatalf("Load(%s=%q) = %v, want an error naming %s", tc.key, tc.value, err, field)
			}
			msg := fe.Error()
			wantErr := ErrInvalid
			if tc.missing {
				wantErr = ErrMissing
			}
			if !errors.Is(fe, wantErr) {
				t.Errorf("Load(%s=%q) = %q, want it to wrap %v", tc.key, tc.value, msg, wantErr)
			}
			if !strings.HasPrefix(msg, "settings: "+field+": ") {
				t.Errorf("Load(%s=%q) = %q, want it to start with settings: %s:", tc.key, tc.value, msg, field)
			}
			if !tc.missing && !strings.Contains(msg, "got "+shows) {
				t.Errorf("Load(%s=%q) = %q, want it to show the value as %s", tc.key, tc.value, msg, shows)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("Load(%s=%q) = %q, want it to say %q", tc.key, tc.value, msg, w)
				}
			}
			if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
				t.Errorf("Load(%s=…) = %q, which repeats the secret", tc.key, err)
			}
			// One bad value is one error: no knock-on errors from other
			// settings that read the same value.
			if n := len(unjoin(err)); n != 1 {
				t.Errorf("Load(%s=%q) = %d errors (%v), want 1", tc.key, tc.value, n, err)
			}
		})
	}
}

// TestReadmeNamesEverySetting: the README's settings table names every
// setting Load reads (the identity-based storage settings by their suffix,
// as the table writes them).
func TestReadmeNamesEverySetting(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, k := range keysLoadReads(t) {
		want := "`" + k + "`"
		if _, suffix, ok := strings.Cut(k, "__"); ok {
			want = "__" + suffix
		}
		if !strings.Contains(readme, want) {
			t.Errorf("README.md does not name the setting %s (looked for %s)", k, want)
		}
	}
}

// TestSecretsNeverShown: whatever setting a storage key or SAS signature is
// pasted into, no error repeats it.
func TestSecretsNeverShown(t *testing.T) {
	for _, k := range keysLoadReads(t) {
		for _, v := range []string{
			"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + secretKey,
			"http://acct.blob.core.windows.net/reports?sv=2024-11-04&" + secretSig,
			"BlobEndpoint=http://x/;SharedAccessSignature=sv=2024&" + secretSig,
		} {
			m := valid()
			m[k] = v
			_, err := Load(env(m))
			if err != nil && (strings.Contains(err.Error(), secretKey) || strings.Contains(err.Error(), "SuperSecretSignature")) {
				t.Errorf("Load(%s=%.40q…) = %q, which repeats the secret", k, v, err)
			}
		}
	}
}
