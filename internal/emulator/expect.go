package emulator

import (
	"encoding/json"
	"strings"
)

// Report sections, as the product names them.
const (
	SectionTenant            = "tenant"
	SectionUsers             = "users"
	SectionSignIn            = "signin"
	SectionLicences          = "licences"
	SectionRoles             = "roles"
	SectionMFA               = "mfa"
	SectionGuests            = "guests"
	SectionDevices           = "devices"
	SectionConditionalAccess = "conditionalaccess"
	SectionAppCredentials    = "appcredentials"
	SectionSecureScore       = "securescore"
)

// Sections returns the report sections in report order.
func Sections() []string {
	return []string{SectionTenant, SectionUsers, SectionSignIn, SectionLicences, SectionRoles, SectionMFA,
		SectionGuests, SectionDevices, SectionConditionalAccess, SectionAppCredentials, SectionSecureScore}
}

// sectionNeeds lists, per section, the collections it reads; each collection's permissions are all needed.
var sectionNeeds = map[string][]string{
	SectionTenant:            {"/organization", "/domains"},
	SectionUsers:             {"/users"},
	SectionSignIn:            {"/users", "signin"},
	SectionLicences:          {"/subscribedskus"},
	SectionRoles:             {"/rolemanagement/directory/roleassignments", "/rolemanagement/directory/roledefinitions"},
	SectionMFA:               {"/reports/authenticationmethods/userregistrationdetails"},
	SectionGuests:            {"/users"},
	SectionDevices:           {"/devices"},
	SectionConditionalAccess: {"/identity/conditionalaccess/policies"},
	SectionAppCredentials:    {"/applications", "/serviceprincipals"},
	SectionSecureScore:       {"/security/securescores"},
}

// TenantExpect is everything a tenant serves, counted, so tests can compare report rows with the world.
type TenantExpect struct {
	TenantID    string `json:"tenantId"`
	DisplayName string `json:"displayName"`
	// Exchange is "" when the token exchange succeeds, else the AADSTS code it fails with (e.g. "AADSTS700016").
	Exchange string `json:"exchange,omitempty"`
	Premium  bool   `json:"premium"`
	Domains  int    `json:"domains"`

	Users         int `json:"users"`
	EnabledUsers  int `json:"enabledUsers"`
	Members       int `json:"members"`
	Guests        int `json:"guests"`
	PendingGuests int `json:"pendingGuests"` // externalUserState PendingAcceptance
	// InactiveUsers have no sign-in in the 90 days before the epoch (NeverSignedIn of them never signed in).
	InactiveUsers int `json:"inactiveUsers"`
	NeverSignedIn int `json:"neverSignedIn"`

	MFARegistered    int `json:"mfaRegistered"`
	Admins           int `json:"admins"` // users holding a directory role
	RoleAssignments  int `json:"roleAssignments"`
	RoleDefinitions  int `json:"roleDefinitions"`
	AdminsWithoutMFA int `json:"adminsWithoutMfa"`

	SubscribedSkus int `json:"subscribedSkus"`
	PrepaidUnits   int `json:"prepaidUnits"`
	ConsumedUnits  int `json:"consumedUnits"`
	UnusedLicences int `json:"unusedLicences"` // prepaid − consumed, over every SKU

	Devices                   int `json:"devices"`
	ConditionalAccessPolicies int `json:"conditionalAccessPolicies"`
	EnabledPolicies           int `json:"enabledPolicies"` // state "enabled"

	Applications        int `json:"applications"`
	ServicePrincipals   int `json:"servicePrincipals"`
	Credentials         int `json:"credentials"`         // on applications and service principals
	ExpiredCredentials  int `json:"expiredCredentials"`  // endDateTime before the epoch
	ExpiringCredentials int `json:"expiringCredentials"` // endDateTime within 30 days after the epoch

	SecureScore    float64 `json:"secureScore"`
	MaxSecureScore float64 `json:"maxSecureScore"`
}

// SectionCounts is what one report section yields for a tenant.
type SectionCounts struct {
	// Rows is the number of rows the section yields: tenant 1; users, signin and mfa one per user; guests one per
	// guest; licences one per SKU; roles one per role assignment; devices, conditionalaccess one per object;
	// appcredentials one per credential on applications and service principals; securescore 1.
	Rows int `json:"rows"`
	// NotAvailable is "" when the section can be read, else why not: "token exchange fails with AADSTS…",
	// "permission X not granted" (naming the least-privileged one) or "needs Entra ID P1/P2".
	NotAvailable string `json:"notAvailable,omitempty"`
}

// ExpectTenant counts what tenantID serves (zero for a tenant the world does not declare). It walks every user,
// so it costs about as much as generating them once; recorded tenants are counted from their files.
func (w *World) ExpectTenant(tenantID string) TenantExpect {
	for i := range w.Tenants {
		if strings.EqualFold(w.Tenants[i].ID, tenantID) {
			return w.expectTenant(i)
		}
	}
	return TenantExpect{}
}

// ExpectSection returns what section (one of [Sections]) yields for tenantID.
func (w *World) ExpectSection(tenantID, section string) SectionCounts {
	e := w.ExpectTenant(tenantID)
	var tn *Tenant
	for i := range w.Tenants {
		if strings.EqualFold(w.Tenants[i].ID, tenantID) {
			tn = &w.Tenants[i]
		}
	}
	if tn == nil {
		return SectionCounts{NotAvailable: "tenant not in the world"}
	}
	if e.Exchange != "" {
		return SectionCounts{NotAvailable: "token exchange fails with " + e.Exchange}
	}
	for _, need := range sectionNeeds[section] {
		perms := []string{"AuditLog.Read.All"}
		if c := collections[need]; c != nil {
			perms = c.perms
		}
		if !anyGranted(tn.roles(), perms) {
			return SectionCounts{NotAvailable: "permission " + perms[0] + " not granted"}
		}
	}
	if (section == SectionSignIn || section == SectionMFA) && !e.Premium {
		return SectionCounts{NotAvailable: "needs Entra ID P1/P2"}
	}
	rows := map[string]int{
		SectionTenant: 1, SectionUsers: e.Users, SectionSignIn: e.Users, SectionLicences: e.SubscribedSkus,
		SectionRoles: e.RoleAssignments, SectionMFA: e.Users, SectionGuests: e.Guests, SectionDevices: e.Devices,
		SectionConditionalAccess: e.ConditionalAccessPolicies, SectionAppCredentials: e.Credentials,
		SectionSecureScore: 1,
	}
	return SectionCounts{Rows: rows[section]}
}

func anyGranted(roles, perms []string) bool {
	for _, p := range perms {
		if granted(roles, p) {
			return true
		}
	}
	return false
}

func (w *World) expectTenant(i int) TenantExpect {
	tn := &w.Tenants[i]
	t := newTenant(w, i)
	e := TenantExpect{TenantID: t.ID, DisplayName: tn.DisplayName}
	switch {
	case tn.BlockedByConditionalAccess:
		e.Exchange = "AADSTS53003"
	case !tn.provisioned():
		e.Exchange = "AADSTS700016"
	case tn.ServicePrincipalDisabled:
		e.Exchange = "AADSTS7000112"
	case tn.TokenOutage:
		e.Exchange = "AADSTS90033"
	}
	if tn.Recorded != "" {
		if err := t.loadRecording(w); err == nil {
			return expectRecorded(e, t)
		}
		return e
	}
	e.Premium = t.premium
	e.Domains = len(t.domainNames())
	e.Users = t.Users
	for u := range t.Users {
		usr := t.user(u)
		if usr.enabled {
			e.EnabledUsers++
		}
		if usr.guest {
			e.Guests++
			if usr.externalState == "PendingAcceptance" {
				e.PendingGuests++
			}
		}
		if p := t.inactivePerm.at(u); p < t.inactive {
			e.InactiveUsers++
			if p%2 == 0 {
				e.NeverSignedIn++
			}
		}
		if t.mfaRegistered(u) {
			e.MFARegistered++
		}
	}
	e.Members = e.Users - e.Guests
	e.Admins = len(t.admins)
	e.RoleAssignments = len(t.admins)
	e.RoleDefinitions = len(roleDefs)
	for _, a := range t.admins {
		if !t.mfaRegistered(a) {
			e.AdminsWithoutMFA++
		}
	}
	e.SubscribedSkus = len(t.skus)
	for _, l := range t.skus {
		e.PrepaidUnits += l.Enabled
		e.ConsumedUnits += l.Consumed
	}
	e.UnusedLicences = e.PrepaidUnits - e.ConsumedUnits
	e.Devices = t.Devices
	e.ConditionalAccessPolicies = t.ConditionalAccessPolicies
	for p := range t.ConditionalAccessPolicies {
		if caTemplates[p%len(caTemplates)].state == "enabled" {
			e.EnabledPolicies++
		}
	}
	e.Applications = t.Apps
	e.ServicePrincipals = t.servicePrincipalCount()
	e.Credentials = t.creds
	e.ExpiredCredentials = t.ExpiredCredentials
	e.ExpiringCredentials = t.ExpiringCredentials
	e.SecureScore, e.MaxSecureScore = t.score.Current, t.score.Max
	return e
}

// expectRecorded counts a recorded tenant from its files (the fields the files can tell).
func expectRecorded(e TenantExpect, t *tenant) TenantExpect {
	items := t.rec.items
	e.Premium = t.Premium == nil || *t.Premium
	if skus, ok := items["/subscribedskus"]; ok && t.Premium == nil {
		e.Premium = false
		for _, s := range skus {
			b, _ := json.Marshal(propAny(s, "servicePlans"))
			e.Premium = e.Premium || strings.Contains(string(b), `"AAD_PREMIUM`)
		}
	}
	e.Domains = len(items["/domains"])
	for _, u := range items["/users"] {
		e.Users++
		if v, ok := propAny(u, "accountEnabled").(bool); ok && v {
			e.EnabledUsers++
		}
		if propString(u, "userType") == "Guest" {
			e.Guests++
			if propString(u, "externalUserState") == "PendingAcceptance" {
				e.PendingGuests++
			}
		}
	}
	e.Members = e.Users - e.Guests
	for _, r := range items["/reports/authenticationmethods/userregistrationdetails"] {
		if v, _ := propAny(r, "isMfaRegistered").(bool); v {
			e.MFARegistered++
		}
	}
	e.RoleAssignments = len(items["/rolemanagement/directory/roleassignments"])
	principals := map[string]bool{}
	for _, a := range items["/rolemanagement/directory/roleassignments"] {
		principals[propString(a, "principalId")] = true
	}
	e.Admins = len(principals)
	e.RoleDefinitions = len(items["/rolemanagement/directory/roledefinitions"])
	e.SubscribedSkus = len(items["/subscribedskus"])
	for _, s := range items["/subscribedskus"] {
		if pu, ok := propAny(s, "prepaidUnits").(map[string]any); ok {
			n, _ := pu["enabled"].(float64)
			e.PrepaidUnits += int(n)
		}
		n, _ := propAny(s, "consumedUnits").(float64)
		e.ConsumedUnits += int(n)
	}
	e.UnusedLicences = e.PrepaidUnits - e.ConsumedUnits
	e.Devices = len(items["/devices"])
	e.ConditionalAccessPolicies = len(items["/identity/conditionalaccess/policies"])
	for _, p := range items["/identity/conditionalaccess/policies"] {
		if propString(p, "state") == "enabled" {
			e.EnabledPolicies++
		}
	}
	e.Applications = len(items["/applications"])
	e.ServicePrincipals = len(items["/serviceprincipals"])
	for _, k := range []string{"/applications", "/serviceprincipals"} {
		for _, a := range items[k] {
			for _, c := range []string{"passwordCredentials", "keyCredentials"} {
				if l, ok := propAny(a, c).([]any); ok {
					e.Credentials += len(l)
				}
			}
		}
	}
	if scores := items["/security/securescores"]; len(scores) > 0 {
		e.SecureScore, _ = propAny(scores[0], "currentScore").(float64)
		e.MaxSecureScore, _ = propAny(scores[0], "maxScore").(float64)
	}
	return e
}
