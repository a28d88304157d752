package graphdata

import (
	"cmp"
	"context"
	"slices"
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
)

// Largest $top each collection accepts.
const (
	topDirectory   = 999 // users, devices, applications, servicePrincipals
	topSignIn      = 500 // users with signInActivity
	topRegistered  = 999 // userRegistrationDetails
	inactiveAfter  = 90 * 24 * time.Hour
	expiringWithin = 30 * 24 * time.Hour
)

func ptr[T any](v T) *T { return &v }

// Domain is a row of the Domains sheet (tenant section).
type Domain struct {
	Name               string   `json:"id"`
	IsDefault          bool     `json:"isDefault"`
	IsInitial          bool     `json:"isInitial"`
	IsVerified         bool     `json:"isVerified"`
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
	err = each(ctx, c, "domains", ri, func(d Domain) error {
		rows++
		return c.emit("tenant", d)
	})
	return rows, err
}

type userItem struct {
	ID                string    `json:"id"`
	DisplayName       string    `json:"displayName"`
	UserPrincipalName string    `json:"userPrincipalName"`
	Mail              string    `json:"mail"`
	UserType          string    `json:"userType"`
	AccountEnabled    bool      `json:"accountEnabled"`
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
		u := User{
			ID: it.ID, DisplayName: it.DisplayName, UserPrincipalName: it.UserPrincipalName, Mail: it.Mail,
			UserType: it.UserType, AccountEnabled: it.AccountEnabled, CreatedDateTime: it.CreatedDateTime.T,
			ExternalUserState: it.ExternalUserState, JobTitle: it.JobTitle, Department: it.Department,
		}
		if it.SignInActivity != nil {
			u.LastSignIn = it.SignInActivity.LastSignInDateTime.T
			u.LastNonInteractiveSignIn = it.SignInActivity.LastNonInteractiveSignInDateTime.T
		}
		if withSignIn {
			u.SignInKnown = true
			u.Inactive = c.now.Sub(u.lastActivity()) > inactiveAfter
			if u.Inactive {
				c.res.InactiveUsers++
			}
		}
		rows++
		c.res.Users++
		if u.AccountEnabled {
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

// Licence is a row of the Licences sheet: one subscribed SKU.
type Licence struct {
	SkuPartNumber    string `json:"skuPartNumber"`
	SkuID            string `json:"skuId"`
	CapabilityStatus string `json:"capabilityStatus"`
	ConsumedUnits    int    `json:"consumedUnits"`
	PrepaidUnits     struct {
		Enabled   int `json:"enabled"`
		Suspended int `json:"suspended"`
		Warning   int `json:"warning"`
	} `json:"prepaidUnits"`
}

// Available is the number of enabled units nobody uses.
func (l Licence) Available() int { return max(l.PrepaidUnits.Enabled-l.ConsumedUnits, 0) }

func (c *collection) licences(ctx context.Context) (int, error) {
	// subscribedSkus supports only $select: one page holds every SKU.
	ri, err := c.gs.SubscribedSkus().ToGetRequestInformation(ctx, &subscribedskus.SubscribedSkusRequestBuilderGetRequestConfiguration{
		QueryParameters: &subscribedskus.SubscribedSkusRequestBuilderGetQueryParameters{
			Select: []string{"skuId", "skuPartNumber", "capabilityStatus", "consumedUnits", "prepaidUnits"},
		},
	})
	if err != nil {
		return 0, err
	}
	rows := 0
	err = each(ctx, c, "subscribedSkus", ri, func(l Licence) error {
		rows++
		if l.CapabilityStatus == "Enabled" {
			c.res.UnusedLicences += l.Available()
		}
		return c.emit("licences", l)
	})
	return rows, err
}

// RoleAssignment is a row of the Admin roles sheet.
type RoleAssignment struct {
	Role           string
	RoleTemplateID string
	Privileged     bool
	DirectoryScope string
	PrincipalType  string
	PrincipalName  string
	PrincipalUPN   string
	PrincipalID    string
	Guest          bool
	// Disabled is a user or service principal whose account is disabled.
	Disabled bool
}

// Flagged is an assignment to look at: a guest or a disabled account
// holding a role.
func (r RoleAssignment) Flagged() bool { return r.Guest || r.Disabled }

// privilegedRoles are the built-in role templates Microsoft marks as
// privileged (Graph v1.0 has no isPrivileged property yet).
var privilegedRoles = map[string]bool{
	"62e90394-69f5-4237-9190-012177145e10": true, // Global Administrator
	"e8611ab8-c189-46e8-94e1-60213ab1f814": true, // Privileged Role Administrator
	"7be44c8a-adaf-4e2a-84d6-ab2649e08a13": true, // Privileged Authentication Administrator
	"194ae4cb-b126-40b2-bd5b-6091b380977d": true, // Security Administrator
	"29232cdf-9323-42fd-ade2-1d097af3e4de": true, // Exchange Administrator
	"f28a1f50-f6e7-4571-818b-6a12f2af6b6c": true, // SharePoint Administrator
	"fe930be7-5e62-47db-91af-98c3a49a38b1": true, // User Administrator
	"9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3": true, // Application Administrator
	"158c047a-c907-4556-b7ef-446551a6b5f7": true, // Cloud Application Administrator
	"b1be1c3e-b65d-4f19-8427-f6fa0d97feb9": true, // Conditional Access Administrator
	"c4e39bd9-1100-46d3-8c65-fb160da0071f": true, // Authentication Administrator
	"729827e3-9c14-49f7-bb1b-9608f156bbb8": true, // Helpdesk Administrator
	"3a2c62db-5318-420d-8d74-23affee5d9d5": true, // Intune Administrator
	"8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2": true, // Hybrid Identity Administrator
	"966707d0-3269-4727-9be2-8c3a10f19b9d": true, // Password Administrator
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
		r := RoleAssignment{Role: d.DisplayName, RoleTemplateID: cmp.Or(d.TemplateID, a.RoleDefinitionID), DirectoryScope: a.DirectoryScopeID, PrincipalID: a.PrincipalID}
		if r.Role == "" {
			r.Role = a.RoleDefinitionID
		}
		r.Privileged = privilegedRoles[r.RoleTemplateID]
		if p := a.Principal; p != nil {
			r.PrincipalType = strings.TrimPrefix(p.ODataType, "#microsoft.graph.")
			r.PrincipalName, r.PrincipalUPN = p.DisplayName, p.UserPrincipalName
			r.Guest = p.UserType == "Guest"
			r.Disabled = p.AccountEnabled != nil && !*p.AccountEnabled
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

// Registration is a row of the MFA registration sheet.
type Registration struct {
	UserPrincipalName   string    `json:"userPrincipalName"`
	UserDisplayName     string    `json:"userDisplayName"`
	UserType            string    `json:"userType"`
	IsAdmin             bool      `json:"isAdmin"`
	IsMfaRegistered     bool      `json:"isMfaRegistered"`
	IsMfaCapable        bool      `json:"isMfaCapable"`
	IsPasswordless      bool      `json:"isPasswordlessCapable"`
	IsSsprRegistered    bool      `json:"isSsprRegistered"`
	MethodsRegistered   []string  `json:"methodsRegistered"`
	LastUpdatedDateTime graphTime `json:"lastUpdatedDateTime"`
}

func (r *Registration) bad() int { return bads(r.LastUpdatedDateTime) }

// AdminWithoutMFA is an administrator who has not registered for MFA.
func (r Registration) AdminWithoutMFA() bool { return r.IsAdmin && !r.IsMfaRegistered }

func (c *collection) mfa(ctx context.Context) (int, error) {
	ri, err := c.gs.Reports().AuthenticationMethods().UserRegistrationDetails().ToGetRequestInformation(ctx, &reports.AuthenticationMethodsUserRegistrationDetailsRequestBuilderGetRequestConfiguration{
		QueryParameters: &reports.AuthenticationMethodsUserRegistrationDetailsRequestBuilderGetQueryParameters{
			Select: []string{"userPrincipalName", "userDisplayName", "userType", "isAdmin", "isMfaRegistered", "isMfaCapable",
				"isPasswordlessCapable", "isSsprRegistered", "methodsRegistered", "lastUpdatedDateTime"},
			Top: ptr(int32(topRegistered)),
		},
	})
	if err != nil {
		return 0, err
	}
	rows := 0
	err = each(ctx, c, "userRegistrationDetails", ri, func(r Registration) error {
		rows++
		if r.UserType != "guest" && r.UserType != "Guest" {
			c.res.MFAMembers++
			if r.IsMfaRegistered {
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

// Device is a row of the Devices sheet.
type Device struct {
	ID                     string    `json:"id"`
	DisplayName            string    `json:"displayName"`
	OperatingSystem        string    `json:"operatingSystem"`
	OperatingSystemVersion string    `json:"operatingSystemVersion"`
	AccountEnabled         bool      `json:"accountEnabled"`
	TrustType              string    `json:"trustType"`
	IsCompliant            *bool     `json:"isCompliant"`
	IsManaged              *bool     `json:"isManaged"`
	LastSignIn             graphTime `json:"approximateLastSignInDateTime"`
	Registered             graphTime `json:"registrationDateTime"`
}

func (d *Device) bad() int { return bads(d.LastSignIn, d.Registered) }

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
	err = each(ctx, c, "devices", ri, func(d Device) error {
		rows++
		return c.emit("devices", d)
	})
	return rows, err
}

// Policy is a row of the Conditional access sheet.
type Policy struct {
	DisplayName string    `json:"displayName"`
	State       string    `json:"state"`
	Created     graphTime `json:"createdDateTime"`
	Modified    graphTime `json:"modifiedDateTime"`
	Conditions  struct {
		Users struct {
			IncludeUsers []string `json:"includeUsers"`
			ExcludeUsers []string `json:"excludeUsers"`
		} `json:"users"`
	} `json:"conditions"`
	GrantControls *struct {
		Operator        string   `json:"operator"`
		BuiltInControls []string `json:"builtInControls"`
	} `json:"grantControls"`
}

func (p *Policy) bad() int { return bads(p.Created, p.Modified) }

// StateText is the state as the Entra admin center words it.
func (p Policy) StateText() string {
	if p.State == "enabledForReportingButNotEnforced" {
		return "report-only"
	}
	return p.State
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
	err = each(ctx, c, "conditionalAccessPolicies", ri, func(p Policy) error {
		rows++
		if p.State == "enabled" {
			c.res.EnabledCAPolicies++
		}
		return c.emit("conditionalaccess", p)
	})
	return rows, err
}

// AppCredential is a row of the App credentials sheet: one secret or
// certificate of an application or service principal.
type AppCredential struct {
	ObjectType     string
	DisplayName    string
	AppID          string
	CredentialType string
	Name           string
	KeyID          string
	Start          time.Time
	End            time.Time
	// DaysToExpiry is negative once expired.
	DaysToExpiry int
	Expired      bool
	ExpiringSoon bool
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
					ac := AppCredential{ObjectType: objectType, DisplayName: a.DisplayName, AppID: a.AppID,
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

// SecureScore is a row of the Secure score sheet: the latest score.
type SecureScore struct {
	Created       graphTime `json:"createdDateTime"`
	CurrentScore  float64   `json:"currentScore"`
	MaxScore      float64   `json:"maxScore"`
	LicensedUsers int       `json:"licensedUserCount"`
	ActiveUsers   int       `json:"activeUserCount"`
}

func (s *SecureScore) bad() int { return bads(s.Created) }

// Percent is the score as a fraction of the maximum (0–1).
func (s SecureScore) Percent() float64 {
	if s.MaxScore <= 0 {
		return 0
	}
	return s.CurrentScore / s.MaxScore
}

func (c *collection) secureScore(ctx context.Context) (int, error) {
	ri, err := c.gs.Security().SecureScores().ToGetRequestInformation(ctx, &security.SecureScoresRequestBuilderGetRequestConfiguration{
		QueryParameters: &security.SecureScoresRequestBuilderGetQueryParameters{Top: ptr(int32(1))},
	})
	if err != nil {
		return 0, err
	}
	// $top=1 returns the newest score; a nextLink would be older days.
	rows := 0
	err = eachFirstPage(ctx, c, "secureScores", ri, func(s SecureScore) error {
		if rows > 0 {
			return nil
		}
		rows++
		c.res.SecureScore = &s
		return c.emit("securescore", s)
	})
	return rows, err
}

// collection is the state of one tenant's Collect.
type collection struct {
	gs       *msgraphsdk.GraphServiceClient
	adapter  abs.RequestAdapter
	res      *Result
	emit     func(section string, row any) error
	now      time.Time
	sections []string
	// warnings counts the values of the current section that could not be
	// decoded and were left blank.
	warnings int
}

func (c *collection) enabled(section string) bool { return slices.Contains(c.sections, section) }
