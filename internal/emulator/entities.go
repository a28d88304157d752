package emulator

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// obj is a JSON object whose properties keep their order.
type obj []prop

// MarshalJSON writes the properties in order.
func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	writeEntity(&b, o, nil)
	return b.Bytes(), nil
}

// sku is a commercial SKU with the service plans the emulator lists for it.
type sku struct {
	part, id string
	plans    [][2]string // name, id
}

var (
	planAADP1      = [2]string{"AAD_PREMIUM", "41781fb2-bc02-4b7c-bd55-b576c07bb09d"}
	planAADP2      = [2]string{"AAD_PREMIUM_P2", "eec0eb4f-6444-4f95-aba0-50c24d67f998"}
	planExchangeE  = [2]string{"EXCHANGE_S_ENTERPRISE", "efb87545-963c-4e0d-99df-69c6916d9eb0"}
	planExchangeS  = [2]string{"EXCHANGE_S_STANDARD", "9aaf7827-d63c-4b61-89c3-182f06f82e5c"}
	planSharePoint = [2]string{"SHAREPOINTENTERPRISE", "5dbe027f-2339-4123-9542-606e4d348a72"}
	planTeams      = [2]string{"TEAMS1", "57ff2da0-773e-42df-b2af-ffb7a2317929"}
	planIntune     = [2]string{"INTUNE_A", "c1ec4a95-1f05-45b3-a911-aa3fa01094f5"}
	planVisio      = [2]string{"VISIO_CLIENT_SUBSCRIPTION", "663a804f-1c30-4ff0-9915-9db84f0d1cea"}
	planPowerBI    = [2]string{"BI_AZURE_P2", "70d33638-9c74-4d01-bfd3-562de28bd4ba"}
)

// knownSKUs are the SKUs a world may license, by part number.
var knownSKUs = []sku{
	{"SPE_E3", "05e9a617-0261-4cee-bb44-138d3ef5d965", [][2]string{planAADP1, planExchangeE, planSharePoint, planTeams, planIntune}},
	{"SPE_E5", "06ebc4ee-1bb5-47dd-8120-11324bc54e06", [][2]string{planAADP1, planAADP2, planExchangeE, planSharePoint, planTeams, planIntune}},
	{"SPB", "cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46", [][2]string{planAADP1, planExchangeS, planSharePoint, planTeams, planIntune}},
	{"ENTERPRISEPACK", "6fd2c87f-b296-42f0-b197-1e91e994b900", [][2]string{planExchangeE, planSharePoint, planTeams}},
	{"O365_BUSINESS_PREMIUM", "f245ecc8-75af-4f8e-b61f-27d8114de5f3", [][2]string{planExchangeS, planSharePoint, planTeams}},
	{"EXCHANGESTANDARD", "4b9405b0-7788-4568-add1-99614e613b69", [][2]string{planExchangeS}},
	{"EMS", "efccb6f7-5641-4e0e-bd10-b4976e1bf68e", [][2]string{planAADP1, planIntune}},
	{"AAD_PREMIUM", "078d2b04-f1bd-4111-bbd4-b4b1b354cef4", [][2]string{planAADP1}},
	{"AAD_PREMIUM_P2", "84a661c4-e949-4bd2-a560-ed7766fcaf2b", [][2]string{planAADP1, planAADP2}},
	{"VISIOCLIENT", "c5928f49-12ba-48f7-ada3-0d743a3601d5", [][2]string{planVisio}},
	{"POWER_BI_PRO", "f8a1db68-be16-40ed-86d5-cb42ce701560", [][2]string{planPowerBI}},
}

// KnownSKUs returns the SKU part numbers Tenant.Licenses may name.
func KnownSKUs() []string {
	out := make([]string, len(knownSKUs))
	for i, s := range knownSKUs {
		out[i] = s.part
	}
	return out
}

func skuByPart(part string) (sku, bool) {
	for _, s := range knownSKUs {
		if strings.EqualFold(s.part, part) {
			return s, true
		}
	}
	return sku{}, false
}

// premiumSKU reports whether a SKU includes Entra ID P1 or P2.
func premiumSKU(part string) bool {
	s, _ := skuByPart(part)
	for _, p := range s.plans {
		if p == planAADP1 || p == planAADP2 {
			return true
		}
	}
	return false
}

// licenses returns whether the tenant is premium and its subscribed SKUs.
func (t *Tenant) licenses() (bool, []License) {
	premium := true
	switch {
	case t.Premium != nil:
		premium = *t.Premium
	case len(t.Licenses) > 0:
		premium = false
		for _, l := range t.Licenses {
			premium = premium || premiumSKU(l.Sku)
		}
	}
	if len(t.Licenses) > 0 {
		return premium, t.Licenses
	}
	guests, _ := t.split()
	members := t.Users - guests
	if members == 0 {
		return premium, nil
	}
	part := "O365_BUSINESS_PREMIUM"
	if premium {
		part = "SPE_E3"
	}
	return premium, []License{{Sku: part, Enabled: members + 2 + members/20, Consumed: members}}
}

func ratioOr(p *float64, def float64) float64 {
	if p == nil {
		return def
	}
	return *p
}

// credCount is the number of credentials on n apps: a secret each and a certificate on every third.
func credCount(n int) int { return n + (n+2)/3 }

func (t *tenant) initExtras(r *rand.Rand) {
	t.mfaPerm = newAffine(r, t.Users)
	t.inactivePerm = newAffine(r, t.Users)
	t.adminPerm = newAffine(r, t.Users)
	t.creds = credCount(t.Apps)
	t.credPerm = newAffine(r, t.creds)
	t.mfa = int(math.Round(ratioOr(t.MFARatio, 0.8) * float64(t.Users)))
	t.inactive = int(math.Round(ratioOr(t.InactiveRatio, 0.15) * float64(t.Users)))
	t.premium, t.skus = t.licenses()
	t.adminSet = map[int]int{}
	for j := 0; j < t.Users && len(t.admins) < t.Admins; j++ {
		i := t.adminPerm.at(j)
		if t.guestPerm.at(i) < t.guests || t.disabledPerm.at(i) < t.disabled {
			continue
		}
		t.adminSet[i] = len(t.admins)
		t.admins = append(t.admins, i)
	}
	if t.SecureScore != nil {
		t.score = *t.SecureScore
	} else {
		t.score.Max = float64(60 + r.IntN(41))
		t.score.Current = math.Round(t.score.Max*(0.3+0.5*r.Float64())*100) / 100
	}
}

// rng returns a generator for item i of a kind, independent of every other kind and item.
func (t *tenant) rng(kind string, i int) *rand.Rand {
	var k uint64
	for _, c := range kind {
		k = k*131 + uint64(c)
	}
	return rand.New(rand.NewPCG(t.seed^splitmix(k), splitmix(uint64(i)+k)))
}

func graphTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func daysBefore(anchor time.Time, r *rand.Rand, from, to int) time.Time {
	return anchor.Add(-time.Duration(from+r.IntN(to-from))*24*time.Hour - time.Duration(r.IntN(86400))*time.Second)
}

// ---- domains ----

func (t *tenant) domainNames() []string { return append([]string{t.domain}, lower(t.Domains)...) }

func lower(in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = strings.ToLower(s)
	}
	return out
}

func (t *tenant) domainProps(i int) []prop {
	names := t.domainNames()
	name := names[min(i, len(names)-1)]
	return []prop{
		{"authenticationType", "Managed"},
		{"availabilityStatus", nil},
		{"id", name},
		{"isAdminManaged", true},
		{"isDefault", i == 0},
		{"isInitial", i == 0},
		{"isRoot", true},
		{"isVerified", true},
		{"passwordNotificationWindowInDays", 14},
		{"passwordValidityPeriodInDays", 2147483647},
		{"supportedServices", []string{"Email", "OfficeCommunicationsOnline"}},
		{"state", nil},
	}
}

// ---- users: sign-in activity and MFA registration ----

// signedIn reports how user i last signed in: never, within the last 45 days, or 120 days ago or more.
func (t *tenant) signInActivity(i int) obj {
	r := t.rng("signin", i)
	p := t.inactivePerm.at(i)
	id1, id2 := randomGUID(r), randomGUID(r)
	if p < t.inactive && p%2 == 0 {
		return obj{{"lastSignInDateTime", nil}, {"lastSignInRequestId", nil},
			{"lastNonInteractiveSignInDateTime", nil}, {"lastNonInteractiveSignInRequestId", nil},
			{"lastSuccessfulSignInDateTime", nil}, {"lastSuccessfulSignInRequestId", nil}}
	}
	var last time.Time
	if p < t.inactive {
		last = daysBefore(t.anchor, r, 120, 700)
	} else {
		last = daysBefore(t.anchor, r, 1, 45)
	}
	nonInteractive := last.Add(time.Duration(r.IntN(20*3600)) * time.Second)
	return obj{{"lastSignInDateTime", graphTime(last)}, {"lastSignInRequestId", id1},
		{"lastNonInteractiveSignInDateTime", graphTime(nonInteractive)}, {"lastNonInteractiveSignInRequestId", id2},
		{"lastSuccessfulSignInDateTime", graphTime(last)}, {"lastSuccessfulSignInRequestId", id1}}
}

func (t *tenant) mfaRegistered(i int) bool { return t.mfaPerm.at(i) < t.mfa }

func (t *tenant) registrationProps(i int) []prop {
	u := t.user(i)
	r := t.rng("registration", i)
	registered := t.mfaRegistered(i)
	methods := []string{}
	preferred := "none"
	if registered {
		methods = [][]string{{"microsoftAuthenticatorPush", "softwareOneTimePasscode"}, {"microsoftAuthenticatorPush"},
			{"mobilePhone"}, {"microsoftAuthenticatorPush", "fido2"}, {"windowsHelloForBusiness", "microsoftAuthenticatorPush"}}[r.IntN(5)]
		preferred = map[string]string{"microsoftAuthenticatorPush": "push", "mobilePhone": "sms", "windowsHelloForBusiness": "push"}[methods[0]]
	} else if r.IntN(3) == 0 {
		methods = []string{"email"}
	}
	userType := "member"
	if u.guest {
		userType = "guest"
	}
	_, admin := t.adminSet[i]
	passwordless := registered && (contains(methods, "fido2") || contains(methods, "windowsHelloForBusiness"))
	return []prop{
		{"id", u.id},
		{"userPrincipalName", u.upn},
		{"userDisplayName", u.displayName},
		{"userType", userType},
		{"isAdmin", admin},
		{"isSsprRegistered", registered},
		{"isSsprEnabled", true},
		{"isSsprCapable", registered && u.enabled},
		{"isMfaRegistered", registered},
		{"isMfaCapable", registered && u.enabled},
		{"isPasswordlessCapable", passwordless},
		{"methodsRegistered", methods},
		{"isSystemPreferredAuthenticationMethodEnabled", false},
		{"systemPreferredAuthenticationMethods", []string{}},
		{"userPreferredMethodForSecondaryAuthentication", preferred},
		{"lastUpdatedDateTime", graphTime(daysBefore(t.anchor, r, 1, 300))},
	}
}

// ---- roles ----

type roleDef struct{ id, name, description string }

// roleDefs are built-in Entra roles with their template ids.
var roleDefs = []roleDef{
	{"62e90394-69f5-4237-9190-012177145e10", "Global Administrator", "Can manage all aspects of Microsoft Entra ID and Microsoft services that use Microsoft Entra identities."},
	{"fe930be7-5e62-47db-91af-98c3a49a38b1", "User Administrator", "Can manage all aspects of users and groups, including resetting passwords for limited admins."},
	{"29232cdf-9323-42fd-ade2-1d097af3e4de", "Exchange Administrator", "Can manage all aspects of the Exchange product."},
	{"f28a1f50-f6e7-4571-818b-6a12f2af6b6c", "SharePoint Administrator", "Can manage all aspects of the SharePoint service."},
	{"194ae4cb-b126-40b2-bd5b-6091b380977d", "Security Administrator", "Can read security information and reports, and manage configuration in Microsoft Entra ID and Office 365."},
	{"729827e3-9c14-49f7-bb1b-9608f156bbb8", "Helpdesk Administrator", "Can reset passwords for non-administrators and Helpdesk Administrators."},
	{"f2ef992c-3afb-46b9-b7cf-a126ee74c451", "Global Reader", "Can read everything that a Global Administrator can, but not update anything."},
	{"b0f54661-2d74-4c50-afa3-1ec803f12efe", "Billing Administrator", "Can perform common billing related tasks like updating payment information."},
	{"9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", "Application Administrator", "Can create and manage all aspects of app registrations and enterprise apps."},
	{"b1be1c3e-b65d-4f19-8427-f6fa0d97feb9", "Conditional Access Administrator", "Can manage Conditional Access capabilities."},
	{"e8611ab8-c189-46e8-94e1-60213ab1f814", "Privileged Role Administrator", "Can manage role assignments in Microsoft Entra ID, and all aspects of Privileged Identity Management."},
	{"5d6b6bb7-de71-4623-b4af-96380a352509", "Security Reader", "Can read security information and reports in Microsoft Entra ID and Office 365."},
	{"158c047a-c907-4556-b7ef-446551a6b5f7", "Cloud Application Administrator", "Can create and manage all aspects of app registrations and enterprise apps except App Proxy."},
	{"88d8e3e3-8f55-4a1e-953a-9b9898b8876b", "Directory Readers", "Can read basic directory information. Commonly used to grant directory read access to applications and guests."},
}

func (t *tenant) roleDefinitionProps(i int) []prop {
	d := roleDefs[min(i, len(roleDefs)-1)]
	return []prop{
		{"id", d.id},
		{"description", d.description},
		{"displayName", d.name},
		{"isBuiltIn", true},
		{"isEnabled", true},
		{"resourceScopes", []string{"/"}},
		{"templateId", d.id},
		{"version", "1"},
		{"rolePermissions", []obj{{{"allowedResourceActions", []string{"microsoft.directory/" + strings.ToLower(strings.ReplaceAll(d.name, " ", "")) + "/allProperties/read"}}, {"condition", nil}}}},
	}
}

// roleOf is the role of the k-th admin: the first is a Global Administrator, the others cycle through the first
// ten built-in roles.
func roleOf(k int) roleDef { return roleDefs[k%10] }

func (t *tenant) roleAssignmentProps(k int) []prop {
	var i int
	if k < len(t.admins) {
		i = t.admins[k]
	}
	u := t.user(i)
	role := roleOf(k)
	sum := sha256.Sum256([]byte(role.id + u.id))
	return []prop{
		{"id", base64.RawURLEncoding.EncodeToString(sum[:24]) + "-1"},
		{"principalId", u.id},
		{"directoryScopeId", "/"},
		{"roleDefinitionId", role.id},
		{"principal", obj{{"@odata.type", "#microsoft.graph.user"}, {"id", u.id}, {"accountEnabled", u.enabled},
			{"displayName", u.displayName}, {"mail", nullable(u.mail)}, {"userPrincipalName", u.upn}, {"userType", "Member"}}},
	}
}

// ---- devices ----

func (t *tenant) deviceProps(i int) []prop {
	r := t.rng("device", i)
	id, deviceID := randomGUID(r), randomGUID(r)
	var name, os, version, trust, manufacturer, model string
	switch n := r.IntN(20); {
	case n < 12:
		name = fmt.Sprintf("DESKTOP-%07X", r.IntN(1<<28))
		os, version = "Windows", []string{"10.0.19045.4170", "10.0.22631.3296", "10.0.26100.2033"}[r.IntN(3)]
		trust = []string{"AzureAd", "AzureAd", "ServerAd"}[r.IntN(3)]
		manufacturer, model = []string{"Dell Inc.", "LENOVO", "HP", "Microsoft Corporation"}[r.IntN(4)], "Business Laptop"
	case n < 15:
		name, os, version, trust = "iPhone", "iOS", []string{"17.4.1", "17.5", "18.0"}[r.IntN(3)], "Workplace"
		manufacturer, model = "Apple", "iPhone 15"
	case n < 17:
		name, os, version, trust = "Galaxy S23", "Android", []string{"13", "14"}[r.IntN(2)], "Workplace"
		manufacturer, model = "samsung", "SM-S911B"
	case n < 19:
		name, os, version, trust = "MacBook-Pro", "MacMDM", []string{"14.4.1", "15.0"}[r.IntN(2)], "Workplace"
		manufacturer, model = "Apple", "MacBookPro18,3"
	default:
		name, os, version, trust = fmt.Sprintf("ubuntu-%04d", r.IntN(10000)), "Linux", "22.04", "Workplace"
	}
	registered := daysBefore(t.anchor, r, 30, 1000)
	managed := r.IntN(100) < 85
	return []prop{
		{"id", id},
		{"deletedDateTime", nil},
		{"accountEnabled", r.IntN(50) != 0},
		{"approximateLastSignInDateTime", graphTime(daysBefore(t.anchor, r, 0, 200))},
		{"complianceExpirationDateTime", nil},
		{"deviceId", deviceID},
		{"deviceOwnership", []string{"Company", "Personal"}[r.IntN(2)]},
		{"displayName", name},
		{"isCompliant", managed && r.IntN(100) < 85},
		{"isManaged", managed},
		{"manufacturer", nullable(manufacturer)},
		{"model", nullable(model)},
		{"onPremisesSyncEnabled", nil},
		{"operatingSystem", os},
		{"operatingSystemVersion", version},
		{"physicalIds", []string{}},
		{"profileType", "RegisteredDevice"},
		{"registrationDateTime", graphTime(registered)},
		{"systemLabels", []string{}},
		{"trustType", trust},
	}
}

// ---- conditional access ----

type caTemplate struct {
	name, state                string
	users, roles, apps, client []string
	risk                       []string
	grant                      []string
}

var caTemplates = []caTemplate{
	{"Require multifactor authentication for admins", "enabled", nil, []string{roleDefs[0].id, roleDefs[1].id, roleDefs[4].id}, []string{"All"}, []string{"all"}, nil, []string{"mfa"}},
	{"Block legacy authentication", "enabled", []string{"All"}, nil, []string{"All"}, []string{"exchangeActiveSync", "other"}, nil, []string{"block"}},
	{"Require multifactor authentication for all users", "enabledForReportingButNotEnforced", []string{"All"}, nil, []string{"All"}, []string{"all"}, nil, []string{"mfa"}},
	{"Require compliant or hybrid joined device", "disabled", []string{"All"}, nil, []string{"All"}, []string{"all"}, nil, []string{"compliantDevice", "domainJoinedDevice"}},
	{"Require multifactor authentication for Azure management", "enabled", []string{"All"}, nil, []string{"797f4846-ba00-4fd7-ba43-dac1f8f63013"}, []string{"all"}, nil, []string{"mfa"}},
	{"Block high sign-in risk", "enabled", []string{"All"}, nil, []string{"All"}, []string{"all"}, []string{"high"}, []string{"block"}},
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (t *tenant) caPolicyProps(i int) []prop {
	r := t.rng("capolicy", i)
	tp := caTemplates[i%len(caTemplates)]
	name := tp.name
	if i >= len(caTemplates) {
		name += " (" + strconv.Itoa(i/len(caTemplates)+1) + ")"
	}
	created := daysBefore(t.anchor, r, 200, 900)
	return []prop{
		{"id", randomGUID(r)},
		{"templateId", nil},
		{"displayName", name},
		{"createdDateTime", graphTime(created)},
		{"modifiedDateTime", graphTime(created.Add(time.Duration(r.IntN(150*24)) * time.Hour))},
		{"state", tp.state},
		{"sessionControls", nil},
		{"conditions", obj{
			{"userRiskLevels", []string{}},
			{"signInRiskLevels", orEmpty(tp.risk)},
			{"clientAppTypes", tp.client},
			{"servicePrincipalRiskLevels", []string{}},
			{"platforms", nil},
			{"locations", nil},
			{"devices", nil},
			{"clientApplications", nil},
			{"applications", obj{{"includeApplications", tp.apps}, {"excludeApplications", []string{}},
				{"includeUserActions", []string{}}, {"includeAuthenticationContextClassReferences", []string{}}}},
			{"users", obj{{"includeUsers", orEmpty(tp.users)}, {"excludeUsers", []string{}}, {"includeGroups", []string{}},
				{"excludeGroups", []string{}}, {"includeRoles", orEmpty(tp.roles)}, {"excludeRoles", []string{}}}},
		}},
		{"grantControls", obj{{"operator", "OR"}, {"builtInControls", tp.grant}, {"customAuthenticationFactors", []string{}},
			{"termsOfUse", []string{}}}},
	}
}

// ---- applications and service principals ----

var appNames = []string{"Payroll Connector", "CRM Sync", "Backup Agent", "HR Portal", "Reporting Service",
	"Build Pipeline", "Ticketing Integration", "Data Warehouse Loader", "Mail Relay", "Inventory API"}

type credState int

const (
	credValid credState = iota
	credExpired
	credExpiring
)

// credState returns the state of the k-th application credential.
func (t *tenant) credState(k int) credState {
	switch p := t.credPerm.at(k); {
	case p < t.ExpiredCredentials:
		return credExpired
	case p < t.ExpiredCredentials+t.ExpiringCredentials:
		return credExpiring
	}
	return credValid
}

func (t *tenant) credential(k int, key bool, owner string) obj {
	r := t.rng("credential", k)
	var end time.Time
	switch t.credState(k) {
	case credExpired:
		end = daysBefore(t.anchor, r, 2, 400)
	case credExpiring:
		end = t.anchor.Add(time.Duration(2+r.IntN(26))*24*time.Hour + time.Duration(r.IntN(86400))*time.Second)
	default:
		end = t.anchor.Add(time.Duration(60+r.IntN(660))*24*time.Hour + time.Duration(r.IntN(86400))*time.Second)
	}
	start := end.AddDate(-1-r.IntN(2), 0, 0)
	keyID := randomGUID(r)
	if key {
		thumb := make([]byte, 20)
		for j := range thumb {
			thumb[j] = byte(r.IntN(256))
		}
		return obj{{"customKeyIdentifier", base64.StdEncoding.EncodeToString(thumb)}, {"displayName", "CN=" + owner},
			{"endDateTime", graphTime(end)}, {"key", nil}, {"keyId", keyID}, {"startDateTime", graphTime(start)},
			{"type", "AsymmetricX509Cert"}, {"usage", "Verify"}}
	}
	hint := string(rune('A'+r.IntN(26))) + strconv.Itoa(r.IntN(10)) + string(rune('a'+r.IntN(26)))
	return obj{{"customKeyIdentifier", nil}, {"displayName", []string{"CI secret", "prod", "rotation " + start.Format("2006-01"), "legacy"}[r.IntN(4)]},
		{"endDateTime", graphTime(end)}, {"hint", hint}, {"keyId", keyID}, {"secretText", nil}, {"startDateTime", graphTime(start)}}
}

func (t *tenant) appName(i int) string {
	n := appNames[i%len(appNames)]
	if i >= len(appNames) {
		n += " " + strconv.Itoa(i/len(appNames)+1)
	}
	return n
}

func (t *tenant) appIDs(i int) (id, appID string) {
	r := t.rng("app", i)
	return randomGUID(r), randomGUID(r)
}

func (t *tenant) applicationProps(i int) []prop {
	id, appID := t.appIDs(i)
	r := t.rng("app-extra", i)
	name := t.appName(i)
	k := i + (i+2)/3 // credentials before app i
	secrets := []obj{t.credential(k, false, name)}
	keys := []obj{}
	if i%3 == 0 {
		keys = append(keys, t.credential(k+1, true, name))
	}
	return []prop{
		{"id", id},
		{"deletedDateTime", nil},
		{"appId", appID},
		{"applicationTemplateId", nil},
		{"createdDateTime", graphTime(daysBefore(t.anchor, r, 100, 1500))},
		{"description", nil},
		{"displayName", name},
		{"publisherDomain", t.domain},
		{"signInAudience", []string{"AzureADMyOrg", "AzureADMyOrg", "AzureADMultipleOrgs"}[r.IntN(3)]},
		{"tags", []string{}},
		{"keyCredentials", keys},
		{"passwordCredentials", secrets},
	}
}

// microsoftTenant owns Microsoft's first-party apps.
const microsoftTenant = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"

// servicePrincipalCount is the number of service principals: Microsoft Graph, Exchange Online, the bridge app
// when provisioned, and one per app registration.
func (t *tenant) servicePrincipalCount() int {
	n := 2 + t.Apps
	if t.provisioned() {
		n++
	}
	return n
}

func (t *tenant) servicePrincipalProps(i int, bridgeAppID, home string) []prop {
	r := t.rng("sp", i)
	id := randomGUID(r)
	var appID, name, owner string
	enabled := true
	switch {
	case i == 0:
		appID, name, owner = graphAppID, "Microsoft Graph", microsoftTenant
	case i == 1:
		appID, name, owner = "00000002-0000-0ff1-ce00-000000000000", "Office 365 Exchange Online", microsoftTenant
	case i == 2 && t.provisioned():
		id, appID, name, owner = t.spID, strings.ToLower(bridgeAppID), "tenantreport", home
		enabled = !t.ServicePrincipalDisabled
	default:
		a := i - 2
		if t.provisioned() {
			a--
		}
		_, appID = t.appIDs(a)
		name, owner = t.appName(a), t.ID
	}
	return []prop{
		{"id", id},
		{"deletedDateTime", nil},
		{"accountEnabled", enabled},
		{"appDisplayName", name},
		{"appId", appID},
		{"appOwnerOrganizationId", owner},
		{"appRoleAssignmentRequired", false},
		{"displayName", name},
		{"servicePrincipalNames", []string{appID}},
		{"servicePrincipalType", "Application"},
		{"signInAudience", "AzureADMultipleOrgs"},
		{"tags", []string{"WindowsAzureActiveDirectoryIntegratedApp"}},
		{"keyCredentials", []obj{}},
		{"passwordCredentials", []obj{}},
	}
}

// ---- licences ----

func (t *tenant) skuProps(i int) []prop {
	l := t.skus[min(i, len(t.skus)-1)]
	s, _ := skuByPart(l.Sku)
	r := t.rng("sku", i)
	plans := make([]obj, len(s.plans))
	for j, p := range s.plans {
		plans[j] = obj{{"servicePlanId", p[1]}, {"servicePlanName", p[0]}, {"provisioningStatus", "Success"}, {"appliesTo", "User"}}
	}
	return []prop{
		{"accountName", t.DisplayName},
		{"accountId", t.ID},
		{"appliesTo", "User"},
		{"capabilityStatus", "Enabled"},
		{"consumedUnits", l.Consumed},
		{"id", t.ID + "_" + s.id},
		{"prepaidUnits", obj{{"enabled", l.Enabled}, {"suspended", 0}, {"warning", 0}, {"lockedOut", 0}}},
		{"servicePlans", plans},
		{"skuId", s.id},
		{"skuPartNumber", s.part},
		{"subscriptionIds", []string{randomGUID(r)}},
	}
}

// ---- secure score ----

// secureScoreDays is how many daily scores Graph keeps.
const secureScoreDays = 90

func (t *tenant) secureScoreProps(d int) []prop {
	day := t.anchor.Truncate(24*time.Hour).AddDate(0, 0, -d)
	cur := math.Max(0, math.Round((t.score.Current-0.1*float64(d))*100)/100)
	consumed := 0
	for _, l := range t.skus {
		consumed += l.Consumed
	}
	r := t.rng("score", d)
	ctrl := func(cat, name, desc string, f float64) obj {
		return obj{{"controlCategory", cat}, {"controlName", name}, {"description", desc}, {"score", math.Round(f*100) / 100}}
	}
	return []prop{
		{"id", t.ID + "_" + day.Format("2006-01-02")},
		{"azureTenantId", t.ID},
		{"activeUserCount", t.Users - t.disabled},
		{"createdDateTime", graphTime(day)},
		{"currentScore", cur},
		{"enabledServices", []string{"HasExchange", "HasSharePoint", "HasOD4B"}},
		{"licensedUserCount", consumed},
		{"maxScore", t.score.Max},
		{"vendorInformation", obj{{"provider", "SecureScore"}, {"providerVersion", nil}, {"subProvider", nil}, {"vendor", "Microsoft"}}},
		{"averageComparativeScores", []obj{
			{{"basis", "AllTenants"}, {"averageScore", 41.23}},
			{{"basis", "TotalSeats"}, {"averageScore", 39.87}},
		}},
		{"controlScores", []obj{
			ctrl("Identity", "MFARegistrationV2", "Ensure all users can complete multifactor authentication.", cur*0.3),
			ctrl("Identity", "BlockLegacyAuthentication", "Enable policy to block legacy authentication.", float64(r.IntN(9))),
			ctrl("Apps", "mdo_safelinksforemail", "Create Safe Links policies for email messages.", float64(r.IntN(5))),
		}},
	}
}
