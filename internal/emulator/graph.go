package emulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

const (
	graphContentType = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
	defaultPageSize  = 100
	maxPageSize      = 999
)

// graphRoute is one Graph v1.0 collection.
type graphRoute struct {
	// perms are the application permissions that grant access; any one suffices.
	perms []string
	serve func(s *Server, w http.ResponseWriter, r *http.Request, t *tenant, q url.Values)
}

// graphRoutes maps lower-case paths below /v1.0 to their handlers. Add a collection here to widen the emulator.
var graphRoutes = map[string]graphRoute{
	"/organization": {[]string{"Organization.Read.All", "Directory.Read.All"}, (*Server).serveOrganization},
	"/users":        {[]string{"User.Read.All", "Directory.Read.All"}, (*Server).serveUsers},
}

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

func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request) {
	rel := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1.0"), "/")
	key := strings.ToLower(rel)
	route, ok := graphRoutes[key]
	if !ok {
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
	switch {
	case gerr != nil:
		s.writeGraphError(w, r, *gerr)
	case r.Method != http.MethodGet:
		s.writeGraphError(w, r, graphError{http.StatusMethodNotAllowed, "Request_BadRequest",
			"Specified HTTP method is not allowed for the request target."})
	case !slices.ContainsFunc(route.perms, func(p string) bool { return slices.Contains(roles, p) }):
		s.writeGraphError(w, r, graphError{http.StatusForbidden, "Authorization_RequestDenied",
			"Insufficient privileges to complete the operation."})
	default:
		w.Header().Set("request-id", newGUID())
		w.Header().Set("client-request-id", clientRequestID(r, ""))
		route.serve(s, w, r, t, r.URL.Query())
	}
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
	claims, err := s.state().signer.verify(strings.TrimSpace(tok))
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
	case t == nil || claimString(claims, "iss") != graphIssuer(t.ID):
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

// selectProps applies $select: it returns the canonical property names to emit, always including id, or a 400.
func selectProps(q url.Values, entity string, all []prop, defaults []string) ([]string, *graphError) {
	raw, ok := queryParam(q, "select")
	if !ok || strings.TrimSpace(raw) == "" {
		return defaults, nil
	}
	byLower := map[string]string{}
	for _, p := range all {
		byLower[strings.ToLower(p.name)] = p.name
	}
	want := map[string]bool{"id": true}
	for _, f := range strings.Split(raw, ",") {
		name, ok := byLower[strings.ToLower(strings.TrimSpace(f))]
		if !ok {
			return nil, &graphError{http.StatusBadRequest, "Request_BadRequest",
				fmt.Sprintf("Could not find a property named '%s' on type 'microsoft.graph.%s'.", strings.TrimSpace(f), entity)}
		}
		want[name] = true
	}
	var names []string
	for _, p := range all { // schema order, whatever order $select used
		if want[p.name] {
			names = append(names, p.name)
		}
	}
	return names, nil
}

// writeEntity appends the selected properties of an entity as a JSON object.
func writeEntity(b *bytes.Buffer, props []prop, names []string) {
	b.WriteByte('{')
	n := 0
	for _, p := range props {
		if !slices.Contains(names, p.name) {
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

// appendJSON appends v as JSON without HTML escaping, so links keep their "&".
func appendJSON(b *bytes.Buffer, v any) {
	e := json.NewEncoder(b)
	e.SetEscapeHTML(false)
	_ = e.Encode(v)         // values are strings, bools, slices and maps of those
	b.Truncate(b.Len() - 1) // Encode's newline
}

// unsupported rejects query options the emulator does not implement, rather than silently ignoring them.
func unsupported(q url.Values) *graphError {
	if _, ok := queryParam(q, "skip"); ok {
		return &graphError{http.StatusBadRequest, "Request_BadRequest", "'$skip' is not supported by the service."}
	}
	for _, o := range []string{"filter", "orderby", "search", "expand", "count", "apply"} {
		if _, ok := queryParam(q, o); ok {
			return &graphError{http.StatusBadRequest, "Request_UnsupportedQuery",
				fmt.Sprintf("emulator: $%s is not emulated yet.", o)}
		}
	}
	return nil
}

func (s *Server) serveOrganization(w http.ResponseWriter, r *http.Request, t *tenant, q url.Values) {
	if e := unsupported(q); e != nil {
		s.writeGraphError(w, r, *e)
		return
	}
	org := t.organization()
	all := make([]string, len(org))
	for i, p := range org {
		all[i] = p.name
	}
	names, gerr := selectProps(q, "organization", org, all)
	if gerr != nil {
		s.writeGraphError(w, r, *gerr)
		return
	}
	var b bytes.Buffer
	b.WriteString(`{"@odata.context":`)
	appendJSON(&b, baseURL(r)+"/v1.0/$metadata#organization"+contextSelect(q, names))
	b.WriteString(`,"value":[`)
	writeEntity(&b, org, names)
	b.WriteString("]}")
	writeRaw(w, http.StatusOK, graphContentType, b.Bytes())
}

// contextSelect is the "(a,b)" suffix @odata.context carries when $select was given.
func contextSelect(q url.Values, names []string) string {
	if _, ok := queryParam(q, "select"); !ok {
		return ""
	}
	return "(" + strings.Join(names, ",") + ")"
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
	return off, err == nil && off >= 0 && off <= t.Users
}

func (s *Server) serveUsers(w http.ResponseWriter, r *http.Request, t *tenant, q url.Values) {
	if e := unsupported(q); e != nil {
		s.writeGraphError(w, r, *e)
		return
	}
	top := defaultPageSize
	if raw, ok := queryParam(q, "top"); ok {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > maxPageSize {
			s.writeGraphError(w, r, graphError{http.StatusBadRequest, "Request_UnsupportedQuery",
				fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and %d inclusive.", raw, maxPageSize)})
			return
		}
		top = n
	}
	offset := 0
	if raw, ok := queryParam(q, "skiptoken"); ok {
		var valid bool
		if offset, valid = parseSkipToken(t, raw); !valid {
			s.writeGraphError(w, r, graphError{http.StatusBadRequest, "Request_BadRequest",
				"Invalid $skiptoken: it was not issued for this tenant or query."})
			return
		}
	}
	names, gerr := selectProps(q, "user", user{}.props(), userDefaultSelect)
	if gerr != nil {
		s.writeGraphError(w, r, *gerr)
		return
	}
	base := baseURL(r)
	end := min(offset+top, t.Users)
	var b bytes.Buffer
	b.Grow((end - offset) * 64 * len(names))
	b.WriteString(`{"@odata.context":`)
	appendJSON(&b, base+"/v1.0/$metadata#users"+contextSelect(q, names))
	if end < t.Users {
		next := base + "/v1.0/users?"
		if _, ok := queryParam(q, "select"); ok {
			next += "$select=" + strings.Join(names, ",") + "&"
		}
		next += "$top=" + strconv.Itoa(top) + "&$skiptoken=" + skipToken(t, end)
		b.WriteString(`,"@odata.nextLink":`)
		appendJSON(&b, next)
	}
	b.WriteString(`,"value":[`)
	for i := offset; i < end; i++ {
		if i > offset {
			b.WriteByte(',')
		}
		writeEntity(&b, t.user(i).props(), names)
	}
	b.WriteString("]}")
	writeRaw(w, http.StatusOK, graphContentType, b.Bytes())
}
