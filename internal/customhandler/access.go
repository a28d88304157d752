package customhandler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/tenantreport/tenantreport/internal/apiauth"
	"github.com/tenantreport/tenantreport/internal/run"
)

// The API app's roles (infra/modules/apiapp.bicep declares them).
const (
	// RoleReadAll reads every run, tenant and the combined workbook: the
	// MSP's own automation and admins.
	RoleReadAll = "Reports.Read.All"
	// RoleReadTenant reads the runs of the caller's own tenants, their rows
	// and their per-tenant workbooks, nothing else.
	RoleReadTenant = "Reports.Read.Tenant"
	// RoleRun starts runs: of the caller's own tenants, or of any with
	// RoleReadAll.
	RoleRun = "Reports.Run"
)

// Route prefixes: ReportHttp's (the host checks a function key) and
// ReportEntra's (anonymous to the host; every request carries an Entra
// token that the handler checks).
const (
	operatorBase = "/api/reports"
	entraBase    = "/api/entra/reports"
)

// Authenticator checks the Authorization header of a request to the
// Entra-authenticated routes. *apiauth.Validator satisfies it.
type Authenticator interface {
	Authenticate(ctx context.Context, authorization string) (apiauth.Caller, error)
}

// Entra configures the Entra-authenticated routes.
type Entra struct {
	Authenticator Authenticator
	// Callers maps a caller id — client app id or service principal object
	// id, lower case — to the tenant ids it may read with RoleReadTenant.
	Callers map[string][]string
}

// access is what the request's caller may do; the routes of both prefixes
// share their handlers and differ only in it.
type access struct {
	base string
	// all reads every run and tenant and the combined workbook.
	all bool
	// tenants are the caller's own, which it reads when read and runs when
	// run.
	tenants []string
	read    bool
	// run may start runs: over tenants, or any when all.
	run bool
	// caller is the Entra caller; nil on the operators' routes.
	caller *apiauth.Caller
	// runID is the run the request read ("latest" resolved), for the
	// access log.
	runID string
}

type accessKey struct{}

func accessOf(r *http.Request) *access { return r.Context().Value(accessKey{}).(*access) }

func withAccess(r *http.Request, a *access) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), accessKey{}, a))
}

// operator admits every request: the host has checked the function key.
func operator(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, withAccess(r, &access{base: operatorBase, all: true, run: true}))
	})
}

// entra authenticates every request with its bearer token, decides what
// its caller may read, and logs the access (never the token).
func (h *handler) entra(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		a := &access{base: entraBase}
		var refused error // why the token was refused: its description, never the token
		defer func() {
			attrs := []any{"method", r.Method, "route", routeOf(r), "status", ww.Status(),
				"run_id", cmp.Or(a.runID, chi.URLParam(r, "runId")), "tenant_id", chi.URLParam(r, "tenantId"),
				"duration_ms", time.Since(start).Milliseconds()}
			if a.caller != nil {
				attrs = append(attrs, "caller_app_id", a.caller.AppID, "caller_object_id", a.caller.ObjectID,
					"caller_roles", a.caller.Roles)
			}
			if refused != nil {
				attrs = append(attrs, "refused", refused)
			}
			h.log.InfoContext(r.Context(), "api access", attrs...)
		}()
		if h.entraCfg == nil {
			apiError(ww, http.StatusNotFound, "notConfigured", "the Entra-authenticated API is off: the operator sets REPORT_API_CLIENT_ID to turn it on")
			return
		}
		caller, err := h.entraCfg.Authenticator.Authenticate(r.Context(), r.Header.Get("Authorization"))
		if err != nil {
			refused = err
			authError(ww, err)
			return
		}
		a.caller = &caller
		a.all, a.read, a.run = caller.HasRole(RoleReadAll), caller.HasRole(RoleReadTenant), caller.HasRole(RoleRun)
		for _, id := range []string{caller.AppID, caller.ObjectID} {
			for _, t := range h.entraCfg.Callers[strings.ToLower(id)] {
				if !slices.Contains(a.tenants, t) {
					a.tenants = append(a.tenants, t)
				}
			}
		}
		next.ServeHTTP(ww, withAccess(r, a))
	})
}

// routeOf is the route pattern that served r, for logs: ids stay out of
// it and are logged as fields.
func routeOf(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
		return rc.RoutePattern()
	}
	return r.URL.EscapedPath()
}

// authError answers a refused token: 401 with the RFC 6750 challenge, or
// 503 when the home tenant's keys cannot be fetched.
func authError(w http.ResponseWriter, err error) {
	var ae *apiauth.Error
	if !errors.As(err, &ae) {
		ae = &apiauth.Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the token could not be checked"}
	}
	if c := ae.Challenge(); c != "" {
		w.Header().Set("WWW-Authenticate", c)
	}
	code := "invalidToken"
	if ae.Status == http.StatusServiceUnavailable {
		code = "keysUnavailable"
	}
	apiError(w, ae.Status, code, ae.Description)
}

// forbid answers 403 with the reason, as a challenge too, so that clients
// reading only the header learn it.
func forbid(w http.ResponseWriter, message string) {
	w.Header().Set("WWW-Authenticate", (&apiauth.Error{Status: http.StatusForbidden, Code: "insufficient_scope", Description: message}).Challenge())
	apiError(w, http.StatusForbidden, "forbidden", message)
}

// canRead reports whether the caller may read anything at all, answering
// 403 when not.
func (a *access) canRead(w http.ResponseWriter) bool {
	switch {
	case a.all || a.read && len(a.tenants) > 0:
		return true
	case a.read:
		forbid(w, fmt.Sprintf("caller %s has the app role %s but no tenants: the operator maps it to its tenants in REPORT_API_CALLERS", a.caller.AppID, RoleReadTenant))
	default:
		forbid(w, fmt.Sprintf("reading reports needs the app role %s or %s", RoleReadAll, RoleReadTenant))
	}
	return false
}

// mayRead reports whether the caller may read tenant id's data.
func (a *access) mayRead(id string) bool { return a.all || a.read && slices.Contains(a.tenants, id) }

// includes reports whether rec's run covers any of the caller's tenants.
func (a *access) includes(rec run.Record) bool {
	if a.all {
		return true
	}
	if len(rec.RequestedTenants) > 0 {
		return slices.ContainsFunc(rec.RequestedTenants, a.mayRead)
	}
	if rec.State.Finished() {
		return slices.ContainsFunc(rec.Tenants, func(t run.TenantResult) bool { return a.mayRead(t.TenantID) })
	}
	return true // a run of every configured tenant, not finished yet
}

// view is rec as the caller may see it. A tenant-scoped caller sees its
// tenants' rows only, without the combined workbook and without the run's
// reason, which may name other tenants.
func (a *access) view(rec run.Record) run.Record {
	if a.all {
		return rec
	}
	v := rec
	v.Report, v.ReportBytes, v.Reason = "", 0, ""
	v.Tenants = slices.DeleteFunc(slices.Clone(rec.Tenants), func(t run.TenantResult) bool { return !a.mayRead(t.TenantID) })
	if len(rec.RequestedTenants) > 0 {
		v.RequestedTenants = slices.DeleteFunc(slices.Clone(rec.RequestedTenants), func(id string) bool { return !a.mayRead(id) })
		v.TenantsTotal = len(v.RequestedTenants)
	} else {
		// Every configured tenant, which the caller's all are (settings
		// checks the mapping against them).
		v.TenantsTotal = len(a.tenants)
	}
	v.TenantsDone = len(v.Tenants)
	return v
}
