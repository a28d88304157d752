package graphdata

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	"github.com/microsoftgraph/msgraph-sdk-go/applications"
	"github.com/microsoftgraph/msgraph-sdk-go/devices"
	"github.com/microsoftgraph/msgraph-sdk-go/domains"
	"github.com/microsoftgraph/msgraph-sdk-go/identity"
	"github.com/microsoftgraph/msgraph-sdk-go/organization"
	"github.com/microsoftgraph/msgraph-sdk-go/reports"
	"github.com/microsoftgraph/msgraph-sdk-go/rolemanagement"
	"github.com/microsoftgraph/msgraph-sdk-go/security"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"
	"github.com/microsoftgraph/msgraph-sdk-go/subscribedskus"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/tenantreport/tenantreport/internal/directory"
	"github.com/tenantreport/tenantreport/internal/section"
)

// Largest $top each collection accepts.
const (
	topDirectory   = 999 // users, devices, applications, servicePrincipals
	topSignIn      = 500 // users with signInActivity
	topRegistered  = 999 // userRegistrationDetails, when Graph accepts $top there
	inactiveAfter  = 90 * 24 * time.Hour
	expiringWithin = 30 * 24 * time.Hour
)

func ptr[T any](v T) *T { return &v }

type domainItem struct {
	ID                 string   `json:"id"`
	IsDefault          *bool    `json:"isDefault"`
	IsInitial          *bool    `json:"isInitial"`
	IsVerified         *bool    `json:"isVerified"`
	AuthenticationType string   `json:"authenticationType"`
	SupportedServices  []string `json:"supportedServices"`
}

type organizationItem struct {
	ID              string `json:"id"`
	DisplayName     string `json:"displayName"`
	VerifiedDomains []struct {
		Name      string `json:"name"`
		IsDefault bool   `json:"isDefault"`
	} `json:"verifiedDomains"`
}

func (c *collection) tenant(ctx context.Context) (int, error) {
	ri, err := c.gs.Organization().ToGetRequestInformation(ctx, &organization.OrganizationRequestBuilderGetRequestConfiguration{
		QueryParameters: &organization.OrganizationRequestBuilderGetQueryParameters{Select: []string{"id", "displayName", "verifiedDomains"}},
	})
	if err != nil {
		return 0, err
	}
	err = each(ctx, c, "organization", ri, func(o organizationItem) error {
		c.res.Organization = Organization{ID: o.ID, DisplayName: o.DisplayName}
		for _, d := range o.VerifiedDomains {
			if d.IsDefault {
				c.res.Organization.DefaultDomain = d.Name
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	ri, err = c.gs.Domains().ToGetRequestInformation(ctx, &domains.DomainsRequestBuilderGetRequestConfiguration{
		QueryParameters: &domains.DomainsRequestBuilderGetQueryParameters{
			Select: []string{"id", "isDefault", "isInitial", "isVerified", "authenticationType", "supportedServices"},
		},
	})
	if err != nil {
		return 0, err
	}
	rows := 0
	err = each(ctx, c, "domains", ri, func(d domainItem) error {
		rows++
		return c.emit("tenant", section.Domain{Name: d.ID, IsDefault: d.IsDefault, IsInitial: d.IsInitial, IsVerified: d.IsVerified,
			AuthenticationType: d.AuthenticationType, Services: d.SupportedServices})
	})
	return rows, err
}

type userItem struct {
	ID                string    `json:"id"`
	DisplayName       string    `json:"displayName"`
	UserPrincipalName string    `json:"userPrincipalName"`
	Mail              string    `json:"mail"`
	UserType          string    `json:"userType"`
	AccountEnabled    *bool     `json:"accountEnabled"`
	CreatedDateTime   graphTime `json:"createdDateTime"`
	ExternalUserState string    `json:"externalUserState"`
	JobTitle          string    `json:"jobTitle"`
	Department        string    `json:"department"`
	SignInActivity    *struct {
		LastSignInDateTime               graphTime `json:"lastSignInDateTime"`
		LastNonInteractiveSignInDateTime graphTime `json:"lastNonInteractiveSignInDateTime"`
	} `json:"signInActivity"`
}

func (u *userItem) bad() int {
	n := bads(u.CreatedDateTime)
	if u.SignInActivity != nil {
		n += bads(u.SignInActivity.LastSignInDateTime, u.SignInActivity.LastNonInteractiveSignInDateTime)
	}
	return n
}

// users reads the users, with their sign-in activity when withSignIn, and
// emits them to the users and guests sections as enabled.
func (c *collection) users(ctx context.Context, withSignIn bool) (int, error) {
	sel, top := userFields, int32(topDirectory)
	if withSignIn {
		// signInActivity caps $top at 500 and is budgeted separately.
		sel, top = append(slices.Clone(userFields), "signInActivity"), topSignIn
	}
	ri, err := c.gs.Users().ToGetRequestInformation(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Select: sel, Top: &top},
	})
	if err != nil {
		return 0, err
	}
	rows, guests := 0, c.enabled("guests")
	err = each(ctx, c, "users", ri, func(it userItem) error {
		u := section.User{
			ID: it.ID, DisplayName: it.DisplayName, UserPrincipalName: it.UserPrincipalName, Mail: it.Mail,
			UserType: userType(it.UserType), AccountEnabled: it.AccountEnabled, Created: it.CreatedDateTime.T,
			ExternalUserState: it.ExternalUserState, JobTitle: it.JobTitle, Department: it.Department,
		}
		if it.SignInActivity != nil {
			u.LastSignIn = it.SignInActivity.LastSignInDateTime.T
			u.LastNonInteractiveSignIn = it.SignInActivity.LastNonInteractiveSignInDateTime.T
		}
		if withSignIn {
			u.SignInKnown = true
			u.Inactive = c.now.Sub(lastActivity(u)) > inactiveAfter
			if u.Inactive {
				c.res.InactiveUsers++
			}
		}
		rows++
		c.res.Users++
		if u.AccountEnabled != nil && *u.AccountEnabled {
			c.res.EnabledUsers++
		}
		if u.IsGuest() {
			c.res.Guests++
			if guests {
				if err := c.emit("guests", u); err != nil {
					return err
				}
			}
		}
		if c.enabled("users") {
			return c.emit("users", u)
		}
		return nil
	})
	return rows, err
}

type skuItem struct {
	SkuPartNumber    string `json:"skuPartNumber"`
	SkuID            string `json:"skuId"`
	CapabilityStatus string `json:"capabilityStatus"`
	ConsumedUnits    int    `json:"consumedUnits"`
	PrepaidUnits     struct {
		Enabled   int `json:"enabled"`
		Suspended int `json:"suspended"`
		Warning   int `json:"warning"`
	} `json:"prepaidUnits"`
	ServicePlans []struct {
		Name string `json:"servicePlanName"`
	} `json:"servicePlans"`
}

// premium reports whether s carries an Entra ID P1/P2 plan (AAD_PREMIUM,
// AAD_PREMIUM_P2: part of Microsoft 365 E3/E5, Business Premium, EMS…).
func (s skuItem) premium() bool {
	return slices.ContainsFunc(s.ServicePlans, func(p struct {
		Name string `json:"servicePlanName"`
	}) bool {
		return strings.HasPrefix(p.Name, "AAD_PREMIUM")
	})
}

// readSkus reads the tenant's subscribed SKUs: one page holds them all
// (subscribedSkus supports only $select).
func readSkus(ctx context.Context, c *collection) ([]skuItem, error) {
	ri, err := c.gs.SubscribedSkus().ToGetRequestInformation(ctx, &subscribedskus.SubscribedSkusRequestBuilderGetRequestConfiguration{
		QueryParameters: &subscribedskus.SubscribedSkusRequestBuilderGetQueryParameters{
			Select: []string{"skuId", "skuPartNumber", "capabilityStatus", "consumedUnits", "prepaidUnits", "servicePlans"},
		},
	})
	if err != nil {
		return nil, err
	}
	var skus []skuItem
	err = each(ctx, c, "subscribedSkus", ri, func(it skuItem) error {
		skus = append(skus, it)
		return nil
	})
	return skus, err
}

// licences emits the SKUs the run's survey read, or reads them.
func (c *collection) licences(ctx context.Context) (int, error) {
	skus := c.skus
	if skus == nil {
		var err error
		if skus, err = readSkus(ctx, c); err != nil {
			return 0, err
		}
	}
	for _, it := range skus {
		l := section.Licence{SkuPartNumber: it.SkuPartNumber, SkuID: it.SkuID, ProductName: directory.ProductName(it.SkuID, it.SkuPartNumber),
			CapabilityStatus: it.CapabilityStatus, Enabled: it.PrepaidUnits.Enabled, Consumed: it.ConsumedUnits,
			Warning: it.PrepaidUnits.Warning, Suspended: it.PrepaidUnits.Suspended}
		if l.CapabilityStatus == "Enabled" {
			c.res.UnusedLicences += l.Available()
			l.Wasted = c.waste.Wasted(l.Available(), l.Enabled)
		}
		if err := c.emit("licences", l); err != nil {
			return 0, err
		}
	}
	return len(skus), nil
}

type roleDefinitionItem struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	TemplateID  string `json:"templateId"`
}

type roleAssignmentItem struct {
	RoleDefinitionID string `json:"roleDefinitionId"`
	DirectoryScopeID string `json:"directoryScopeId"`
	PrincipalID      string `json:"principalId"`
	Principal        *struct {
		ODataType         string `json:"@odata.type"`
		DisplayName       string `json:"displayName"`
		UserPrincipalName string `json:"userPrincipalName"`
		UserType          string `json:"userType"`
		AccountEnabled    *bool  `json:"accountEnabled"`
	} `json:"principal"`
}

func (c *collection) roles(ctx context.Context) (int, error) {
	// Definitions first: a few hundred at most, kept to name assignments.
	ri, err := c.gs.RoleManagement().Directory().RoleDefinitions().ToGetRequestInformation(ctx, &rolemanagement.DirectoryRoleDefinitionsRequestBuilderGetRequestConfiguration{
		QueryParameters: &rolemanagement.DirectoryRoleDefinitionsRequestBuilderGetQueryParameters{Select: []string{"id", "displayName", "templateId"}},
	})
	if err != nil {
		return 0, err
	}
	defs := map[string]roleDefinitionItem{}
	err = each(ctx, c, "roleDefinitions", ri, func(d roleDefinitionItem) error {
		defs[d.ID] = d
		return nil
	})
	if err != nil {
		return 0, err
	}
	// /directoryRoles would list only activated roles; roleAssignments has
	// them all, with the principal expanded in the same request.
	ri, err = c.gs.RoleManagement().Directory().RoleAssignments().ToGetRequestInformation(ctx, &rolemanagement.DirectoryRoleAssignmentsRequestBuilderGetRequestConfiguration{
		QueryParameters: &rolemanagement.DirectoryRoleAssignmentsRequestBuilderGetQueryParameters{Expand: []string{"principal"}},
	})
	if err != nil {
		return 0, err
	}
	rows := 0
	err = each(ctx, c, "roleAssignments", ri, func(a roleAssignmentItem) error {
		d := defs[a.RoleDefinitionID]
		r := section.RoleAssignment{Role: d.DisplayName, RoleTemplateID: cmp.Or(d.TemplateID, a.RoleDefinitionID), Scope: scope(a.DirectoryScopeID), PrincipalID: a.PrincipalID}
		// Built-in roles' definition ids are their template ids: when the
		// definitions could not be read, Microsoft's table still names them.
		builtIn, known := directory.BuiltInRole(r.RoleTemplateID)
		if r.Role == "" {
			r.Role = cmp.Or(builtIn.Name, a.RoleDefinitionID)
		}
		r.Privileged = known && builtIn.Privileged
		if p := a.Principal; p != nil {
			r.PrincipalType = strings.TrimPrefix(p.ODataType, "#microsoft.graph.")
			r.PrincipalName, r.PrincipalUPN = p.DisplayName, p.UserPrincipalName
			if p.UserType != "" {
				r.Guest = ptr(strings.EqualFold(p.UserType, "Guest"))
			}
			if p.AccountEnabled != nil {
				r.Disabled = ptr(!*p.AccountEnabled)
			}
		}
		rows++
		c.res.RoleAssignments++
		if r.Flagged() {
			c.res.FlaggedRoleAssignments++
		}
		return c.emit("roles", r)
	})
	return rows, err
}

type registrationItem struct {
	UserPrincipalName   string    `json:"userPrincipalName"`
	UserDisplayName     string    `json:"userDisplayName"`
	UserType            string    `json:"userType"`
	IsAdmin             *bool     `json:"isAdmin"`
	IsMfaRegistered     *bool     `json:"isMfaRegistered"`
	IsMfaCapable        *bool     `json:"isMfaCapable"`
	IsPasswordless      *bool     `json:"isPasswordlessCapable"`
	IsSsprRegistered    *bool     `json:"isSsprRegistered"`
	MethodsRegistered   []string  `json:"methodsRegistered"`
	LastUpdatedDateTime graphTime `json:"lastUpdatedDateTime"`
}

func (r *registrationItem) bad() int { return bads(r.LastUpdatedDateTime) }

// mfa reads userRegistrationDetails. Its API page documents only $filter,
// but Graph has accepted $select and $top, which cut the bytes and the
// requests drawn from the small reports budget: mfa asks with them, and if
// Graph refuses the first page with 400, reads again without them.
func (c *collection) mfa(ctx context.Context) (int, error) {
	rows, err := c.registrations(ctx, true)
	var ge *GraphError
	if rows == 0 && errors.As(err, &ge) && ge.Status == http.StatusBadRequest {
		return c.registrations(ctx, false)
	}
	return rows, err
}

// registrations reads userRegistrationDetails, with $select and $top when
// options is set, and emits one row per user.
func (c *collection) registrations(ctx context.Context, options bool) (int, error) {
	q := &reports.AuthenticationMethodsUserRegistrationDetailsRequestBuilderGetQueryParameters{}
	if options {
		q.Select = []string{"userPrincipalName", "userDisplayName", "userType", "isAdmin", "isMfaRegistered", "isMfaCapable",
			"isPasswordlessCapable", "isSsprRegistered", "methodsRegistered", "lastUpdatedDateTime"}
		q.Top = ptr(int32(topRegistered))
	}
	ri, err := c.gs.Reports().AuthenticationMethods().UserRegistrationDetails().ToGetRequestInformation(ctx,
		&reports.AuthenticationMethodsUserRegistrationDetailsRequestBuilderGetRequestConfiguration{QueryParameters: q})
	if err != nil {
		return 0, err
	}
	rows := 0
	err = each(ctx, c, "userRegistrationDetails", ri, func(it registrationItem) error {
		rows++
		r := section.Registration{UserPrincipalName: it.UserPrincipalName, UserDisplayName: it.UserDisplayName, UserType: userType(it.UserType),
			IsAdmin: it.IsAdmin, IsMfaRegistered: it.IsMfaRegistered, IsMfaCapable: it.IsMfaCapable, IsPasswordless: it.IsPasswordless,
			IsSsprRegistered: it.IsSsprRegistered, MethodsRegistered: it.MethodsRegistered, Updated: it.LastUpdatedDateTime.T}
		if r.UserType != "Guest" {
			c.res.MFAMembers++
			if r.IsMfaRegistered != nil && *r.IsMfaRegistered {
				c.res.MFARegistered++
			}
		}
		if r.AdminWithoutMFA() {
			c.res.AdminsWithoutMFA++
		}
		return c.emit("mfa", r)
	})
	return rows, err
}

type deviceItem struct {
	ID                     string    `json:"id"`
	DisplayName            string    `json:"displayName"`
	OperatingSystem        string    `json:"operatingSystem"`
	OperatingSystemVersion string    `json:"operatingSystemVersion"`
	AccountEnabled         *bool     `json:"accountEnabled"`
	TrustType              string    `json:"trustType"`
	IsCompliant            *bool     `json:"isCompliant"`
	IsManaged              *bool     `json:"isManaged"`
	LastSignIn             graphTime `json:"approximateLastSignInDateTime"`
	Registered             graphTime `json:"registrationDateTime"`
}

func (d *deviceItem) bad() int { return bads(d.LastSignIn, d.Registered) }

func (c *collection) devices(ctx context.Context) (int, error) {
	ri, err := c.gs.Devices().ToGetRequestInformation(ctx, &devices.DevicesRequestBuilderGetRequestConfiguration{
		QueryParameters: &devices.DevicesRequestBuilderGetQueryParameters{
			Select: []string{"id", "displayName", "operatingSystem", "operatingSystemVersion", "accountEnabled", "trustType",
				"isCompliant", "isManaged", "approximateLastSignInDateTime", "registrationDateTime"},
			Top: ptr(int32(topDirectory)),
		},
	})
	if err != nil {
		return 0, err
	}
	rows := 0
	err = each(ctx, c, "devices", ri, func(d deviceItem) error {
		rows++
		return c.emit("devices", section.Device{ID: d.ID, DisplayName: d.DisplayName, OperatingSystem: d.OperatingSystem,
			OperatingSystemVersion: d.OperatingSystemVersion, AccountEnabled: d.AccountEnabled, TrustType: d.TrustType,
			IsCompliant: d.IsCompliant, IsManaged: d.IsManaged, LastSignIn: d.LastSignIn.T, Registered: d.Registered.T})
	})
	return rows, err
}

type policyItem struct {
	DisplayName string    `json:"displayName"`
	State       string    `json:"state"`
	Created     graphTime `json:"createdDateTime"`
	Modified    graphTime `json:"modifiedDateTime"`
	Conditions  struct {
		Users struct {
			IncludeUsers  []string `json:"includeUsers"`
			ExcludeUsers  []string `json:"excludeUsers"`
			IncludeGroups []string `json:"includeGroups"`
			ExcludeGroups []string `json:"excludeGroups"`
			IncludeRoles  []string `json:"includeRoles"`
			ExcludeRoles  []string `json:"excludeRoles"`
		} `json:"users"`
	} `json:"conditions"`
	GrantControls *struct {
		Operator        string   `json:"operator"`
		BuiltInControls []string `json:"builtInControls"`
	} `json:"grantControls"`
}

func (p *policyItem) bad() int { return bads(p.Created, p.Modified) }

// row is the policy as the Entra admin center words it.
func (p policyItem) row() section.Policy {
	u := p.Conditions.Users
	r := section.Policy{DisplayName: p.DisplayName, State: p.State, Created: p.Created.T, Modified: p.Modified.T,
		ExcludedUsers: len(u.ExcludeUsers), ExcludedGroups: len(u.ExcludeGroups), ExcludedRoles: len(u.ExcludeRoles)}
	if r.State == "enabledForReportingButNotEnforced" {
		r.State = "report-only"
	}
	if p.GrantControls != nil {
		r.GrantControls = p.GrantControls.BuiltInControls
	}
	var targets []string
	count := func(ids []string, one, many string) {
		switch {
		case slices.Contains(ids, "All"):
			targets = append(targets, "All users")
		case slices.Contains(ids, "GuestsOrExternalUsers"):
			targets = append(targets, "Guests and external users")
			if n := len(ids) - 1; n > 0 {
				targets = append(targets, plural(n, one, many))
			}
		case slices.Contains(ids, "None"):
			targets = append(targets, "No users")
		case len(ids) > 0:
			targets = append(targets, plural(len(ids), one, many))
		}
	}
	count(u.IncludeUsers, "user", "users")
	count(u.IncludeGroups, "group", "groups")
	count(u.IncludeRoles, "role", "roles")
	r.Targets = strings.Join(targets, ", ")
	return r
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func (c *collection) conditionalAccess(ctx context.Context) (int, error) {
	ri, err := c.gs.Identity().ConditionalAccess().Policies().ToGetRequestInformation(ctx, &identity.ConditionalAccessPoliciesRequestBuilderGetRequestConfiguration{
		QueryParameters: &identity.ConditionalAccessPoliciesRequestBuilderGetQueryParameters{
			Select: []string{"displayName", "state", "createdDateTime", "modifiedDateTime", "conditions", "grantControls"},
		},
	})
	if err != nil {
		return 0, err
	}
	rows := 0
	err = each(ctx, c, "conditionalAccessPolicies", ri, func(p policyItem) error {
		rows++
		if p.State == "enabled" {
			c.res.EnabledCAPolicies++
		}
		return c.emit("conditionalaccess", p.row())
	})
	return rows, err
}

type credentialItem struct {
	KeyID       string    `json:"keyId"`
	DisplayName string    `json:"displayName"`
	Start       graphTime `json:"startDateTime"`
	End         graphTime `json:"endDateTime"`
	Type        string    `json:"type"`
}

type appItem struct {
	AppID               string           `json:"appId"`
	DisplayName         string           `json:"displayName"`
	PasswordCredentials []credentialItem `json:"passwordCredentials"`
	KeyCredentials      []credentialItem `json:"keyCredentials"`
}

func (a *appItem) bad() int {
	n := 0
	for _, cr := range append(slices.Clone(a.PasswordCredentials), a.KeyCredentials...) {
		n += bads(cr.Start, cr.End)
	}
	return n
}

func (c *collection) appCredentials(ctx context.Context) (int, error) {
	sel := []string{"id", "appId", "displayName", "passwordCredentials", "keyCredentials"}
	rows := 0
	emitApp := func(objectType string) func(appItem) error {
		return func(a appItem) error {
			for _, set := range []struct {
				kind  string
				creds []credentialItem
			}{{"Secret", a.PasswordCredentials}, {"Certificate", a.KeyCredentials}} {
				for _, cr := range set.creds {
					ac := section.AppCredential{ObjectType: objectType, DisplayName: a.DisplayName, AppID: a.AppID,
						CredentialType: set.kind, Name: cr.DisplayName, KeyID: cr.KeyID, Start: cr.Start.T, End: cr.End.T}
					if !ac.End.IsZero() {
						left := ac.End.Sub(c.now)
						ac.DaysToExpiry = int(left.Hours() / 24)
						ac.Expired = left < 0
						ac.ExpiringSoon = !ac.Expired && left < expiringWithin
					}
					if ac.Expired {
						c.res.ExpiredCredentials++
					}
					if ac.ExpiringSoon {
						c.res.ExpiringCredentials++
					}
					rows++
					if err := c.emit("appcredentials", ac); err != nil {
						return err
					}
				}
			}
			return nil
		}
	}
	ri, err := c.gs.Applications().ToGetRequestInformation(ctx, &applications.ApplicationsRequestBuilderGetRequestConfiguration{
		QueryParameters: &applications.ApplicationsRequestBuilderGetQueryParameters{Select: sel, Top: ptr(int32(topDirectory))},
	})
	if err != nil {
		return 0, err
	}
	err = each(ctx, c, "applications", ri, emitApp("Application"))
	if err != nil {
		return rows, err
	}
	ri, err = c.gs.ServicePrincipals().ToGetRequestInformation(ctx, &serviceprincipals.ServicePrincipalsRequestBuilderGetRequestConfiguration{
		QueryParameters: &serviceprincipals.ServicePrincipalsRequestBuilderGetQueryParameters{Select: sel, Top: ptr(int32(topDirectory))},
	})
	if err != nil {
		return rows, err
	}
	err = each(ctx, c, "servicePrincipals", ri, emitApp("Service principal"))
	return rows, err
}

type secureScoreItem struct {
	Created       graphTime `json:"createdDateTime"`
	CurrentScore  float64   `json:"currentScore"`
	MaxScore      float64   `json:"maxScore"`
	LicensedUsers int       `json:"licensedUserCount"`
	ActiveUsers   int       `json:"activeUserCount"`
}

func (s *secureScoreItem) bad() int { return bads(s.Created) }

func (c *collection) secureScore(ctx context.Context) (int, error) {
	ri, err := c.gs.Security().SecureScores().ToGetRequestInformation(ctx, &security.SecureScoresRequestBuilderGetRequestConfiguration{
		QueryParameters: &security.SecureScoresRequestBuilderGetQueryParameters{Top: ptr(int32(1))},
	})
	if err != nil {
		return 0, err
	}
	// $top=1 returns the newest score; a nextLink would be older days.
	rows := 0
	err = eachFirstPage(ctx, c, "secureScores", ri, func(it secureScoreItem) error {
		if rows > 0 {
			return nil
		}
		rows++
		s := section.SecureScore{Created: it.Created.T, CurrentScore: it.CurrentScore, MaxScore: it.MaxScore,
			LicensedUsers: it.LicensedUsers, ActiveUsers: it.ActiveUsers}
		c.res.SecureScore = &s
		return c.emit("securescore", s)
	})
	return rows, err
}

// collection is the state of one section of one tenant's Collect.
type collection struct {
	gs      *msgraphsdk.GraphServiceClient
	adapter abs.RequestAdapter
	// res is the tenant's Result: each section writes its own fields.
	res      *Result
	emit     func(section string, row any) error
	now      time.Time
	sections []string
	waste    Waste
	// skus are the SKUs the run's survey read (nil: not read).
	skus []skuItem
	// warnings counts the values of the section that could not be decoded
	// and were left blank.
	warnings int
}

func (c *collection) enabled(name string) bool { return slices.Contains(c.sections, name) }

// userType spells a user type one way everywhere: Graph's users say
// "Member"/"Guest", its registration details "member"/"guest".
func userType(s string) string {
	switch strings.ToLower(s) {
	case "member":
		return "Member"
	case "guest":
		return "Guest"
	}
	return s
}

// lastActivity is the newest sign-in of u, or its creation when it never
// signed in.
func lastActivity(u section.User) time.Time {
	if u.LastNonInteractiveSignIn.After(u.LastSignIn) {
		return u.LastNonInteractiveSignIn
	}
	if u.LastSignIn.IsZero() {
		return u.Created
	}
	return u.LastSignIn
}

// scope is a role assignment's directory scope as a reader sees it.
func scope(id string) string {
	if id == "/" || id == "" {
		return "Tenant-wide"
	}
	return id
}

// Waste is when unassigned seats of a licence are worth acting on: at
// least MinSeats of them and at least MinShare (0–1) of its seats. One
// spare seat is a buffer, not waste. The zero value is [DefaultWaste].
type Waste struct {
	MinSeats int
	MinShare float64
}

// DefaultWaste flags 5 or more unassigned seats that are 10 % or more of a
// licence's seats.
var DefaultWaste = Waste{MinSeats: 5, MinShare: 0.10}

// Wasted reports whether unused of seats is waste.
func (w Waste) Wasted(unused, seats int) bool {
	if w == (Waste{}) {
		w = DefaultWaste
	}
	return unused > 0 && unused >= w.MinSeats && seats > 0 && float64(unused)/float64(seats) >= w.MinShare
}
