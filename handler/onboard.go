package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/tenantreport/tenantreport/internal/graphdata"
	"github.com/tenantreport/tenantreport/internal/section"
	"github.com/tenantreport/tenantreport/internal/settings"
	"github.com/tenantreport/tenantreport/internal/tenantauth"
)

// consentURL is `handler consent-url --tenant ID`.
func consentURL(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("consent-url", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tenant := fs.String("tenant", "", "tenant id of the customer")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var errs []error
	if !settings.IsGUID(*tenant) {
		errs = append(errs, fmt.Errorf("--tenant %q: want the customer's tenant id (a GUID)", *tenant))
	}
	app := strings.TrimSpace(getenv(settings.KeyBridgeApp))
	switch {
	case app == "":
		errs = append(errs, &settings.FieldError{Field: settings.KeyBridgeApp, Err: settings.ErrMissing})
	case !settings.IsGUID(app):
		errs = append(errs, &settings.FieldError{Field: settings.KeyBridgeApp, Value: app, Err: fmt.Errorf("%w: not a GUID", settings.ErrInvalid)})
	}
	cloud, err := settings.LoadCloud(getenv)
	if err = errors.Join(append(errs, err)...); err != nil {
		return err
	}
	src := tenantauth.New(nil, tenantauth.Options{BridgeAppClientID: app, AuthorityHost: cloud.AuthorityHost, ConsentRedirectURI: cloud.ConsentRedirectURI})
	fmt.Fprintln(stdout, src.ConsentURL(strings.ToLower(*tenant)))
	return nil
}

// permissions is `handler permissions`: what the enabled sections need.
func permissions(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("permissions", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	secs, err := settings.LoadSections(getenv)
	if err != nil {
		return err
	}
	type sectionPerms struct {
		Section     string   `json:"section"`
		Permissions []string `json:"permissions"`
		Premium     bool     `json:"premium,omitempty"`
	}
	var per []sectionPerms
	for _, name := range secs {
		s, _ := section.Lookup(name)
		per = append(per, sectionPerms{Section: name, Permissions: s.Permissions, Premium: s.Premium})
	}
	least := graphdata.LeastPrivilege(secs)
	if *asJSON {
		type perm struct {
			Name string `json:"name"`
			ID   string `json:"appRoleId"`
		}
		out := struct {
			Resource    string         `json:"resourceAppId"`
			Permissions []perm         `json:"permissions"`
			Sections    []sectionPerms `json:"sections"`
		}{Resource: graphAppID, Sections: per}
		for _, p := range least {
			out.Permissions = append(out.Permissions, perm{p.Name, p.ID})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprintf(stdout, "Microsoft Graph (%s) application permissions for sections %s:\n\n", graphAppID, strings.Join(secs, ", "))
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PERMISSION\tAPP ROLE ID\tSECTIONS")
	for _, p := range least {
		var users []string
		for _, s := range per {
			if slices.Contains(s.Permissions, p.Name) {
				users = append(users, s.Section)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, p.ID, strings.Join(users, ", "))
	}
	tw.Flush()
	for _, s := range per {
		if s.Premium {
			fmt.Fprintf(stdout, "\nsection %s also needs Entra ID P1 or P2 in the tenant\n", s.Section)
		}
	}
	return nil
}

// graphAppID is the application id of Microsoft Graph in every tenant.
const graphAppID = "00000003-0000-0000-c000-000000000000"

// tenantCheck is one tenant's line of `doctor`.
type tenantCheck struct {
	TenantID    string              `json:"tenantId"`
	DisplayName string              `json:"displayName"`
	Ready       bool                `json:"ready"`
	Exchange    string              `json:"exchange"`
	Code        string              `json:"code,omitempty"`
	Fix         string              `json:"fix,omitempty"`
	ConsentURL  string              `json:"consentUrl,omitempty"`
	Granted     []string            `json:"granted,omitempty"`
	Missing     []missingPermission `json:"missing,omitempty"`
	Graph       string              `json:"graph"`
}

type missingPermission struct {
	Permission string   `json:"permission"`
	AppRoleID  string   `json:"appRoleId"`
	Sections   []string `json:"sections"`
}

// doctor is `handler doctor [--tenant ID] [--json]`: is every tenant ready?
func doctor(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	only := fs.String("tenant", "", "check only this tenant")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	s, tr, err := loadSettings(getenv)
	if err != nil {
		return err
	}
	col, creds, err := newCollector(s, tr)
	if err != nil {
		return err
	}
	fix := managedIdentityFix(getenv("IDENTITY_ENDPOINT"))
	return runDoctor(ctx, s, col, creds, fix, strings.ToLower(*only), *asJSON, stdout)
}

// managedIdentityFix is doctor's advice when the managed identity gives no
// token. Without IDENTITY_ENDPOINT (which App Service sets) there is no
// managed identity here at all, whatever MANAGED_IDENTITY_CLIENT_ID says.
func managedIdentityFix(identityEndpoint string) string {
	if identityEndpoint == "" {
		return "IDENTITY_ENDPOINT is not set, so there is no managed identity here: run doctor in the Function App (an SSH session) or against `handler emulate`"
	}
	return "check " + settings.KeyMIClientID + " is the client id of the user-assigned identity attached to the Function App"
}

// runDoctor checks the managed identity, then each tenant (only the one
// whose id is only, if set). miFix is the advice when the identity fails.
func runDoctor(ctx context.Context, s settings.Settings, col *graphdata.Collector, creds *tenantauth.Source, miFix, only string, asJSON bool, stdout io.Writer) error {
	miErr := creds.CheckManagedIdentity(ctx)
	var checks []tenantCheck
	for _, t := range s.Tenants {
		if only != "" && t.ID != only {
			continue
		}
		c := tenantCheck{TenantID: t.ID, DisplayName: t.Name(), Exchange: "not tried", Graph: "not tried"}
		if miErr == nil {
			fill(&c, col.Check(ctx, t))
		}
		checks = append(checks, c)
	}
	if only != "" && len(checks) == 0 {
		return fmt.Errorf("tenant %s is not in %s", only, settings.KeyTenants)
	}

	ready := miErr == nil
	for _, c := range checks {
		ready = ready && c.Ready
	}
	if asJSON {
		out := struct {
			ManagedIdentity    string        `json:"managedIdentity"`
			ManagedIdentityFix string        `json:"managedIdentityFix,omitempty"`
			Ready              bool          `json:"ready"`
			Tenants            []tenantCheck `json:"tenants"`
		}{ManagedIdentity: "ok", Ready: ready, Tenants: checks}
		if miErr != nil {
			out.ManagedIdentity, out.ManagedIdentityFix = miErr.Error(), miFix
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		printDoctor(stdout, miErr, miFix, checks)
	}
	if !ready {
		return errNotReady
	}
	return nil
}

// errNotReady makes doctor exit non-zero after printing its findings.
var errNotReady = errors.New("not every tenant is ready")

// fill puts a tenant's readiness into its check.
func fill(c *tenantCheck, r graphdata.Readiness) {
	c.Ready = r.Ready()
	c.Granted = r.Roles
	if r.Exchange != nil {
		c.Exchange = r.Exchange.Error()
		var e *tenantauth.Error
		if errors.As(r.Exchange, &e) {
			c.Exchange, c.Code, c.Fix, c.ConsentURL = e.Cause, e.Code, e.Fix, e.ConsentURL
		}
		return
	}
	c.Exchange = "ok"
	for _, m := range r.Missing {
		c.Missing = append(c.Missing, missingPermission{Permission: m.Name, AppRoleID: m.ID, Sections: m.Sections})
	}
	c.Graph = "ok"
	if r.Graph != nil {
		c.Graph = r.Graph.Error()
	}
}

func printDoctor(w io.Writer, miErr error, miFix string, checks []tenantCheck) {
	if miErr != nil {
		fmt.Fprintf(w, "managed identity: FAILED: %v\n  fix: %s\n\n", miErr, miFix)
	} else {
		fmt.Fprintln(w, "managed identity: ok")
		fmt.Fprintln(w)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tTENANT ID\tEXCHANGE\tPERMISSIONS\tGRAPH\tREADY")
	for _, c := range checks {
		exchange, perms := c.Exchange, "-"
		if c.Code != "" {
			exchange = c.Code
		}
		if c.Exchange == "ok" {
			perms = "all granted"
			if len(c.Missing) > 0 {
				var names []string
				for _, m := range c.Missing {
					names = append(names, m.Permission)
				}
				perms = "missing " + strings.Join(names, ", ")
			}
		}
		graph := c.Graph
		if graph != "ok" && graph != "not tried" {
			graph = "failed"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.DisplayName, c.TenantID, exchange, perms, graph, yesNo(c.Ready))
	}
	tw.Flush()
	for _, c := range checks {
		if c.Ready || c.Exchange == "not tried" {
			continue
		}
		fmt.Fprintf(w, "\n%s (%s):\n", c.DisplayName, c.TenantID)
		if c.Exchange != "ok" {
			fmt.Fprintf(w, "  cause: %s\n", c.Exchange)
			if c.Fix != "" {
				fmt.Fprintf(w, "  fix:   %s\n", c.Fix)
			}
			if c.ConsentURL != "" {
				fmt.Fprintf(w, "  consent URL: %s\n", c.ConsentURL)
			}
			continue
		}
		for _, m := range c.Missing {
			fmt.Fprintf(w, "  missing %s (app role %s): disables %s\n", m.Permission, m.AppRoleID, strings.Join(m.Sections, ", "))
		}
		if len(c.Missing) > 0 {
			fmt.Fprintln(w, "  fix:   add the permissions to the bridge app (handler permissions) and have the tenant's admin consent again")
		}
		if c.Graph != "ok" {
			fmt.Fprintf(w, "  graph: %s\n", c.Graph)
		}
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}
