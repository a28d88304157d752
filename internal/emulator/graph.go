package emulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	graphContentType = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
	defaultPageSize  = 100
	maxPageSize      = 999
	// signInPageSize is the largest page /users serves with signInActivity; a larger $top gets pages this size.
	signInPageSize = 500
)

// collection is one Graph v1.0 collection.
type collection struct {
	path    string // below /v1.0, as Graph spells it
	context string // the @odata.context fragment after "#"
	entity  string // the entity type, for $select errors
	// perms are the application permissions that grant access; any one suffices (or its ReadWrite variant).
	perms   []string
	family  string // throttle family besides global ("" = none)
	ru      int    // base resource units when family is directory
	premium bool   // needs Entra ID P1/P2
	// page is the default page size; 0 serves the whole collection in one response and rejects $top.
	page     int
	expand   []string // the navigation properties $expand accepts
	defaults []string // properties without $select; nil = all
	count    func(s *Server, t *tenant) int
	item     func(s *Server, t *tenant, i int) []prop
	// adjust adds the permissions, budgets and limits a query brings (signInActivity, keyCredentials).
	adjust func(c *call)
	// options are the query options (without "$") the collection's API page documents, when it documents fewer
	// than the emulator serves; a request with [QuirkStrictQueryOptions] gets 400 for any other. nil = no
	// restriction.
	options []string
	// countable serves {path}/$count, as Graph does for directory objects (an advanced query: it needs
	// ConsistencyLevel: eventual).
	countable bool
}

// collectionList is every Graph collection the emulator serves. Add one here to widen it.
var collectionList = []*collection{
	{path: "/organization", context: "organization", entity: "organization",
		perms: []string{"Organization.Read.All", "Directory.Read.All"}, family: FamilyDirectory, ru: 1,
		count: func(*Server, *tenant) int { return 1 },
		item:  func(_ *Server, t *tenant, _ int) []prop { return t.organization() }},
	{path: "/domains", context: "domains", entity: "domain",
		perms: []string{"Domain.Read.All", "Directory.Read.All"}, family: FamilyDirectory, ru: 1,
		count: func(_ *Server, t *tenant) int { return len(t.domainNames()) },
		item:  func(_ *Server, t *tenant, i int) []prop { return t.domainProps(i) }},
	{path: "/users", context: "users", entity: "user",
		perms: []string{"User.Read.All", "Directory.Read.All"}, family: FamilyDirectory, ru: 2, page: defaultPageSize,
		defaults: userDefaultSelect, countable: true,
		count: func(_ *Server, t *tenant) int { return t.Users },
		item: func(_ *Server, t *tenant, i int) []prop {
			return append(t.user(i).props(), prop{"signInActivity", lazy(func() any { return t.signInActivity(i) })})
		},
		adjust: func(c *call) {
			if slices.Contains(c.sel, "signInActivity") {
				c.perms = append(c.perms, []string{"AuditLog.Read.All"})
				c.premium = true
				c.charges = append(c.charges, charge{FamilySignIn, 1})
				c.pageCap = signInPageSize
			}
		}},
	{path: "/subscribedSkus", context: "subscribedSkus", entity: "subscribedSku",
		perms:  []string{"LicenseAssignment.Read.All", "Organization.Read.All", "Directory.Read.All"},
		family: FamilyDirectory, ru: 3,
		count: func(_ *Server, t *tenant) int { return len(t.skus) },
		item:  func(_ *Server, t *tenant, i int) []prop { return t.skuProps(i) }},
	{path: "/roleManagement/directory/roleAssignments", context: "roleManagement/directory/roleAssignments",
		entity: "unifiedRoleAssignment",
		perms:  []string{"RoleManagement.Read.Directory", "RoleManagement.Read.All", "Directory.Read.All"},
		family: FamilyDirectory, ru: 1, page: defaultPageSize, expand: []string{"principal"},
		defaults: []string{"id", "principalId", "directoryScopeId", "roleDefinitionId"},
		count:    func(_ *Server, t *tenant) int { return len(t.admins) },
		item:     func(_ *Server, t *tenant, i int) []prop { return t.roleAssignmentProps(i) }},
	{path: "/roleManagement/directory/roleDefinitions", context: "roleManagement/directory/roleDefinitions",
		entity: "unifiedRoleDefinition",
		perms:  []string{"RoleManagement.Read.Directory", "RoleManagement.Read.All", "Directory.Read.All"},
		family: FamilyDirectory, ru: 1,
		count: func(*Server, *tenant) int { return len(roleDefs) },
		item:  func(_ *Server, t *tenant, i int) []prop { return t.roleDefinitionProps(i) }},
	{path: "/reports/authenticationMethods/userRegistrationDetails",
		context: "reports/authenticationMethods/userRegistrationDetails", entity: "userRegistrationDetails",
		perms: []string{"AuditLog.Read.All"}, family: FamilyReports, premium: true, page: defaultPageSize,
		options: []string{"filter"}, // "This method supports the $filter OData query parameter"
		count:   func(_ *Server, t *tenant) int { return t.Users },
		item:    func(_ *Server, t *tenant, i int) []prop { return t.registrationProps(i) }},
	{path: "/devices", context: "devices", entity: "device",
		perms: []string{"Device.Read.All", "Directory.Read.All"}, family: FamilyDirectory, ru: 1, page: defaultPageSize,
		countable: true,
		count:     func(_ *Server, t *tenant) int { return t.Devices },
		item:      func(_ *Server, t *tenant, i int) []prop { return t.deviceProps(i) }},
	{path: "/identity/conditionalAccess/policies", context: "identity/conditionalAccess/policies",
		entity: "conditionalAccessPolicy",
		perms:  []string{"Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"}, family: FamilyConditionalAccess,
		count: func(_ *Server, t *tenant) int { return t.ConditionalAccessPolicies },
		item:  func(_ *Server, t *tenant, i int) []prop { return t.caPolicyProps(i) }},
	{path: "/applications", context: "applications", entity: "application",
		perms:  []string{"Application.Read.All", "Directory.Read.All", "Application.ReadWrite.OwnedBy"},
		family: FamilyDirectory, ru: 2, page: defaultPageSize, adjust: keyCredentialsBudget, countable: true,
		count: func(_ *Server, t *tenant) int { return t.Apps },
		item:  func(_ *Server, t *tenant, i int) []prop { return t.applicationProps(i) }},
	// Graph's cost table lists GET applications at 2 resource units; servicePrincipals is not listed, so it
	// costs the base 1 (only servicePrincipals/{id}/appRoleAssignments is listed, at 2).
	{path: "/servicePrincipals", context: "servicePrincipals", entity: "servicePrincipal",
		perms:  []string{"Application.Read.All", "Directory.Read.All", "Application.ReadWrite.OwnedBy"},
		family: FamilyDirectory, ru: 1, page: defaultPageSize, adjust: keyCredentialsBudget, countable: true,
		count: func(_ *Server, t *tenant) int { return t.servicePrincipalCount() },
		item: func(s *Server, t *tenant, i int) []prop {
			return t.servicePrincipalProps(i, s.world.BridgeApp.ClientID, s.world.HomeTenantID)
		}},
	{path: "/security/secureScores", context: "security/secureScores", entity: "secureScore",
		perms: []string{"SecurityEvents.Read.All"}, family: FamilySecureScore,
		count: func(*Server, *tenant) int { return secureScoreDays },
		item:  func(_ *Server, t *tenant, i int) []prop { return t.secureScoreProps(i) }},
}

// QuirksHeader names, on a Graph request, behaviours the emulator leaves off by default because Microsoft does not
// document them for v1.0, or documents less than Graph accepts: a comma-separated list of the Quirk constants. An
// unknown name is a 400, so a misspelt quirk fails the test that asked for it. Inside $batch, give the header on
// each inner request.
const QuirksHeader = "X-Emulator-Quirks"

// Quirks a request can ask for with [QuirksHeader].
const (
	// QuirkStrictQueryOptions refuses, with 400 Request_UnsupportedQuery, the query options a collection's API
	// page does not document: userRegistrationDetails documents only $filter, so $select and $top are refused
	// there, and its @odata.nextLink carries only $skiptoken.
	QuirkStrictQueryOptions = "strict-query-options"
	// QuirkPremiumCheckNeedsDirectoryRead makes the reports endpoints (userRegistrationDetails) answer 403
	// Authentication_ApplicationHasNoDirectoryReadAccess ("Failed to do premium license check from ADGraph")
	// when the token lacks Directory.Read.All, before the Entra ID P1/P2 check. Users reported it, and Microsoft
	// acknowledged it as a known issue, for the beta reports APIs (microsoft-graph-docs #4818, #12911).
	QuirkPremiumCheckNeedsDirectoryRead = "premium-check-needs-directory-read"
)

// quirks are the behaviours one request asked for.
type quirks struct {
	strictQueryOptions             bool
	premiumCheckNeedsDirectoryRead bool
}

// requestQuirks reads r's [QuirksHeader].
func requestQuirks(r *http.Request) (quirks, *graphError) {
	var q quirks
	for _, v := range r.Header.Values(QuirksHeader) {
		for _, name := range strings.Split(v, ",") {
			switch name = strings.TrimSpace(name); strings.ToLower(name) {
			case "":
			case QuirkStrictQueryOptions:
				q.strictQueryOptions = true
			case QuirkPremiumCheckNeedsDirectoryRead:
				q.premiumCheckNeedsDirectoryRead = true
			default:
				return q, &graphError{http.StatusBadRequest, "BadRequest",
					fmt.Sprintf("emulator: unknown quirk %q in %s (known: %s, %s).", name, QuirksHeader,
						QuirkStrictQueryOptions, QuirkPremiumCheckNeedsDirectoryRead)}
			}
		}
	}
	return q, nil
}

func keyCredentialsBudget(c *call) {
	if slices.Contains(c.sel, "keyCredentials") {
		c.charges = append(c.charges, charge{FamilyKeyCredentials, 1})
	}
}

// collections maps lower-case paths below /v1.0 to their collection.
var collections = func() map[string]*collection {
	m := map[string]*collection{}
	for _, c := range collectionList {
		m[strings.ToLower(c.path)] = c
	}
	return m
}()

// graphError is Graph's error body.
type graphError struct {
	status  int
	code    string
	message string
}

func (s *Server) writeGraphError(w http.ResponseWriter, r *http.Request, e graphError) {
	reqID := newGUID()
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="`+graphAppID+`"`)
	}
	w.Header().Set("request-id", reqID)
	body := map[string]any{"error": map[string]any{
		"code":    e.code,
		"message": e.message,
		"innerError": map[string]string{
			"date":              s.now().UTC().Format("2006-01-02T15:04:05"),
			"request-id":        reqID,
			"client-request-id": clientRequestID(r, reqID),
		},
	}}
	b, _ := json.Marshal(body)
	writeRaw(w, e.status, graphContentType, b)
}

func clientRequestID(r *http.Request, fallback string) string {
	if id := r.Header.Get("client-request-id"); id != "" {
		return id
	}
	return fallback
}

func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request) { s.serveGraphRequest(w, r, false) }

// serveGraphRequest serves one Graph request; inBatch skips latency and faults, which apply to the $batch itself.
func (s *Server) serveGraphRequest(w http.ResponseWriter, r *http.Request, inBatch bool) {
	rel := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1.0"), "/")
	key := strings.ToLower(rel)
	col, countOnly := collections[key], false
	if base, ok := strings.CutSuffix(key, "/$count"); ok && col == nil && collections[base] != nil && collections[base].countable {
		col, countOnly = collections[base], true
	}
	if col == nil && key != "/$batch" {
		s.countRequest("notfound", "")
		seg := strings.TrimPrefix(rel, "/")
		if i := strings.IndexByte(seg, '/'); i >= 0 {
			seg = seg[:i]
		}
		s.writeGraphError(w, r, graphError{http.StatusNotFound, "Request_ResourceNotFound",
			fmt.Sprintf("Resource not found for the segment '%s'.", seg)})
		return
	}
	t, roles, gerr := s.authenticate(r)
	tid := ""
	if t != nil {
		tid = t.ID
	}
	s.countRequest("graph "+key, tid)
	if gerr != nil {
		s.writeGraphError(w, r, *gerr)
		return
	}
	defer s.enter(t.ID)()
	if key == "/$batch" {
		if inBatch {
			s.writeGraphError(w, r, graphError{http.StatusBadRequest, "BadRequest", "A batch request cannot contain a $batch request."})
			return
		}
		s.serveBatch(w, r, t)
		return
	}
	if r.Method != http.MethodGet {
		s.writeGraphError(w, r, graphError{http.StatusMethodNotAllowed, "Request_BadRequest",
			"Specified HTTP method is not allowed for the request target."})
		return
	}
	s.serveCollection(w, r, col, t, roles, inBatch, countOnly)
}

// call is one request to a collection, with everything its query implies.
type call struct {
	col     *collection
	t       *tenant
	sel     []string // canonical $select names, nil without $select
	names   []string // properties to emit; nil = all
	top     int
	pageCap int // largest page the query allows (signInActivity); 0 = top
	offset  int
	expand  bool
	perms   [][]string // each group: any one grants
	premium bool
	charges []charge
	err     *graphError // a query error, reported after authorization
	// linkTop keeps $top in @odata.nextLink; false when strict query options refuse it.
	linkTop bool
	// count answers {collection}/$count: the number of items as text/plain.
	count bool
}

// serveCollection serves a page of col, or with countOnly its /$count.
func (s *Server) serveCollection(w http.ResponseWriter, r *http.Request, col *collection, t *tenant, roles []string, inBatch, countOnly bool) {
	route := "graph " + strings.ToLower(col.path)
	qk, qerr := requestQuirks(r)
	if qerr != nil {
		s.writeGraphError(w, r, *qerr)
		return
	}
	var c *call
	if countOnly {
		route += "/$count"
		c = planCount(col, t, r)
	} else {
		c = s.plan(col, t, r.URL.Query(), qk.strictQueryOptions)
	}

	var delay time.Duration
	f, status := faultNone, 0
	if !inBatch {
		delay, f, status = t.chaos.draw()
	}
	if f == faultOutage {
		if !sleep(r.Context(), s.scaled(delay)) {
			return
		}
		s.countFault("outage", t.ID)
		s.writeServerError(w, r, status)
		return
	}
	release, rej := s.state().throttle.take(s.now(), t.ID, t.Users, c.charges)
	if rej != nil {
		s.writeThrottled(w, r, t, rej, route)
		return
	}
	defer release()
	if !sleep(r.Context(), s.scaled(delay)) {
		return
	}
	for _, group := range c.perms {
		if !slices.ContainsFunc(group, func(p string) bool { return granted(roles, p) }) {
			s.writeGraphError(w, r, graphError{http.StatusForbidden, "Authorization_RequestDenied",
				"Insufficient privileges to complete the operation."})
			return
		}
	}
	if c.premium && col.family == FamilyReports && qk.premiumCheckNeedsDirectoryRead && !granted(roles, "Directory.Read.All") {
		s.writeGraphError(w, r, graphError{http.StatusForbidden, "Authentication_ApplicationHasNoDirectoryReadAccess",
			"Failed to do premium license check from ADGraph"})
		return
	}
	if c.premium && !t.premium {
		s.writeGraphError(w, r, graphError{http.StatusForbidden, "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
			"Neither tenant is B2C or tenant doesn't have premium license"})
		return
	}
	if c.err != nil {
		s.writeGraphError(w, r, *c.err)
		return
	}
	switch f {
	case faultServerError:
		s.countFault("5xx", t.ID)
		s.writeServerError(w, r, status)
		return
	case faultReset:
		s.countFault("reset", t.ID)
		panic(http.ErrAbortHandler) // the server drops the connection (or resets the HTTP/2 stream)
	}
	if recErr := s.state().recErr[t.ID]; recErr != nil {
		s.writeGraphError(w, r, graphError{http.StatusInternalServerError, "generalException",
			"emulator: recorded tenant: " + recErr.Error()})
		return
	}
	body, contentType := []byte(nil), graphContentType
	if c.count {
		body, contentType = strconv.AppendInt(nil, int64(s.size(col, t)), 10), "text/plain"
	} else {
		body = s.render(c, baseURL(r))
	}
	if f == faultMalformed {
		s.countFault("malformed", t.ID)
		body = body[:len(body)/2]
	}
	h := w.Header()
	h.Set("request-id", newGUID())
	h.Set("client-request-id", clientRequestID(r, ""))
	for _, ch := range c.charges {
		if ch.family == FamilyDirectory {
			h.Set("x-ms-resource-unit", strconv.Itoa(int(ch.units)))
			if u := s.state().throttle.usage(t.ID, t.Users); u > 0.8 {
				h.Set("x-ms-throttle-limit-percentage", strconv.FormatFloat(math.Min(u, 1.8), 'f', 1, 64))
			}
		}
	}
	writeRaw(w, http.StatusOK, contentType, body)
}

// granted reports whether roles (a token's roles claim) include perm or its ReadWrite variant.
func granted(roles []string, perm string) bool {
	return slices.Contains(roles, perm) || slices.Contains(roles, strings.Replace(perm, ".Read.", ".ReadWrite.", 1))
}

// plan parses a collection query. Query errors are kept in c.err so that authorization is checked first. strict
// refuses the query options col does not document ([QuirkStrictQueryOptions]).
func (s *Server) plan(col *collection, t *tenant, q url.Values, strict bool) *call {
	c := &call{col: col, t: t, perms: [][]string{col.perms}, premium: col.premium, top: col.page, linkTop: true}
	fail := func(status int, code, msg string) {
		if c.err == nil {
			c.err = &graphError{status, code, msg}
		}
	}
	if strict && col.options != nil {
		for _, o := range []string{"select", "expand", "filter", "orderby", "search", "count", "top", "skip", "apply"} {
			if _, ok := queryParam(q, o); ok && !slices.Contains(col.options, o) {
				fail(http.StatusBadRequest, "Request_UnsupportedQuery",
					fmt.Sprintf("The query specified in the URI is not valid. Query option '$%s' is not allowed.", o))
			}
		}
		c.linkTop = slices.Contains(col.options, "top")
	}
	for _, o := range []string{"filter", "orderby", "search", "count", "apply", "skip"} {
		if _, ok := queryParam(q, o); ok {
			fail(http.StatusBadRequest, "Request_UnsupportedQuery", fmt.Sprintf("emulator: $%s is not emulated.", o))
		}
	}
	if raw, ok := queryParam(q, "expand"); ok {
		for _, e := range strings.Split(raw, ",") {
			e = strings.TrimSpace(e)
			if !slices.ContainsFunc(col.expand, func(x string) bool { return strings.EqualFold(x, e) }) {
				fail(http.StatusBadRequest, "Request_BadRequest",
					fmt.Sprintf("Could not find a property named '%s' on type 'microsoft.graph.%s'.", e, col.entity))
				continue
			}
			c.expand = true
		}
	}
	schema := s.schema(col, t)
	if raw, ok := queryParam(q, "select"); ok && strings.TrimSpace(raw) != "" {
		byLower := map[string]string{}
		for _, n := range schema {
			byLower[strings.ToLower(n)] = n
		}
		want := map[string]bool{"id": true}
		for _, f := range strings.Split(raw, ",") {
			name, ok := byLower[strings.ToLower(strings.TrimSpace(f))]
			if !ok && t.rec != nil && t.rec.has(strings.ToLower(col.path)) {
				name, ok = strings.TrimSpace(f), true // a recorded collection serves whatever its files hold
			}
			if !ok {
				fail(http.StatusBadRequest, "Request_BadRequest",
					fmt.Sprintf("Could not find a property named '%s' on type 'microsoft.graph.%s'.", strings.TrimSpace(f), col.entity))
				continue
			}
			want[name] = true
		}
		for _, n := range schema { // schema order, whatever order $select used
			if want[n] {
				c.sel = append(c.sel, n)
				delete(want, n)
			}
		}
		for n := range want {
			c.sel = append(c.sel, n)
		}
		slices.Sort(c.sel[len(c.sel)-len(want):])
		c.names = c.sel
	} else if col.defaults != nil && !(t.rec != nil && t.rec.has(strings.ToLower(col.path))) {
		c.names = col.defaults
	}
	if c.expand && c.names != nil {
		c.names = append(slices.Clone(c.names), col.expand...)
	} else if !c.expand && c.names == nil && len(col.expand) > 0 {
		c.names = slices.DeleteFunc(slices.Clone(schema), func(n string) bool { return slices.Contains(col.expand, n) })
	}
	if raw, ok := queryParam(q, "top"); ok {
		n, err := strconv.Atoi(raw)
		switch {
		case col.page == 0 && col.family != FamilySecureScore:
			fail(http.StatusBadRequest, "Request_UnsupportedQuery", "The query specified in the URI is not valid. Query option '$top' is not allowed.")
		case err != nil || n < 1 || n > maxPageSize:
			fail(http.StatusBadRequest, "Request_UnsupportedQuery",
				fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and %d inclusive.", raw, maxPageSize))
		default:
			c.top = n
		}
	}
	if raw, ok := queryParam(q, "skiptoken"); ok {
		off, valid := parseSkipToken(t, raw)
		if !valid || col.page == 0 || off > s.size(col, t) {
			fail(http.StatusBadRequest, "Request_BadRequest", "Invalid $skiptoken: it was not issued for this tenant or query.")
		}
		c.offset = off
	}
	c.charges = []charge{{FamilyGlobal, 1}}
	switch col.family {
	case FamilyDirectory:
		ru := col.ru
		if c.sel != nil {
			ru--
		}
		if c.expand {
			ru++
		}
		if _, ok := queryParam(q, "top"); ok && c.top < 20 {
			ru--
		}
		c.charges = append(c.charges, charge{FamilyDirectory, float64(max(ru, 1))})
	case "":
	default:
		c.charges = append(c.charges, charge{col.family, 1})
	}
	if col.adjust != nil {
		col.adjust(c)
	}
	return c
}

// planCount plans GET {collection}/$count. Graph serves it only as an advanced query: without the header
// ConsistencyLevel: eventual it answers 400 Request_BadRequest "$count is not currently supported." (as reported in
// microsoft-graph-docs issues #13226 and #15067). It needs the collection's permissions and costs the collection's
// base resource units: Graph's cost table has no row for $count, and the $select and $top adjustments cannot apply.
// The emulator implements no query options on it ($filter and $search are what Graph accepts there).
func planCount(col *collection, t *tenant, r *http.Request) *call {
	c := &call{col: col, t: t, perms: [][]string{col.perms}, premium: col.premium, count: true,
		charges: []charge{{FamilyGlobal, 1}, {FamilyDirectory, float64(col.ru)}}}
	if !strings.EqualFold(strings.TrimSpace(r.Header.Get("ConsistencyLevel")), "eventual") {
		c.err = &graphError{http.StatusBadRequest, "Request_BadRequest", "$count is not currently supported."}
		return c
	}
	q := r.URL.Query()
	for _, o := range []string{"filter", "search", "select", "expand", "orderby", "count", "top", "skip", "skiptoken", "apply"} {
		if _, ok := queryParam(q, o); ok {
			c.err = &graphError{http.StatusBadRequest, "Request_UnsupportedQuery", fmt.Sprintf("emulator: $%s is not emulated on /$count.", o)}
			break
		}
	}
	return c
}

// schema returns a collection's property names in order.
func (s *Server) schema(col *collection, t *tenant) []string {
	var props []prop
	if t.rec != nil && t.rec.has(strings.ToLower(col.path)) {
		if items := t.rec.items[strings.ToLower(col.path)]; len(items) > 0 {
			props = items[0]
		}
	} else {
		props = col.item(s, t, 0)
	}
	names := make([]string, len(props))
	for i, p := range props {
		names[i] = p.name
	}
	return names
}

// size and itemAt read a tenant's collection, recorded or synthetic.
func (s *Server) size(c *collection, t *tenant) int {
	if t.rec != nil {
		if items, ok := t.rec.items[strings.ToLower(c.path)]; ok {
			return len(items)
		}
		if c.path != "/organization" {
			return 0
		}
	}
	return c.count(s, t)
}

func (s *Server) itemAt(c *collection, t *tenant, i int) []prop {
	if t.rec != nil {
		if items, ok := t.rec.items[strings.ToLower(c.path)]; ok {
			return items[i]
		}
	}
	return c.item(s, t, i)
}

// render writes one page of a collection.
func (s *Server) render(c *call, base string) []byte {
	col, t := c.col, c.t
	n := s.size(col, t)
	end := n
	if col.page > 0 {
		size := c.top
		if c.pageCap > 0 {
			size = min(size, c.pageCap)
		}
		end = min(c.offset+size, n)
	} else if col.family == FamilySecureScore && c.top > 0 {
		end = min(c.top, n)
	}
	var b bytes.Buffer
	b.WriteString(`{"@odata.context":`)
	ctx := base + "/v1.0/$metadata#" + col.context
	if c.sel != nil {
		ctx += "(" + strings.Join(c.sel, ",") + ")"
	}
	appendJSON(&b, ctx)
	if col.page > 0 && end < n {
		next := base + "/v1.0" + col.path + "?"
		if c.sel != nil {
			next += "$select=" + strings.Join(c.sel, ",") + "&"
		}
		if c.expand {
			next += "$expand=" + strings.Join(col.expand, ",") + "&"
		}
		if c.linkTop {
			next += "$top=" + strconv.Itoa(c.top) + "&"
		}
		next += "$skiptoken=" + skipToken(t, end)
		b.WriteString(`,"@odata.nextLink":`)
		appendJSON(&b, next)
	}
	b.WriteString(`,"value":[`)
	for i := c.offset; i < end; i++ {
		if i > c.offset {
			b.WriteByte(',')
		}
		n := b.Len()
		writeEntity(&b, s.itemAt(col, t, i), c.names)
		if i == c.offset {
			b.Grow((b.Len() - n + 64) * (end - i)) // a page's items are about the same size
		}
	}
	b.WriteString("]}")
	return b.Bytes()
}

// authenticate validates the bearer token the way Graph does and returns its tenant and roles.
func (s *Server) authenticate(r *http.Request) (*tenant, []string, *graphError) {
	unauthorized := func(msg string) (*tenant, []string, *graphError) {
		return nil, nil, &graphError{http.StatusUnauthorized, "InvalidAuthenticationToken", msg}
	}
	h := r.Header.Get("Authorization")
	scheme, tok, _ := strings.Cut(h, " ")
	if h == "" || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return unauthorized("Access token is empty.")
	}
	claims, err := s.state().keys.Load().verify(strings.TrimSpace(tok))
	switch err {
	case nil:
	case errMalformed:
		return unauthorized("IDX14100: JWT is not well formed, there are no dots (.).\nThe token needs to be in JWS or JWE Compact Serialization Format.")
	default:
		return unauthorized("Access token validation failure. Invalid signature.")
	}
	now := s.now()
	tid := claimString(claims, "tid")
	t := s.lookup(tid)
	exp, hasExp := claimTime(claims, "exp")
	nbf, _ := claimTime(claims, "nbf")
	aud := claimString(claims, "aud")
	switch {
	case aud != graphResource && aud != graphAppID:
		return unauthorized("Access token validation failure. Invalid audience.")
	case t == nil || claimString(claims, "iss") != v1Issuer(t.ID):
		return unauthorized("Access token validation failure. Invalid issuer.")
	case !hasExp || !now.Before(exp):
		return unauthorized("Lifetime validation failed, the token is expired.")
	case now.Add(clockSkew).Before(nbf):
		return unauthorized("Lifetime validation failed, the token is not yet valid.")
	}
	return t, claimStrings(claims, "roles"), nil
}

// queryParam returns an OData system query option, with or without its "$" (Graph accepts both).
func queryParam(q url.Values, name string) (string, bool) {
	for _, k := range []string{"$" + name, name} {
		if v, ok := q[k]; ok && len(v) > 0 {
			return v[0], true
		}
	}
	return "", false
}

// writeEntity appends the named properties of an entity (all of them when names is nil) as a JSON object.
func writeEntity(b *bytes.Buffer, props []prop, names []string) {
	b.WriteByte('{')
	n := 0
	for _, p := range props {
		if names != nil && !slices.Contains(names, p.name) {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		appendJSON(b, p.name)
		b.WriteByte(':')
		appendJSON(b, p.value)
	}
	b.WriteByte('}')
}

// appendJSON appends v as JSON without HTML escaping, so links keep their "&". The common values (null, booleans,
// ints, printable ASCII strings, string lists and obj) are written directly, byte for byte as encoding/json would
// write them, because a large tenant's pages are mostly that: the encoder costs about half of serving a page.
func appendJSON(b *bytes.Buffer, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
		return
	case bool:
		b.WriteString(strconv.FormatBool(x))
		return
	case int:
		b.Write(strconv.AppendInt(b.AvailableBuffer(), int64(x), 10))
		return
	case string:
		if plainJSON(x) {
			b.WriteByte('"')
			b.WriteString(x)
			b.WriteByte('"')
			return
		}
	case []string:
		if x != nil {
			b.WriteByte('[')
			for i, s := range x {
				if i > 0 {
					b.WriteByte(',')
				}
				appendJSON(b, s)
			}
			b.WriteByte(']')
			return
		}
	case obj:
		if x != nil {
			writeEntity(b, x, nil)
			return
		}
	case lazy:
		appendJSON(b, x())
		return
	}
	e := json.NewEncoder(b)
	e.SetEscapeHTML(false)
	_ = e.Encode(v)         // values are strings, numbers, bools, raw JSON, obj and slices and maps of those
	b.Truncate(b.Len() - 1) // Encode's newline
}

// plainJSON reports whether s is JSON as it stands between quotes: printable ASCII without '"' or '\\'.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// skipToken encodes a page position. It is opaque to clients and bound to the tenant.
func skipToken(t *tenant, offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("emu1|" + t.ID + "|" + strconv.Itoa(offset)))
}

func parseSkipToken(t *tenant, tok string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	parts := strings.Split(string(b), "|")
	if len(parts) != 3 || parts[0] != "emu1" || parts[1] != t.ID {
		return 0, false
	}
	off, err := strconv.Atoi(parts[2])
	return off, err == nil && off >= 0
}
