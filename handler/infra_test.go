package main

// Drift checks between the code and the files that deploy it, none of which a Go build sees:
// infra/ (Bicep, read as text: no Bicep compiler runs here), azure.yaml and the packaging script,
// and the Functions files the host reads (host.json, <Function>/function.json, parsed as JSON)
// against the custom-handler contract of DESIGN.md §3.
//
//	go test -run 'TestInfra|TestFunctions' ./handler/
//
// The Entra-authenticated API (DESIGN.md §10) has its own: TestFunctionsReportEntra and
// TestFunctionsBindings for the function the host routes to it, TestInfraEntraAPI* for the API app
// (infra/modules/apiapp.bicep) and the REPORT_API_* settings.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tenantreport/tenantreport/internal/customhandler"
	"github.com/tenantreport/tenantreport/internal/graphdata"
	"github.com/tenantreport/tenantreport/internal/settings"
)

// infraPath is a path relative to the repository root (go test runs in handler/).
func infraPath(parts ...string) string {
	return filepath.Join(append([]string{".."}, parts...)...)
}

func infraRead(t *testing.T, parts ...string) string {
	t.Helper()
	b, err := os.ReadFile(infraPath(parts...))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func infraReadJSON(t *testing.T, v any, parts ...string) {
	t.Helper()
	if err := json.Unmarshal([]byte(infraRead(t, parts...)), v); err != nil {
		t.Fatalf("%s: %v", filepath.Join(parts...), err)
	}
}

// infraBicepFiles returns every infra/**/*.bicep by path relative to infra/.
func infraBicepFiles(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(infraPath("infra"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".bicep" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(infraPath("infra"), path)
		files[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files["main.bicep"] == "" {
		t.Fatal("infra/main.bicep is missing")
	}
	return files
}

// bicepCode masks a Bicep source for structural scanning: comments and the text of string
// literals become spaces (newlines stay, so offsets and line numbers hold), while the code inside
// ${...} interpolations stays, braces included. It fails on an unterminated string or comment.
func bicepCode(src string) (string, error) { return bicepMask(src, true) }

// bicepWithoutComments blanks the comments of a Bicep source and keeps everything else.
func bicepWithoutComments(src string) (string, error) { return bicepMask(src, false) }

func bicepMask(src string, strs bool) (string, error) {
	out := []byte(src)
	blank := func(from, to int) {
		for i := from; i < to; i++ {
			if out[i] != '\n' {
				out[i] = ' '
			}
		}
	}
	blankString := func(from, to int) {
		if strs {
			blank(from, to)
		}
	}
	// stack of open braces in code: 'I' closes an interpolation (back into its string), 'C' code.
	var stack []byte
	inString := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		if inString {
			switch {
			case c == '\\':
				blankString(i, min(i+2, len(src)))
				i++
			case c == '\'':
				blankString(i, i+1)
				inString = false
			case c == '$' && i+1 < len(src) && src[i+1] == '{':
				stack = append(stack, 'I')
				inString = false
				i++
			default:
				blankString(i, i+1)
			}
			continue
		}
		switch {
		case strings.HasPrefix(src[i:], "//"):
			end := strings.IndexByte(src[i:], '\n')
			if end < 0 {
				end = len(src) - i
			}
			blank(i, i+end)
			i += end - 1
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return "", fmt.Errorf("line %d: unterminated /* comment", lineAt(src, i))
			}
			blank(i, i+2+end+2)
			i += 2 + end + 1
		case strings.HasPrefix(src[i:], "'''"):
			end := strings.Index(src[i+3:], "'''")
			if end < 0 {
				return "", fmt.Errorf("line %d: unterminated ''' string", lineAt(src, i))
			}
			blankString(i, i+3+end+3)
			i += 3 + end + 2
		case c == '\'':
			blankString(i, i+1)
			inString = true
		case c == '{':
			stack = append(stack, 'C')
		case c == '}':
			if n := len(stack); n > 0 && stack[n-1] == 'I' {
				stack = stack[:n-1]
				inString = true
			} else if n > 0 {
				stack = stack[:n-1]
			}
		}
	}
	if inString {
		return "", fmt.Errorf("unterminated string")
	}
	return string(out), nil
}

func lineAt(src string, offset int) int { return strings.Count(src[:offset], "\n") + 1 }

// bicepBalanced reports the first unbalanced (), [] or {} of a masked source.
func bicepBalanced(src, code string) error {
	type open struct {
		closer byte
		at     int
	}
	pairs := map[byte]byte{'(': ')', '[': ']', '{': '}'}
	var stack []open
	for i := 0; i < len(code); i++ {
		c := code[i]
		if closer, ok := pairs[c]; ok {
			stack = append(stack, open{closer, i})
			continue
		}
		if c != ')' && c != ']' && c != '}' {
			continue
		}
		if len(stack) == 0 || stack[len(stack)-1].closer != c {
			return fmt.Errorf("line %d: unexpected %q", lineAt(src, i), c)
		}
		stack = stack[:len(stack)-1]
	}
	if len(stack) > 0 {
		return fmt.Errorf("line %d: %q never closed", lineAt(src, stack[len(stack)-1].at), code[stack[len(stack)-1].at])
	}
	return nil
}

// bicepValue returns the source text of the array or object literal that follows decl (such as
// "var graphAppRoles ="), which must occur once in src outside comments and strings.
func bicepValue(t *testing.T, src, decl string) string {
	t.Helper()
	code, err := bicepCode(src)
	if err != nil {
		t.Fatal(err)
	}
	at := strings.Index(code, decl)
	if at < 0 || strings.Contains(code[at+len(decl):], decl) {
		t.Fatalf("want exactly one %q in the Bicep source", decl)
	}
	return bicepValueAt(t, src, at+len(decl))
}

// bicepValueAt returns the source text of the first array, object or parenthesised literal at or
// after offset (which must be outside comments and strings), from its opening to its closing
// delimiter.
func bicepValueAt(t *testing.T, src string, offset int) string {
	t.Helper()
	code, err := bicepCode(src)
	if err != nil {
		t.Fatal(err)
	}
	start := strings.IndexAny(code[offset:], "[{(")
	if start < 0 {
		t.Fatalf("line %d: no literal follows", lineAt(src, offset))
	}
	start += offset
	depth := 0
	for i := start; i < len(code); i++ {
		switch code[i] {
		case '[', '{', '(':
			depth++
		case ']', '}', ')':
			depth--
			if depth == 0 {
				return src[start : i+1]
			}
		}
	}
	t.Fatalf("line %d: literal never closed", lineAt(src, start))
	return ""
}

var (
	infraGUID = regexp.MustCompile(`(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`)
	// { name: 'User.Read.All', id: '…' }, on one line or several.
	infraRoleEntry = regexp.MustCompile(`\{\s*name:\s*'([^']+)'\s*,?\s*id:\s*'([^']+)'\s*,?\s*\}`)
	// A property of an object literal: key: 'value'.
	infraStringProp = regexp.MustCompile(`(?m)^\s*'?([\w.-]+)'?:\s*'([^']*)'`)
)

// infraGraphAppRoles is main.bicep's graphAppRoles: the one list of Graph permissions in infra/.
func infraGraphAppRoles(t *testing.T) []graphdata.Permission {
	t.Helper()
	block := bicepValue(t, infraBicepFiles(t)["main.bicep"], "var graphAppRoles =")
	var roles []graphdata.Permission
	for _, m := range infraRoleEntry.FindAllStringSubmatch(block, -1) {
		roles = append(roles, graphdata.Permission{Name: m[1], ID: strings.ToLower(m[2])})
	}
	if len(roles) == 0 {
		t.Fatalf("graphAppRoles has no { name: '…', id: '…' } entries:\n%s", block)
	}
	if guids := infraGUID.FindAllString(block, -1); len(guids) != len(roles) {
		t.Fatalf("graphAppRoles holds %d GUIDs but %d { name, id } entries: every id needs its permission name", len(guids), len(roles))
	}
	return roles
}

// TestInfraGraphPermissionsCoverCode: the bridge app requests every permission the report's
// sections need, or the consented app could not read what the code asks Graph for.
func TestInfraGraphPermissionsCoverCode(t *testing.T) {
	roles := infraGraphAppRoles(t)
	need := graphdata.LeastPrivilege(settings.AllSections())
	if len(need) == 0 {
		t.Fatal("graphdata.LeastPrivilege(settings.AllSections()) is empty")
	}
	for _, p := range need {
		if !slices.Contains(roles, p) {
			t.Errorf("infra/main.bicep graphAppRoles lacks %s (%s), which sections %v need: add { name: '%s', id: '%s' }",
				p.Name, p.ID, settings.AllSections(), p.Name, p.ID)
		}
	}
}

// TestInfraGraphPermissionsAreKnown: every permission in Bicep is one the code knows, under the
// same name and app role id, and appears once. A typo in a GUID would otherwise request some other
// permission, or none, and customers would consent to it.
func TestInfraGraphPermissionsAreKnown(t *testing.T) {
	roles := infraGraphAppRoles(t)
	seen := map[string]bool{}
	for _, r := range roles {
		p, ok := graphdata.PermissionByName(r.Name)
		switch {
		case !ok:
			t.Errorf("graphAppRoles: %s is not a permission internal/graphdata knows", r.Name)
		case p.ID != r.ID:
			t.Errorf("graphAppRoles: %s has id %s, the code says %s", r.Name, r.ID, p.ID)
		}
		if seen[r.Name] || seen[r.ID] {
			t.Errorf("graphAppRoles: %s (%s) is listed twice", r.Name, r.ID)
		}
		seen[r.Name], seen[r.ID] = true, true
	}
	// Least privilege: nothing beyond what some section needs (Directory.Read.All would cover
	// everything, and is exactly what a customer's admin should not be asked for).
	need := graphdata.LeastPrivilege(settings.AllSections())
	for _, r := range roles {
		if !slices.ContainsFunc(need, func(p graphdata.Permission) bool { return p.Name == r.Name }) {
			t.Errorf("graphAppRoles requests %s, which no report section needs (handler permissions --json)", r.Name)
		}
	}
}

// TestInfraGraphPermissionsInOnePlace: the list is defined once (main.bicep) and reaches the app
// registration as application permissions ("Role") on Microsoft Graph.
func TestInfraGraphPermissionsInOnePlace(t *testing.T) {
	files := infraBicepFiles(t)
	for _, r := range infraGraphAppRoles(t) {
		n := 0
		for _, src := range files {
			n += strings.Count(strings.ToLower(src), r.ID)
		}
		if n != 1 {
			t.Errorf("app role id %s (%s) appears %d times in infra/*.bicep, want once (in main.bicep graphAppRoles)", r.ID, r.Name, n)
		}
	}
	bridge := files["modules/bridgeapp.bicep"]
	for _, want := range []string{
		"'Microsoft.Graph/applications@v1.0'",
		"'federatedIdentityCredentials@v1.0'",
		"'Microsoft.Graph/servicePrincipals@v1.0'",
		"signInAudience: 'AzureADMultipleOrgs'",
		"'" + graphAppID + "'",
		"type: 'Role'",
		"for role in graphAppRoles",
		"name: '${app.uniqueName}/",
		"issuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'",
		"subject: managedIdentityPrincipalId",
	} {
		if !strings.Contains(bridge, want) {
			t.Errorf("infra/modules/bridgeapp.bicep lacks %s", want)
		}
	}
	if !strings.Contains(files["main.bicep"], "graphAppRoles: graphAppRoles") {
		t.Error("main.bicep does not pass graphAppRoles to the bridge app module")
	}
}

// TestInfraFederatedCredentialAudiences: the FIC's audience per cloud is the audience the handler
// asks the managed identity for (internal/settings), for every cloud the template accepts.
func TestInfraFederatedCredentialAudiences(t *testing.T) {
	main := infraBicepFiles(t)["main.bicep"]
	audiences := map[string]string{}
	for _, m := range infraStringProp.FindAllStringSubmatch(bicepValue(t, main, "var exchangeAudiences ="), -1) {
		audiences[m[1]] = m[2]
	}
	at := strings.Index(main, "\nparam reportCloud ")
	allowedAt := strings.LastIndex(main[:max(at, 0)], "\n@allowed(")
	if at < 0 || allowedAt < 0 || strings.Contains(main[allowedAt:at], "\nparam ") {
		t.Fatal("main.bicep: want @allowed([...]) on param reportCloud")
	}
	var allowed []string
	for _, m := range regexp.MustCompile(`'([^']+)'`).FindAllStringSubmatch(bicepValueAt(t, main, allowedAt), -1) {
		allowed = append(allowed, m[1])
	}
	if len(allowed) == 0 || len(allowed) != len(audiences) {
		t.Fatalf("reportCloud allows %v, exchangeAudiences covers %v: want the same clouds", allowed, audiences)
	}
	for _, name := range allowed {
		cloud, err := settings.LoadCloud(func(k string) string {
			if k == settings.KeyCloud {
				return name
			}
			return ""
		})
		if err != nil {
			t.Errorf("reportCloud allows %q, which the handler refuses: %v", name, err)
			continue
		}
		if got := audiences[name]; got != cloud.ExchangeAudience {
			t.Errorf("exchangeAudiences.%s = %q, the handler asks the managed identity for %q", name, got, cloud.ExchangeAudience)
		}
	}
	if !strings.Contains(main, "exchangeAudience: exchangeAudiences[reportCloud]") {
		t.Error("main.bicep does not give the bridge app the audience of reportCloud")
	}
	if !strings.Contains(main, "REPORT_CLOUD: reportCloud") {
		t.Error("main.bicep does not set REPORT_CLOUD from reportCloud (the FIC audience and the handler must agree)")
	}
}

// TestInfraConsentRedirect: admin consent ends on the page the handler's consent URLs name
// (internal/settings Cloud.ConsentRedirectURI), which the bridge app registers as a web redirect
// URI, for every cloud; otherwise Entra ends the consent on AADSTS500113 or AADSTS900971.
func TestInfraConsentRedirect(t *testing.T) {
	files := infraBicepFiles(t)
	main := files["main.bicep"]
	uris := map[string]string{}
	for _, m := range infraStringProp.FindAllStringSubmatch(bicepValue(t, main, "var consentRedirectUris ="), -1) {
		uris[m[1]] = m[2]
	}
	audiences := map[string]string{}
	for _, m := range infraStringProp.FindAllStringSubmatch(bicepValue(t, main, "var exchangeAudiences ="), -1) {
		audiences[m[1]] = m[2]
	}
	if len(uris) != len(audiences) {
		t.Errorf("consentRedirectUris covers %v, exchangeAudiences %v: want the same clouds", uris, audiences)
	}
	for name := range audiences {
		cloud, err := settings.LoadCloud(func(k string) string {
			if k == settings.KeyCloud {
				return name
			}
			return ""
		})
		if err != nil {
			t.Errorf("cloud %q: %v", name, err)
			continue
		}
		if got := uris[name]; got == "" || got != cloud.ConsentRedirectURI {
			t.Errorf("consentRedirectUris.%s = %q, the handler's consent URLs redirect to %q", name, got, cloud.ConsentRedirectURI)
		}
	}
	for _, want := range []string{
		"consentRedirectUri: consentRedirectUris[reportCloud]",
		"/adminconsent?client_id=${bridgeApp.outputs.appId}&redirect_uri=${uriComponent(consentRedirectUris[reportCloud])}'",
	} {
		if !strings.Contains(main, want) {
			t.Errorf("main.bicep lacks %s", want)
		}
	}
	bridge := files["modules/bridgeapp.bicep"]
	if !strings.Contains(bridge, "param consentRedirectUri string") {
		t.Error("infra/modules/bridgeapp.bicep lacks param consentRedirectUri string")
	}
	web, err := bicepWithoutComments(bicepValue(t, bridge, "web:"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`redirectUris:\s*\[\s*consentRedirectUri\s*\]`).MatchString(web) {
		t.Errorf("infra/modules/bridgeapp.bicep web = %s, want redirectUris: [ consentRedirectUri ]", web)
	}
}

// TestInfraAppSettings: the Function App gets every setting the handler requires, in the identity
// form, and none that Flex Consumption rejects or that would carry a secret.
func TestInfraAppSettings(t *testing.T) {
	// Comments may name what the code must not do; only the code counts.
	var all strings.Builder
	for name, src := range infraBicepFiles(t) {
		code, err := bicepWithoutComments(src)
		if err != nil {
			t.Fatalf("infra/%s: %v", name, err)
		}
		all.WriteString(code)
	}
	text := all.String()
	for _, key := range []string{
		settings.KeyTenants, settings.KeyBridgeApp, settings.KeyMIClientID, settings.KeyCloud,
		settings.KeySchedule, settings.KeyContainer, settings.KeyConcurrency, settings.KeySections,
		settings.KeyWebJobs + "__blobServiceUri", settings.KeyWebJobs + "__queueServiceUri",
		settings.KeyWebJobs + "__tableServiceUri", settings.KeyWebJobs + "__clientId",
		"APPLICATIONINSIGHTS_CONNECTION_STRING",
		settings.KeyAPITenant, settings.KeyAPIClientID, settings.KeyAPIAppIDURI, settings.KeyAPICallers,
	} {
		if !strings.Contains(text, key+":") {
			t.Errorf("no Bicep file sets the app setting %s", key)
		}
	}
	for _, want := range []string{
		settings.KeyTenants + ": string(tenants)",
		settings.KeyWebJobs + "__credential: 'managedidentity'",
		"APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'",
		"allowSharedKeyAccess: false",
		"allowBlobPublicAccess: false",
		"minimumTlsVersion: 'TLS1_2'",
		"DisableLocalAuth: true",
		"name: 'FC1'",
		"kind: 'functionapp,linux'",
		"type: 'UserAssignedIdentity'",
		"name: 'custom'",
		"param instanceMemoryMB int = 2048",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no Bicep file has %s", want)
		}
	}
	for _, bad := range []string{
		"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE",
		settings.KeyWebJobs + ":", "AccountKey", "listKeys(", "passwordCredentials", "@secure()",
	} {
		if strings.Contains(text, bad) {
			t.Errorf("a Bicep file has %s: Flex Consumption rejects it, or it is a secret", bad)
		}
	}
	// The handler's defaults are the template's, and an empty tenant list is refused at deployment.
	main := infraBicepFiles(t)["main.bicep"]
	for _, want := range []string{
		"param reportSchedule string = '" + settings.DefaultSchedule + "'",
		"param reportConcurrency int = " + strconv.Itoa(settings.DefaultConcurrency),
		"var reportsContainerName = '" + settings.DefaultContainer + "'",
	} {
		if !strings.Contains(main, want) {
			t.Errorf("main.bicep lacks %s", want)
		}
	}
	at := strings.Index(main, "\nparam tenants tenantType[]")
	decorators := main[strings.LastIndex(main[:max(at, 0)], "\n\n")+1 : max(at, 0)]
	if at < 0 || !strings.Contains(decorators, "@minLength(1)") {
		t.Error("main.bicep: want param tenants tenantType[] with @minLength(1): the handler refuses an empty REPORT_TENANTS")
	}
}

// TestInfraParameters: main.parameters.json feeds exactly main.bicep's parameters, every required
// one, from azd variables named like the app settings they become.
func TestInfraParameters(t *testing.T) {
	main := infraBicepFiles(t)["main.bicep"]
	params := map[string]bool{} // name → required
	for _, m := range regexp.MustCompile(`(?m)^param\s+(\w+)\s+\S+(\s*=)?`).FindAllStringSubmatch(main, -1) {
		params[m[1]] = m[2] == ""
	}
	raw := infraRead(t, "infra", "main.parameters.json")
	// azd substitutes ${VAR} and ${VAR=default} in the file's text before parsing it.
	placeholder := regexp.MustCompile(`\$\{(\w+)(?:=([^}]*))?\}`)
	vars := map[string]string{} // parameter → azd variable
	defaults := map[string]string{}
	for _, m := range regexp.MustCompile(`"(\w+)":\s*\{\s*"value":\s*"?\$\{(\w+)(?:=([^}]*))?\}`).FindAllStringSubmatch(raw, -1) {
		vars[m[1]], defaults[m[2]] = m[2], m[3]
	}
	substituted := placeholder.ReplaceAllStringFunc(raw, func(s string) string {
		m := placeholder.FindStringSubmatch(s)
		if strings.Contains(s, "=") {
			return m[2]
		}
		return "x" + m[1]
	})
	var file struct {
		Parameters map[string]struct {
			Value json.RawMessage `json:"value"`
		} `json:"parameters"`
	}
	if err := json.Unmarshal([]byte(substituted), &file); err != nil {
		t.Fatalf("main.parameters.json after substitution: %v\n%s", err, substituted)
	}
	for name := range file.Parameters {
		if _, ok := params[name]; !ok {
			t.Errorf("main.parameters.json sets %s, which main.bicep does not declare", name)
		}
	}
	for name, required := range params {
		if _, ok := file.Parameters[name]; required && !ok {
			t.Errorf("main.bicep requires %s, which main.parameters.json does not set", name)
		}
	}
	for param, env := range map[string]string{
		"environmentName":   "AZURE_ENV_NAME",
		"location":          "AZURE_LOCATION",
		"tenants":           settings.KeyTenants,
		"reportSchedule":    settings.KeySchedule,
		"reportCloud":       settings.KeyCloud,
		"reportConcurrency": settings.KeyConcurrency,
		"reportSections":    settings.KeySections,
	} {
		if vars[param] != env {
			t.Errorf("main.parameters.json: %s comes from ${%s}, want ${%s}", param, vars[param], env)
		}
	}
	// apiCallers (the callers of /api/entra/reports, their roles and tenants) is no app setting as
	// such: it comes from API_CALLERS, and without it from an empty list (nobody is assigned a role).
	if vars["apiCallers"] != "API_CALLERS" || defaults["API_CALLERS"] != "[]" {
		t.Errorf("main.parameters.json: apiCallers comes from ${%s=%s}, want ${API_CALLERS=[]}", vars["apiCallers"], defaults[vars["apiCallers"]])
	}
	var callers []json.RawMessage
	if err := json.Unmarshal(file.Parameters["apiCallers"].Value, &callers); err != nil {
		t.Errorf("main.parameters.json: apiCallers is not a JSON array once substituted: %v", err)
	}
	if got := defaults[settings.KeySchedule]; got != settings.DefaultSchedule {
		t.Errorf("main.parameters.json: ${%s=%s}, want the handler's default %s", settings.KeySchedule, got, settings.DefaultSchedule)
	}
	if got := defaults[settings.KeyConcurrency]; got != strconv.Itoa(settings.DefaultConcurrency) {
		t.Errorf("main.parameters.json: ${%s=%s}, want the handler's default %d", settings.KeyConcurrency, got, settings.DefaultConcurrency)
	}
	// The tenants default is an empty JSON array: the template then refuses it (@minLength(1))
	// with a message naming the parameter, instead of azd failing on invalid JSON.
	var tenants []settings.Tenant
	if err := json.Unmarshal(file.Parameters["tenants"].Value, &tenants); err != nil {
		t.Errorf("main.parameters.json: tenants is not a JSON array once substituted: %v", err)
	}
}

// TestInfraBicepStructure: what can be checked without a Bicep compiler: delimiters balance
// outside strings and comments, module paths exist, and the Graph extension is pinned and declared
// wherever Graph resources are.
func TestInfraBicepStructure(t *testing.T) {
	files := infraBicepFiles(t)
	module := regexp.MustCompile(`(?m)^module\s+\w+\s+'([^']+)'`)
	for name, src := range files {
		code, err := bicepCode(src)
		if err == nil {
			err = bicepBalanced(src, code)
		}
		if err != nil {
			t.Errorf("infra/%s: %v", name, err)
		}
		for _, m := range module.FindAllStringSubmatch(src, -1) {
			if strings.HasPrefix(m[1], "br/") || strings.HasPrefix(m[1], "br:") || strings.HasPrefix(m[1], "ts:") {
				continue
			}
			if _, err := os.Stat(filepath.Join(infraPath("infra"), filepath.Dir(name), m[1])); err != nil {
				t.Errorf("infra/%s: module %s: %v", name, m[1], err)
			}
		}
		usesGraph := regexp.MustCompile(`(?m)^resource\s+\w+\s+'Microsoft\.Graph/`).MatchString(src)
		if declares := regexp.MustCompile(`(?m)^extension\s+microsoftGraphV1\s*$`).MatchString(src); usesGraph != declares {
			t.Errorf("infra/%s: uses Microsoft.Graph resources: %v, declares `extension microsoftGraphV1`: %v", name, usesGraph, declares)
		}
	}
	var config struct {
		Extensions map[string]string `json:"extensions"`
	}
	infraReadJSON(t, &config, "infra", "bicepconfig.json")
	ref := config.Extensions["microsoftGraphV1"]
	if !regexp.MustCompile(`^br:mcr\.microsoft\.com/bicep/extensions/microsoftgraph/v1\.0:\d+\.\d+\.\d+$`).MatchString(ref) {
		t.Errorf("bicepconfig.json: microsoftGraphV1 = %q, want br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:<released version>", ref)
	}
}

// TestInfraPackage: azd deploys what the host needs. azure.yaml packages the dist folder that the
// prepackage script fills, and the script builds the handler where host.json starts it.
func TestInfraPackage(t *testing.T) {
	azure := infraRead(t, "azure.yaml")
	for _, want := range []string{
		"\n  handler:\n", "host: function", "language: custom", "dist: bin/deploy", "prepackage:",
		"run: ./infra/scripts/package.sh", "run: ./infra/scripts/package.ps1",
	} {
		if !strings.Contains(azure, want) {
			t.Errorf("azure.yaml lacks %q", want)
		}
	}
	if !strings.Contains(infraBicepFiles(t)["main.bicep"], "serviceName: 'handler'") {
		t.Error("main.bicep does not tag the Function App for the azd service handler")
	}
	var host struct {
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
		} `json:"customHandler"`
	}
	infraReadJSON(t, &host, "host.json")
	exe := host.CustomHandler.Description.DefaultExecutablePath
	sh := infraRead(t, "infra", "scripts", "package.sh")
	for _, want := range []string{
		"out=bin/deploy",
		`GOOS=linux GOARCH=amd64 CGO_ENABLED=0 go build`,
		`-o "$out/` + exe + `" ./handler`,
		`cp host.json "$out/"`,
		"*/function.json",
	} {
		if !strings.Contains(sh, want) {
			t.Errorf("infra/scripts/package.sh lacks %s", want)
		}
	}
	ps := infraRead(t, "infra", "scripts", "package.ps1")
	for _, want := range []string{"'bin/deploy'", "$env:GOOS = 'linux'", "$env:GOARCH = 'amd64'", "$env:CGO_ENABLED = '0'", "'" + exe + "') ./handler", "function.json"} {
		if !strings.Contains(ps, want) {
			t.Errorf("infra/scripts/package.ps1 lacks %s", want)
		}
	}
	// The scripts stage every top-level <Function>/function.json (sh: the glob */function.json),
	// so each function the handler serves must sit there, not deeper.
	staged, err := filepath.Glob(infraPath("*", "function.json"))
	if err != nil {
		t.Fatal(err)
	}
	var functions []string
	for _, f := range staged {
		functions = append(functions, filepath.Base(filepath.Dir(f)))
	}
	for _, want := range []string{"ReportTimer", "ReportHttp", "ReportQueue", "ReportEntra"} {
		if !slices.Contains(functions, want) {
			t.Errorf("*/function.json matches %v, which lacks %s: the package would not ship it", functions, want)
		}
	}
}

// functionJSON is a <Function>/function.json.
type functionJSON struct {
	Bindings []functionBinding `json:"bindings"`
}

// functionBinding is one binding of a function.json.
type functionBinding struct {
	Name       string   `json:"name"`
	Type       string   `json:"type"`
	Direction  string   `json:"direction"`
	AuthLevel  string   `json:"authLevel"`
	Schedule   string   `json:"schedule"`
	Route      string   `json:"route"`
	Methods    []string `json:"methods"`
	QueueName  string   `json:"queueName"`
	Connection string   `json:"connection"`
}

// TestFunctionsHostJSON: host.json starts bin/handler as a custom handler, forwards HTTP requests
// untouched, takes extension bundle 4, and reads run requests the way the handler queues them.
func TestFunctionsHostJSON(t *testing.T) {
	var host struct {
		Version         string `json:"version"`
		ExtensionBundle struct {
			ID      string `json:"id"`
			Version string `json:"version"`
		} `json:"extensionBundle"`
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
			EnableForwardingHTTPRequest *bool `json:"enableForwardingHttpRequest"`
		} `json:"customHandler"`
		Extensions struct {
			Queues struct {
				MessageEncoding   string `json:"messageEncoding"`
				MaxDequeueCount   *int   `json:"maxDequeueCount"`
				BatchSize         *int   `json:"batchSize"`
				NewBatchThreshold *int   `json:"newBatchThreshold"`
			} `json:"queues"`
		} `json:"extensions"`
	}
	infraReadJSON(t, &host, "host.json")
	if host.Version != "2.0" {
		t.Errorf("host.json version = %q, want 2.0", host.Version)
	}
	if got := host.CustomHandler.Description.DefaultExecutablePath; got != "bin/handler" {
		t.Errorf("customHandler.description.defaultExecutablePath = %q, want bin/handler", got)
	}
	if f := host.CustomHandler.EnableForwardingHTTPRequest; f == nil || !*f {
		t.Error("customHandler.enableForwardingHttpRequest is not true: ReportHttp would get wrapped payloads, not the client's request")
	}
	if host.ExtensionBundle.ID != "Microsoft.Azure.Functions.ExtensionBundle" || host.ExtensionBundle.Version != "[4.*, 5.0.0)" {
		t.Errorf("extensionBundle = %+v, want Microsoft.Azure.Functions.ExtensionBundle [4.*, 5.0.0)", host.ExtensionBundle)
	}
	// reportstore.Queue.Send base64-encodes each run request. The queue extension's default is
	// base64 too, but stated here it cannot change under us; with "none", ReportQueue would get
	// the base64 text instead of the request.
	q := host.Extensions.Queues
	if !strings.EqualFold(q.MessageEncoding, "base64") {
		t.Errorf("extensions.queues.messageEncoding = %q, want base64 (reportstore.Queue.Send base64-encodes)", q.MessageEncoding)
	}
	// The handler tells a last attempt from a retry by DequeueCount: it must know the host's limit.
	if q.MaxDequeueCount == nil || *q.MaxDequeueCount != customhandler.MaxDequeueCount {
		t.Errorf("extensions.queues.maxDequeueCount = %v, want customhandler.MaxDequeueCount (%d)", ptrString(q.MaxDequeueCount), customhandler.MaxDequeueCount)
	}
	// A report run is heavy: at most batchSize+newBatchThreshold = 1 at a time per instance.
	if q.BatchSize == nil || q.NewBatchThreshold == nil || *q.BatchSize+*q.NewBatchThreshold != 1 {
		t.Errorf("extensions.queues batchSize = %v, newBatchThreshold = %v, want 1 and 0: one report run per instance",
			ptrString(q.BatchSize), ptrString(q.NewBatchThreshold))
	}
}

// ptrString formats an optional JSON number, "unset" when absent.
func ptrString(p *int) string {
	if p == nil {
		return "unset"
	}
	return strconv.Itoa(*p)
}

// TestFunctionsReportTimer: the timer fires on the REPORT_SCHEDULE app setting.
func TestFunctionsReportTimer(t *testing.T) {
	var fn functionJSON
	infraReadJSON(t, &fn, "ReportTimer", "function.json")
	if len(fn.Bindings) != 1 {
		t.Fatalf("ReportTimer has %d bindings, want one timerTrigger", len(fn.Bindings))
	}
	b := fn.Bindings[0]
	if b.Type != "timerTrigger" || b.Direction != "in" {
		t.Errorf("ReportTimer binding = %s/%s, want timerTrigger/in", b.Type, b.Direction)
	}
	if want := "%" + settings.KeySchedule + "%"; b.Schedule != want {
		t.Errorf("ReportTimer schedule = %q, want %q", b.Schedule, want)
	}
}

// TestFunctionsReportHttp: exactly one httpTrigger and one http output, which is what makes the
// host forward the client's request as is (DESIGN.md §3), on the reports route.
func TestFunctionsReportHttp(t *testing.T) {
	var fn functionJSON
	infraReadJSON(t, &fn, "ReportHttp", "function.json")
	var triggers, outputs int
	for _, b := range fn.Bindings {
		switch {
		case b.Type == "httpTrigger" && b.Direction == "in":
			triggers++
			if b.Route != "reports/{*rest}" {
				t.Errorf("ReportHttp route = %q, want reports/{*rest}", b.Route)
			}
		case b.Type == "http" && b.Direction == "out":
			outputs++
		default:
			t.Errorf("ReportHttp has a %s/%s binding: any binding besides the trigger and the http output stops forwarding", b.Type, b.Direction)
		}
	}
	if triggers != 1 || outputs != 1 {
		t.Errorf("ReportHttp has %d httpTrigger and %d http output bindings, want exactly one of each", triggers, outputs)
	}
}

// TestFunctionsReportQueue: ReportQueue is triggered by the run-request queue that ReportHttp
// fills, in the host's storage account (AzureWebJobsStorage, reached as the managed identity),
// under the binding name the handler reads the message from.
func TestFunctionsReportQueue(t *testing.T) {
	var fn functionJSON
	infraReadJSON(t, &fn, "ReportQueue", "function.json")
	if len(fn.Bindings) != 1 {
		t.Fatalf("ReportQueue has %d bindings, want one queueTrigger", len(fn.Bindings))
	}
	b := fn.Bindings[0]
	if b.Type != "queueTrigger" || b.Direction != "in" {
		t.Errorf("ReportQueue binding = %s/%s, want queueTrigger/in", b.Type, b.Direction)
	}
	if b.QueueName != customhandler.RunQueue {
		t.Errorf("ReportQueue queueName = %q, want customhandler.RunQueue %q", b.QueueName, customhandler.RunQueue)
	}
	if b.Connection != settings.KeyWebJobs {
		t.Errorf("ReportQueue connection = %q, want %s (the account the handler sends run requests to)", b.Connection, settings.KeyWebJobs)
	}
	if b.Name != customhandler.QueueBinding {
		t.Errorf("ReportQueue binding name = %q, want customhandler.QueueBinding %q (the key of the message in Data)", b.Name, customhandler.QueueBinding)
	}
}

// infraQueueName is what Azure Storage accepts as a queue name: 3-63 lower-case letters, digits
// and single hyphens, starting and ending with a letter or digit.
var infraQueueName = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9]|-[a-z0-9]){2,62}$`)

// TestInfraRunQueue: the deployment creates the run-request queue (main.bicep passes it to the
// storage module, which creates every queue it is given) and the identity may use it.
func TestInfraRunQueue(t *testing.T) {
	if q := customhandler.RunQueue; !infraQueueName.MatchString(q) || len(q) > 63 {
		t.Errorf("customhandler.RunQueue = %q, not a valid Storage queue name", q)
	}
	files := infraBicepFiles(t)
	main := files["main.bicep"]
	at := strings.Index(main, "\nmodule storage 'modules/storage.bicep' =")
	if at < 0 {
		t.Fatal("main.bicep: no module storage 'modules/storage.bicep'")
	}
	list, err := bicepWithoutComments(bicepValue(t, bicepValueAt(t, main, at+1), "queueNames:"))
	if err != nil {
		t.Fatal(err)
	}
	// Entries are string literals or names of string variables of main.bicep.
	var queues []string
	for _, e := range strings.Fields(strings.Trim(list, "[]")) {
		if v, ok := strings.CutPrefix(e, "'"); ok {
			queues = append(queues, strings.TrimSuffix(v, "'"))
			continue
		}
		m := regexp.MustCompile(`(?m)^var ` + regexp.QuoteMeta(e) + ` = '([^']*)'`).FindStringSubmatch(main)
		if m == nil {
			t.Fatalf("main.bicep: storage queueNames entry %s is neither a string nor a var holding one", e)
		}
		queues = append(queues, m[1])
	}
	if !slices.Contains(queues, customhandler.RunQueue) {
		t.Errorf("main.bicep: the storage module creates queues %q, which lack customhandler.RunQueue %q", queues, customhandler.RunQueue)
	}
	for _, want := range []string{
		"param queueNames array",
		"'Microsoft.Storage/storageAccounts/queueServices@",
		"'Microsoft.Storage/storageAccounts/queueServices/queues@",
		"for queueName in queueNames",
		"name: queueName",
	} {
		if !strings.Contains(files["modules/storage.bicep"], want) {
			t.Errorf("infra/modules/storage.bicep lacks %s", want)
		}
	}
	// The UAMI sends (ReportHttp) and receives (the host's trigger) with Entra ID: no shared key.
	if !strings.Contains(bicepValue(t, files["modules/rbac.bicep"], "var storageRoles ="), "{ name: 'Storage Queue Data Contributor', id: '974c5e8b-45b9-4653-ba55-5f855dd0fb88' }") {
		t.Error("infra/modules/rbac.bicep storageRoles lacks Storage Queue Data Contributor (974c5e8b-45b9-4653-ba55-5f855dd0fb88)")
	}
}

// TestInfraBicepCodeScanner keeps the scanner the structure checks rely on honest.
func TestInfraBicepCodeScanner(t *testing.T) {
	src := "var a = '${b ? 'x}' : '{'}' // ]\n/* ) */ var c = { d: [ '\\'' ] }\n"
	code, err := bicepCode(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := bicepBalanced(src, code); err != nil {
		t.Errorf("balanced source: %v\n%q", err, code)
	}
	for _, bad := range []string{"var a = [\n", "var a = { ]", "var a = 'open", "x }"} {
		code, err := bicepCode(bad)
		if err == nil {
			err = bicepBalanced(bad, code)
		}
		if err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// entraFunctions are the functions whose callers the handler authenticates itself, with their
// Entra bearer tokens (DESIGN.md §10): the only ones the host may let through without a function
// key (authLevel anonymous). Every other HTTP function takes a function key.
var entraFunctions = []string{"ReportEntra"}

// infraFunctions reads every top-level <Function>/function.json: the functions the package ships.
func infraFunctions(t *testing.T) map[string]functionJSON {
	t.Helper()
	paths, err := filepath.Glob(infraPath("*", "function.json"))
	if err != nil {
		t.Fatal(err)
	}
	fns := map[string]functionJSON{}
	for _, p := range paths {
		name := filepath.Base(filepath.Dir(p))
		var fn functionJSON
		infraReadJSON(t, &fn, name, "function.json")
		fns[name] = fn
	}
	if len(fns) == 0 {
		t.Fatal("no */function.json: the package would ship no function")
	}
	return fns
}

// httpTriggerOf returns a function's httpTrigger binding, if it has one.
func httpTriggerOf(fn functionJSON) (functionBinding, bool) {
	for _, b := range fn.Bindings {
		if b.Type == "httpTrigger" && b.Direction == "in" {
			return b, true
		}
	}
	return functionBinding{}, false
}

// TestFunctionsBindings: every function the package ships has one trigger. An HTTP function has
// exactly one httpTrigger and one http output, the shape the host forwards as it came (DESIGN.md
// §3); it takes GET and POST at most, on a route ending in {*rest} whose literal part no other
// function's route starts with, so each request reaches one function; and it takes a function key
// unless the handler authenticates its callers itself (entraFunctions).
func TestFunctionsBindings(t *testing.T) {
	fns := infraFunctions(t)
	prefixes := map[string]string{} // HTTP function → literal part of its route
	for name, fn := range fns {
		var triggers, httpOut, other int
		seen := map[string]bool{}
		for _, b := range fn.Bindings {
			if b.Name == "" || b.Type == "" || b.Direction == "" {
				t.Errorf("%s: binding %+v lacks a name, type or direction", name, b)
			}
			if seen[b.Name] {
				t.Errorf("%s: two bindings are named %q", name, b.Name)
			}
			seen[b.Name] = true
			switch {
			case strings.HasSuffix(b.Type, "Trigger"):
				triggers++
				if b.Direction != "in" {
					t.Errorf("%s: %s binding has direction %q, want in", name, b.Type, b.Direction)
				}
			case b.Type == "http" && b.Direction == "out":
				httpOut++
			default:
				other++
			}
		}
		if triggers != 1 {
			t.Errorf("%s has %d triggers, want one", name, triggers)
		}
		trigger, isHTTP := httpTriggerOf(fn)
		if !isHTTP {
			if httpOut > 0 {
				t.Errorf("%s has an http output but no httpTrigger", name)
			}
			if slices.Contains(entraFunctions, name) {
				t.Errorf("%s is in entraFunctions but has no httpTrigger", name)
			}
			continue
		}
		if httpOut != 1 || other != 0 {
			t.Errorf("%s: an httpTrigger with %d http outputs and %d other bindings: the host forwards the client's request untouched only with exactly one httpTrigger and one http output", name, httpOut, other)
		}
		wantAuth := "function"
		if slices.Contains(entraFunctions, name) {
			wantAuth = "anonymous"
		}
		if trigger.AuthLevel != wantAuth {
			t.Errorf("%s authLevel = %q, want %q (anonymous only where the handler validates an Entra token on every request: %v)", name, trigger.AuthLevel, wantAuth, entraFunctions)
		}
		if len(trigger.Methods) == 0 {
			t.Errorf("%s lists no methods: the host would take every method", name)
		}
		for _, m := range trigger.Methods {
			if m != "get" && m != "post" {
				t.Errorf("%s takes method %q; the reports API serves get and post only", name, m)
			}
		}
		prefix, ok := strings.CutSuffix(trigger.Route, "{*rest}")
		if !ok || prefix == "" || !strings.HasSuffix(prefix, "/") || strings.ContainsAny(prefix, "{}") {
			t.Errorf("%s route = %q, want <literal path>/{*rest}", name, trigger.Route)
			continue
		}
		prefixes[name] = prefix
	}
	for a, pa := range prefixes {
		for b, pb := range prefixes {
			if a != b && strings.HasPrefix(pa, pb) {
				t.Errorf("the routes of %s (%s) and %s (%s) overlap", a, pa, b, pb)
			}
		}
	}
	for _, name := range entraFunctions {
		if _, ok := fns[name]; !ok {
			t.Errorf("entraFunctions names %s, which has no function.json", name)
		}
	}
}

// TestFunctionsReportEntra: the Entra-authenticated routes reach the handler as
// /api/entra/reports/... (host.json keeps the default route prefix api), forwarded as they came
// and without a function key, since the handler validates every request's bearer token itself.
// They mirror ReportHttp's routes and methods.
func TestFunctionsReportEntra(t *testing.T) {
	fns := infraFunctions(t)
	entra, ok := httpTriggerOf(fns["ReportEntra"])
	if !ok {
		t.Fatal("ReportEntra/function.json has no httpTrigger")
	}
	if entra.Route != "entra/reports/{*rest}" {
		t.Errorf("ReportEntra route = %q, want entra/reports/{*rest} (the handler serves /api/entra/reports)", entra.Route)
	}
	if entra.AuthLevel != "anonymous" {
		t.Errorf("ReportEntra authLevel = %q, want anonymous: its callers hold Entra tokens, not function keys", entra.AuthLevel)
	}
	operator, ok := httpTriggerOf(fns["ReportHttp"])
	if !ok {
		t.Fatal("ReportHttp/function.json has no httpTrigger")
	}
	if got, want := slices.Sorted(slices.Values(entra.Methods)), slices.Sorted(slices.Values(operator.Methods)); !slices.Equal(got, want) || !slices.Equal(got, []string{"get", "post"}) {
		t.Errorf("ReportEntra methods = %v, ReportHttp's = %v, want get and post for both", entra.Methods, operator.Methods)
	}
	if "entra/"+operator.Route != entra.Route {
		t.Errorf("ReportEntra route %q is not entra/ + ReportHttp's %q: the two serve the same routes", entra.Route, operator.Route)
	}
	var host struct {
		Extensions struct {
			HTTP struct {
				RoutePrefix *string `json:"routePrefix"`
			} `json:"http"`
		} `json:"extensions"`
	}
	infraReadJSON(t, &host, "host.json")
	if p := host.Extensions.HTTP.RoutePrefix; p != nil && *p != "api" {
		t.Errorf("host.json extensions.http.routePrefix = %q: requests would not arrive at /api/reports and /api/entra/reports, where the handler serves them", *p)
	}
}

// infraAPIRoles are the API app's roles the handler authorizes on.
var infraAPIRoles = []string{customhandler.RoleReadAll, customhandler.RoleReadTenant, customhandler.RoleRun}

// infraResourceBody returns the body of the resource declared by decl (such as "resource app
// 'Microsoft.Graph/applications@v1.0' ="), without comments.
func infraResourceBody(t *testing.T, name, src, decl string) string {
	t.Helper()
	plain, err := bicepWithoutComments(src)
	if err != nil {
		t.Fatal(err)
	}
	at := strings.Index(plain, "\n"+decl)
	if at < 0 || strings.Contains(plain[at+1+len(decl):], "\n"+decl) {
		t.Fatalf("infra/%s: want exactly one %s", name, decl)
	}
	body, err := bicepWithoutComments(bicepValueAt(t, src, at+1))
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// TestInfraEntraAPIApp: the API app callers from other tenants get tokens for (DESIGN.md §10) has
// exactly the handler's app roles, for applications only, and admits no caller without one; it is
// single-tenant (its tokens come from the home tenant), takes v2.0 tokens (aud = its client id) with
// idtyp, and its application ID URI is the deterministic api://<tenant id>/<uniqueName>, since the
// Graph extension cannot put the app's own appId into it. It has no credential.
func TestInfraEntraAPIApp(t *testing.T) {
	const name = "modules/apiapp.bicep"
	api := infraBicepFiles(t)[name]
	if api == "" {
		t.Fatalf("infra/%s is missing", name)
	}
	roles := bicepValue(t, api, "var apiAppRoles =")
	var values []string
	for _, m := range regexp.MustCompile(`(?m)^\s*value:\s*'([^']+)'`).FindAllStringSubmatch(roles, -1) {
		values = append(values, m[1])
	}
	if got, want := slices.Sorted(slices.Values(values)), slices.Sorted(slices.Values(infraAPIRoles)); !slices.Equal(got, want) {
		t.Errorf("infra/%s apiAppRoles values = %v, want exactly the handler's roles %v", name, values, want)
	}
	for _, prop := range []string{"displayName", "description"} {
		if n := len(regexp.MustCompile(`(?m)^\s*`+prop+`:\s*'.+'\s*$`).FindAllString(roles, -1)); n != len(values) {
			t.Errorf("infra/%s apiAppRoles: %d roles, %d with a %s", name, len(values), n, prop)
		}
	}
	defs, err := bicepWithoutComments(bicepValue(t, api, "var appRoleDefinitions ="))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`^\[for role in apiAppRoles:`),
		// A stable id per app and role: an enabled app role's id cannot change.
		regexp.MustCompile(`\n\s*id: guid\(uniqueName, 'appRole', role\.value\)\n`),
		regexp.MustCompile(`\n\s*value: role\.value\n`),
		regexp.MustCompile(`\n\s*description: role\.description\n`),
		regexp.MustCompile(`\n\s*allowedMemberTypes: \[\s*'Application'\s*\]\n`),
		regexp.MustCompile(`\n\s*isEnabled: true\n`),
	} {
		if !want.MatchString(defs) {
			t.Errorf("infra/%s appRoleDefinitions does not match %s:\n%s", name, want, defs)
		}
	}
	app := infraResourceBody(t, name, api, "resource app 'Microsoft.Graph/applications@v1.0' =")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`\n\s*uniqueName: uniqueName\n`),
		regexp.MustCompile(`\n\s*signInAudience: 'AzureADMyOrg'\n`),
		regexp.MustCompile(`\n\s*identifierUris: \[\s*identifierUri\s*\]\n`),
		regexp.MustCompile(`\n\s*api: \{\s*requestedAccessTokenVersion: 2\s*\}\n`),
		regexp.MustCompile(`\n\s*appRoles: appRoleDefinitions\n`),
		regexp.MustCompile(`\n\s*optionalClaims: \{\s*accessToken: \[\s*\{\s*name: 'idtyp'\s*essential: false\s*\}\s*\]\s*\}\n`),
	} {
		if !want.MatchString(app) {
			t.Errorf("infra/%s: the app does not match %s:\n%s", name, want, app)
		}
	}
	sp := infraResourceBody(t, name, api, "resource servicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' =")
	for _, want := range []string{"appId: app.appId", "appRoleAssignmentRequired: true"} {
		if !strings.Contains(sp, want) {
			t.Errorf("infra/%s: the service principal lacks %s:\n%s", name, want, sp)
		}
	}
	assign := infraResourceBody(t, name, api, "resource callerRoleAssignments 'Microsoft.Graph/appRoleAssignedTo@v1.0' =")
	for _, want := range []string{
		"[for i in range(0, length(callers) * roleCount): if (contains(callers[i / roleCount].roles, apiAppRoles[i % roleCount].value)) {",
		"principalId: callers[i / roleCount].servicePrincipalId",
		"resourceId: servicePrincipal.id",
		"appRoleId: appRoleDefinitions[i % roleCount].id",
	} {
		if !strings.Contains(assign, want) {
			t.Errorf("infra/%s: the callers' app role assignments lack %s:\n%s", name, want, assign)
		}
	}
	code, err := bicepWithoutComments(api)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\nparam callers array = []\n",
		"\nvar roleCount = length(apiAppRoles)\n",
		"\nvar identifierUri = 'api://${tenant().tenantId}/${uniqueName}'\n",
		"\noutput appId string = app.appId\n",
		"\noutput identifierUri string = identifierUri\n",
		"\noutput servicePrincipalId string = servicePrincipal.id\n",
	} {
		if !strings.Contains(code, want) {
			t.Errorf("infra/%s lacks %s", name, strings.TrimSpace(want))
		}
	}
	// The API app only receives tokens: no credential, and no role or scope for users.
	for _, bad := range []string{"keyCredentials", "passwordCredentials", "federatedIdentityCredentials", "'User'", "oauth2PermissionScopes"} {
		if strings.Contains(code, bad) {
			t.Errorf("infra/%s has %s: the API app takes app-only tokens and holds no credential", name, bad)
		}
	}
}

// TestInfraEntraAPIWiring: main.bicep deploys the API app, types the callers' roles as the app's
// roles, and gives the Function App every REPORT_API_* setting from it, REPORT_API_CALLERS keyed by
// the callers' service principal object ids (the oid of their tokens).
func TestInfraEntraAPIWiring(t *testing.T) {
	main := infraBicepFiles(t)["main.bicep"]
	m := regexp.MustCompile(`(?m)^type apiRoleType = (.+)$`).FindStringSubmatch(main)
	if m == nil {
		t.Fatal("main.bicep: no type apiRoleType = '…' | '…'")
	}
	var union []string
	for _, v := range regexp.MustCompile(`'([^']+)'`).FindAllStringSubmatch(m[1], -1) {
		union = append(union, v[1])
	}
	if got, want := slices.Sorted(slices.Values(union)), slices.Sorted(slices.Values(infraAPIRoles)); !slices.Equal(got, want) {
		t.Errorf("main.bicep apiRoleType = %v, want exactly the handler's roles %v", union, want)
	}
	callerType, err := bicepWithoutComments(bicepValue(t, main, "type apiCallerType ="))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\n  servicePrincipalId: string\n", "\n  roles: apiRoleType[]\n", "\n  tenants: string[]\n"} {
		if !strings.Contains(callerType, want) {
			t.Errorf("main.bicep apiCallerType lacks %s", strings.TrimSpace(want))
		}
	}
	settingsBlock, err := bicepWithoutComments(bicepValue(t, main, "var reportSettings ="))
	if err != nil {
		t.Fatal(err)
	}
	for key, value := range map[string]string{
		settings.KeyAPITenant:   "tenant().tenantId",
		settings.KeyAPIClientID: "apiApp.outputs.appId",
		settings.KeyAPIAppIDURI: "apiApp.outputs.identifierUri",
		settings.KeyAPICallers:  "apiCallersSetting",
	} {
		if !regexp.MustCompile(`\n\s*` + key + `: ` + regexp.QuoteMeta(value) + `\n`).MatchString(settingsBlock) {
			t.Errorf("main.bicep reportSettings lacks %s: %s", key, value)
		}
	}
	at := strings.Index(main, "\nmodule apiApp 'modules/apiapp.bicep' =")
	if at < 0 {
		t.Fatal("main.bicep: no module apiApp 'modules/apiapp.bicep'")
	}
	module, err := bicepWithoutComments(bicepValueAt(t, main, at+1))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"uniqueName: apiAppUniqueName", "displayName: apiAppDisplayName", "callers: apiCallers"} {
		if !strings.Contains(module, want) {
			t.Errorf("main.bicep module apiApp lacks %s", want)
		}
	}
	for _, want := range []string{
		"\nparam apiCallers apiCallerType[] = []\n",
		"\nvar apiCallersSetting = string(toObject(filter(apiCallers, caller => !empty(caller.tenants)), caller => toLower(caller.servicePrincipalId), caller => caller.tenants))\n",
		"\noutput API_APP_CLIENT_ID string = apiApp.outputs.appId\n",
		"\noutput API_APP_ID_URI string = apiApp.outputs.identifierUri\n",
		"\noutput API_SERVICE_PRINCIPAL_ID string = apiApp.outputs.servicePrincipalId\n",
		"\noutput REPORTS_ENTRA_API_URL string = 'https://${functionApp.outputs.defaultHostName}/api/entra/reports'\n",
	} {
		if !strings.Contains(main, want) {
			t.Errorf("main.bicep lacks %s", strings.TrimSpace(want))
		}
	}
}

// TestInfraEntraAPISettings: what the template sets is what the handler loads. The application ID
// URI, in the template's form with its default uniqueName, is one settings accepts; and
// REPORT_API_CALLERS as toObject builds it, {} with no callers or {"<sp object id>":["<tenant>"]},
// maps the caller to its tenants.
func TestInfraEntraAPISettings(t *testing.T) {
	files := infraBicepFiles(t)
	uriTemplate := regexp.MustCompile(`(?m)^var identifierUri = '([^']*)'`).FindStringSubmatch(files["modules/apiapp.bicep"])
	uniqueName := regexp.MustCompile(`(?m)^param apiAppUniqueName string = '([^']*)'`).FindStringSubmatch(files["main.bicep"])
	if uriTemplate == nil || uniqueName == nil {
		t.Fatal("want var identifierUri = '…' in infra/modules/apiapp.bicep and param apiAppUniqueName string = '…' in main.bicep")
	}
	const (
		homeTenant = "0a0a0a0a-0000-4000-8000-00000000000a"
		apiClient  = "0b0b0b0b-0000-4000-8000-00000000000b"
		customer   = "0c0c0c0c-0000-4000-8000-00000000000c"
		callerSP   = "0d0d0d0d-0000-4000-8000-00000000000d"
		identity   = "0e0e0e0e-0000-4000-8000-00000000000e"
	)
	uri := strings.NewReplacer(
		"${tenant().tenantId}", homeTenant,
		"${uniqueName}", strings.ReplaceAll(uniqueName[1], "${environmentName}", "contoso-prod"),
	).Replace(uriTemplate[1])
	if strings.Contains(uri, "${") {
		t.Fatalf("identifierUri %q interpolates more than the tenant id and uniqueName", uri)
	}
	// The settings main.bicep and modules/functionapp.bicep give the app, in their identity form.
	env := map[string]string{
		settings.KeyTenants:                       `[{"tenantId":"` + customer + `","displayName":"Contoso"}]`,
		settings.KeyBridgeApp:                     "0f0f0f0f-0000-4000-8000-00000000000f",
		settings.KeyMIClientID:                    identity,
		settings.KeyWebJobs + "__blobServiceUri":  "https://stexample.blob.core.windows.net/",
		settings.KeyWebJobs + "__queueServiceUri": "https://stexample.queue.core.windows.net/",
		settings.KeyWebJobs + "__tableServiceUri": "https://stexample.table.core.windows.net/",
		settings.KeyWebJobs + "__credential":      "managedidentity",
		settings.KeyWebJobs + "__clientId":        identity,
		settings.KeyAPITenant:                     homeTenant,
		settings.KeyAPIClientID:                   apiClient,
		settings.KeyAPIAppIDURI:                   uri,
		settings.KeyAPICallers:                    "{}",
	}
	for _, callers := range []string{"{}", `{"` + callerSP + `":["` + customer + `"]}`} {
		env[settings.KeyAPICallers] = callers
		s, err := settings.Load(func(k string) string { return env[k] })
		if err != nil {
			t.Errorf("settings.Load(what infra sets, %s = %s) = %v", settings.KeyAPICallers, callers, err)
			continue
		}
		if !s.API.Enabled() || s.API.TenantID != homeTenant || s.API.ClientID != apiClient || s.API.AppIDURI != uri {
			t.Errorf("settings.Load(what infra sets).API = %+v, want tenant %s, client %s, app ID URI %s", s.API, homeTenant, apiClient, uri)
		}
		if callers != "{}" && !slices.Equal(s.API.Callers[callerSP], []string{customer}) {
			t.Errorf("settings.Load(%s = %s).API.Callers = %v, want %s → [%s]", settings.KeyAPICallers, callers, s.API.Callers, callerSP, customer)
		}
	}
}
