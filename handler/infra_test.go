package main

// Drift checks between the code and the files that deploy it, none of which a Go build sees:
// infra/ (Bicep, read as text: no Bicep compiler runs here), azure.yaml and the packaging script,
// and the Functions files the host reads (host.json, <Function>/function.json, parsed as JSON)
// against the custom-handler contract of DESIGN.md §3.
//
//	go test -run 'TestInfra|TestFunctions' ./handler/

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
	for _, want := range []string{"ReportTimer", "ReportHttp", "ReportQueue"} {
		if !slices.Contains(functions, want) {
			t.Errorf("*/function.json matches %v, which lacks %s: the package would not ship it", functions, want)
		}
	}
}

// functionJSON is a <Function>/function.json.
type functionJSON struct {
	Bindings []struct {
		Name       string   `json:"name"`
		Type       string   `json:"type"`
		Direction  string   `json:"direction"`
		Schedule   string   `json:"schedule"`
		Route      string   `json:"route"`
		Methods    []string `json:"methods"`
		QueueName  string   `json:"queueName"`
		Connection string   `json:"connection"`
	} `json:"bindings"`
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
