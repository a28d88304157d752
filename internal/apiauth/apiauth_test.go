package apiauth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tenantreport/tenantreport/internal/apiauth"
	"github.com/tenantreport/tenantreport/internal/emulator"
)

// The world: SampleWorld's home tenant registers the API; a workload in
// Contoso, one of its customer tenants, calls it.
const (
	home           = "6f1c2a9e-3b4d-4e8f-9a0b-1c2d3e4f5a6b"
	contoso        = "2b8e4f1a-6c3d-4b7e-9f5a-0d1c2e3f4a5b"
	apiClientID    = "7b1c5d2e-8f3a-4b6c-9d0e-1f2a3b4c5d6e"
	apiURI         = "api://tenantreport-api-test"
	callerApp      = "c4a1e2b3-5d6f-4a7b-8c9d-0e1f2a3b4c5d"
	callerMIClient = "d5b2f3c4-6e7a-4b8c-9d0e-1f2a3b4c5d6f"
	callerMIObject = "e6c3a4d5-7f8a-4b9c-8d0e-2f3a4b5c6d7e"
	callerSP       = "f7d4b5e6-7a8b-4c9d-8e0f-1a2b3c4d5e6f"
	roleTenant     = "Reports.Read.Tenant"
	roleAll        = "Reports.Read.All"
	v1Issuer       = "https://sts.windows.net/" + home + "/"
	v2Issuer       = "https://login.microsoftonline.com/" + home + "/v2.0"
)

// world returns SampleWorld with the API (issuing access tokens of
// version) and the Contoso caller, whose service principal in the home
// tenant holds roleTenant.
func world(version int) *emulator.World {
	w := emulator.SampleWorld()
	w.API = &emulator.API{ClientID: apiClientID, IdentifierURI: apiURI, AppRoles: []string{roleAll, roleTenant},
		AccessTokenVersion: version}
	w.Callers = []emulator.Caller{{
		Name:            "contoso-reader",
		TenantID:        contoso,
		ManagedIdentity: emulator.ManagedIdentity{ClientID: callerMIClient, ObjectID: callerMIObject},
		App: emulator.App{ClientID: callerApp, FederatedCredentials: []emulator.FIC{{
			Name: "contoso-mi", Issuer: "https://login.microsoftonline.com/" + contoso + "/v2.0",
			Subject: callerMIObject, Audiences: []string{"api://AzureADTokenExchange"},
		}}},
		ServicePrincipalID: callerSP,
		Roles:              []string{roleTenant},
	}}
	return w
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// harness is an emulator over TLS, a clock the validators read, and a
// switch that cuts them off from the emulator.
type harness struct {
	t  *testing.T
	em *emulator.Running
	// down, when set, fails the requests it matches, as if Entra ID were
	// unreachable.
	down atomic.Pointer[func(*http.Request) bool]

	mu  sync.Mutex
	now time.Time
}

func start(t *testing.T, w *emulator.World) *harness {
	t.Helper()
	em, err := emulator.Start(w)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	return &harness{t: t, em: em, now: time.Now().UTC().Truncate(time.Second)}
}

func (h *harness) clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

func (h *harness) advance(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.now = h.now.Add(d)
}

// validator returns a Validator for the home tenant's API, reaching only the
// emulator (its Client refuses any other host) through h's switch; cfg's
// non-zero fields replace the defaults.
func (h *harness) validator(cfg apiauth.Config) *apiauth.Validator {
	em := h.em.Client()
	if cfg.Authority == "" {
		cfg.Authority = h.em.URL
	}
	if cfg.TenantID == "" {
		cfg.TenantID = home
	}
	if cfg.Audiences == nil {
		cfg.Audiences = []string{apiURI, apiClientID}
	}
	cfg.Client = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if down := h.down.Load(); down != nil && (*down)(r) {
			return nil, fmt.Errorf("test: %s is unreachable", r.URL.Host)
		}
		return em.Transport.RoundTrip(r)
	})}
	cfg.Now = h.clock
	cfg.Logger = slog.New(slog.NewTextHandler(h.t.Output(), nil))
	return apiauth.New(h.t.Context(), cfg)
}

// fetches returns how often the emulator served the home tenant's OpenID
// configuration and keys.
func (h *harness) fetches() (discovery, keys int) {
	m := h.em.Server.Metrics()
	return m.Requests["discovery "+home], m.Requests["keys "+home]
}

// v1 returns the claims of a v1.0 access token for the API, as Entra issues
// it to the Contoso caller.
func (h *harness) v1() map[string]any {
	now := h.clock()
	return map[string]any{
		"aud": apiURI, "iss": v1Issuer, "idp": v1Issuer, "tid": home,
		"iat": now.Add(-5 * time.Minute).Unix(), "nbf": now.Add(-5 * time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(),
		"appid": callerApp, "appidacr": "2", "idtyp": "app", "oid": callerSP, "sub": callerSP,
		"roles": []string{roleTenant}, "ver": "1.0",
	}
}

// v2 returns the claims of a v2.0 access token for the API.
func (h *harness) v2() map[string]any {
	now := h.clock()
	return map[string]any{
		"aud": apiClientID, "iss": v2Issuer, "tid": home,
		"iat": now.Add(-5 * time.Minute).Unix(), "nbf": now.Add(-5 * time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(),
		"azp": callerApp, "azpacr": "2", "idtyp": "app", "oid": callerSP, "sub": callerSP,
		"roles": []string{roleTenant}, "ver": "2.0",
	}
}

// with returns a copy of claims with kv's pairs set, or deleted for a nil
// value.
func with(claims map[string]any, kv ...any) map[string]any {
	c := make(map[string]any, len(claims))
	for k, v := range claims {
		c[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

// sign returns a token the emulator signed with the key its JWKS publishes.
func (h *harness) sign(claims map[string]any) string {
	h.t.Helper()
	tok, err := h.em.Server.SignToken(claims)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// kid returns the key id in a token's header.
func kid(t *testing.T, token string) string {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Header["kid"].(string)
}

// attackerKey is a key Entra never published.
var attackerKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// forge signs claims with key and method, with header's members added.
func forge(t *testing.T, method jwt.SigningMethod, key any, header, claims map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, jwt.MapClaims(claims))
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// publicJWK is key as a JWK, for tokens that carry their own key.
func publicJWK(key *rsa.PublicKey, kid string) map[string]any {
	return map[string]any{"kty": "RSA", "kid": kid, "n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes())}
}

// emulatorKey returns the public key em signs with, read from its JWKS
// without apiauth.
func emulatorKey(tb testing.TB, em *emulator.Running) *rsa.PublicKey {
	tb.Helper()
	resp, err := em.Client().Get(em.URL + "/" + home + "/discovery/v2.0/keys")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var jwks struct{ Keys []struct{ N, E string } }
	if err := json.NewDecoder(resp.Body).Decode(&jwks); err != nil || len(jwks.Keys) == 0 {
		tb.Fatalf("keys: %v %+v", err, jwks)
	}
	n, err1 := base64.RawURLEncoding.DecodeString(jwks.Keys[0].N)
	e, err2 := base64.RawURLEncoding.DecodeString(jwks.Keys[0].E)
	if err := errors.Join(err1, err2); err != nil {
		tb.Fatal(err)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
}

// segment base64url-encodes s, as a JWT part.
func segment(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// invalidToken is the challenge of a 401 invalid_token refusal with
// description, which names values in single quotes there.
func invalidToken(description string) string {
	return `Bearer error="invalid_token", error_description="` + description + `"`
}

func TestAuthenticateRefuses(t *testing.T) {
	h := start(t, world(1))
	v := h.validator(apiauth.Config{})
	valid := h.sign(h.v1())
	emKid := kid(t, valid)
	parts := strings.Split(valid, ".")
	header := parts[0]
	now, stamp := h.clock(), func(t time.Time) string { return t.UTC().Format(time.RFC3339) }

	// A signature byte flipped, and the claims changed under the old signature.
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sig[len(sig)/2] ^= 0x01
	flipped := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
	elevated, _ := json.Marshal(with(h.v1(), "roles", []string{roleAll}))
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(elevated) + "." + parts[2]

	pub := emulatorKey(t, h.em)
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	mine := attackerKey()
	d0, k0 := h.fetches()

	tests := []struct {
		name, authorization string
		status              int
		challenge           string
	}{
		{"no header", "", 401, invalidToken("the request has no Authorization header: send Authorization: Bearer <access token>")},
		{"basic", "Basic dXNlcjpwYXNz", 401, invalidToken("the Authorization scheme 'Basic' is not Bearer: send Authorization: Bearer <access token>")},
		{"no scheme", valid, 401, invalidToken("the Authorization header is not Bearer <access token>")},
		{"empty bearer", "Bearer ", 401, invalidToken("the Bearer token is empty")},
		{"too long", "Bearer " + strings.Repeat("a", 16<<10+1), 401,
			invalidToken("the token is 16385 bytes long, more than the 16384 accepted")},
		{"one part", "Bearer opaque-token", 401,
			invalidToken("the token is not a JWT: a JWT has 3 dot-separated parts, this has 1")},
		{"four parts", "Bearer " + valid + ".x", 401,
			invalidToken("the token is not a JWT: a JWT has 3 dot-separated parts, this has 4")},
		{"header not base64url", "Bearer e30!." + parts[1] + "." + parts[2], 401,
			invalidToken("the token is not a JWT: its header is not base64url")},
		{"header not JSON", "Bearer " + segment("not json") + "." + parts[1] + "." + parts[2], 401,
			invalidToken("the token is not a JWT: its header is not a JSON object")},
		{"no alg", "Bearer " + segment(`{"kid":"`+emKid+`"}`) + "." + parts[1] + "." + parts[2], 401,
			invalidToken("the token's header names no algorithm (alg): tokens must be signed RS256")},
		{"alg none", "Bearer " + segment(`{"alg":"none","kid":"`+emKid+`"}`) + "." + parts[1] + ".", 401,
			invalidToken(`the token is unsigned (alg 'none'): tokens must be signed RS256`)},
		{"HS256 with the public key as secret",
			"Bearer " + forge(t, jwt.SigningMethodHS256, der, map[string]any{"kid": emKid}, h.v1()), 401,
			invalidToken("the token's algorithm 'HS256' is not accepted: tokens must be signed RS256")},
		{"PS256", "Bearer " + forge(t, jwt.SigningMethodPS256, mine, map[string]any{"kid": emKid}, h.v1()), 401,
			invalidToken("the token's algorithm 'PS256' is not accepted: tokens must be signed RS256")},
		{"no kid", "Bearer " + forge(t, jwt.SigningMethodRS256, mine, nil, h.v1()), 401,
			invalidToken("the token's header names no signing key (kid)")},
		{"claims not base64url", "Bearer " + header + ".e30!." + parts[2], 401,
			invalidToken("the token is not a JWT: its claims are not base64url")},
		{"claims of the wrong type", "Bearer " + h.sign(with(h.v1(), "exp", "tomorrow")), 401,
			invalidToken("the token's claims are not a JSON object with claims of the expected types")},
		{"claims not an object", "Bearer " + header + "." + segment(`[1]`) + "." + parts[2], 401,
			invalidToken("the token's claims are not a JSON object with claims of the expected types")},
		{"signature not base64url", "Bearer " + parts[0] + "." + parts[1] + ".sig!", 401,
			invalidToken("the token is not a JWT: its signature is not base64url")},
		{"signature byte flipped", "Bearer " + flipped, 401,
			invalidToken("the token's signature does not verify with the home tenant's key '" + emKid + "'")},
		{"claims changed", "Bearer " + tampered, 401,
			invalidToken("the token's signature does not verify with the home tenant's key '" + emKid + "'")},
		{"signed by another key under the published kid, which it carries",
			"Bearer " + forge(t, jwt.SigningMethodRS256, mine,
				map[string]any{"kid": emKid, "jwk": publicJWK(&mine.PublicKey, emKid)}, h.v1()), 401,
			invalidToken("the token's signature does not verify with the home tenant's key '" + emKid + "'")},
		{"key not in the JWKS", "Bearer " + forge(t, jwt.SigningMethodRS256, mine,
			map[string]any{"kid": "attacker-key-1"}, h.v1()), 401,
			invalidToken("the token's signing key 'attacker-key-1' is not one of the home tenant's published keys")},
		{"key not in the JWKS, offered in jwk, jku, x5u and x5c", "Bearer " + forge(t, jwt.SigningMethodRS256, mine,
			map[string]any{"kid": "attacker-key-2", "jwk": publicJWK(&mine.PublicKey, "attacker-key-2"),
				"jku": "https://attacker.example/keys", "x5u": "https://attacker.example/cert",
				"x5c": []string{base64.StdEncoding.EncodeToString(der)}}, h.v1()), 401,
			invalidToken("the token's signing key 'attacker-key-2' is not one of the home tenant's published keys")},
		{"no exp", "Bearer " + h.sign(with(h.v1(), "exp", nil)), 401, invalidToken("the token has no expiry (exp)")},
		{"expired", "Bearer " + h.sign(with(h.v1(), "exp", now.Add(-6*time.Minute).Unix())), 401,
			invalidToken("the token expired at " + stamp(now.Add(-6*time.Minute)) + " (now " + stamp(now) + ", leeway 5m0s)")},
		{"not yet valid", "Bearer " + h.sign(with(h.v1(), "nbf", now.Add(6*time.Minute).Unix())), 401,
			invalidToken("the token is not valid before " + stamp(now.Add(6*time.Minute)) + " (now " + stamp(now) + ", leeway 5m0s)")},
		{"another tenant", "Bearer " + h.sign(with(h.v1(), "tid", contoso, "iss", "https://sts.windows.net/"+contoso+"/")), 401,
			invalidToken("the token was issued by tenant '" + contoso + "', not by this API's home tenant")},
		{"wrong issuer", "Bearer " + h.sign(with(h.v1(), "iss", "https://sts.windows.net/"+contoso+"/")), 401,
			invalidToken("the token's issuer 'https://sts.windows.net/2b8e4f1a-6c3d-4b7e-9f5a-...' is not accepted")},
		{"Graph's audience", "Bearer " + h.sign(with(h.v1(), "aud", "https://graph.microsoft.com")), 401,
			invalidToken("the token's audience 'https://graph.microsoft.com' is not this API (its app ID URI or client id)")},
		{"audience with quotes and a newline", "Bearer " + h.sign(with(h.v1(), "aud", "x\"\n\\y")), 401,
			invalidToken("the token's audience 'x???y' is not this API (its app ID URI or client id)")},
		{"idtyp user", "Bearer " + h.sign(with(h.v1(), "idtyp", "user")), 401,
			invalidToken("the token's idtyp is 'user': this API accepts app-only tokens")},
		{"delegated", "Bearer " + h.sign(with(h.v1(), "idtyp", nil, "scp", "Reports.Read")), 401,
			invalidToken("the token is delegated (it has scp, a user's scopes): this API accepts app-only tokens")},
		{"unknown version", "Bearer " + h.sign(with(h.v1(), "ver", "3.0")), 401,
			invalidToken("the token's version (ver) '3.0' is neither 1.0 nor 2.0")},
		{"v1 public client", "Bearer " + h.sign(with(h.v1(), "appidacr", "0")), 401,
			invalidToken("the token was issued to a public client (appidacr '0'): this API accepts confidential clients only")},
		{"v2 public client", "Bearer " + h.sign(with(h.v2(), "azpacr", "0")), 401,
			invalidToken("the token was issued to a public client (azpacr '0'): this API accepts confidential clients only")},
		{"v1 without appidacr", "Bearer " + h.sign(with(h.v1(), "appidacr", nil)), 401,
			invalidToken("the token's appidacr is '', not 1 or 2 (a confidential client)")},
		{"v2 with only v1's appidacr", "Bearer " + h.sign(with(h.v2(), "azpacr", nil, "appidacr", "2")), 401,
			invalidToken("the token's azpacr is '', not 1 or 2 (a confidential client)")},
		{"v2 without azp", "Bearer " + h.sign(with(h.v2(), "azp", nil)), 401,
			invalidToken("the token names no calling application (azp)")},
		{"no oid", "Bearer " + h.sign(with(h.v1(), "oid", nil)), 401,
			invalidToken("the token names no service principal (oid)")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			caller, err := v.Authenticate(t.Context(), tt.authorization)
			var ae *apiauth.Error
			if !errors.As(err, &ae) {
				t.Fatalf("Authenticate = %+v, %v; want an *apiauth.Error", caller, err)
			}
			if ae.Status != tt.status || ae.Challenge() != tt.challenge {
				t.Errorf("Authenticate: %d %s\nwant %d %s", ae.Status, ae.Challenge(), tt.status, tt.challenge)
			}
			if ae.Err != nil {
				t.Errorf("Err = %v, want nil for a refusal", ae.Err)
			}
			if len(tt.authorization) > 40 && strings.Contains(ae.Error(), tt.authorization[len(tt.authorization)-40:]) {
				t.Errorf("Error() = %q repeats the token", ae.Error())
			}
		})
	}
	// The keys once, and once more for the first unknown kid: the second
	// one comes within the minute.
	if d, k := h.fetches(); d-d0 != 1 || k-k0 != 2 {
		t.Errorf("fetched the OpenID configuration %d times and the keys %d times, want 1 and 2", d-d0, k-k0)
	}
}

func TestAuthenticateAccepts(t *testing.T) {
	h := start(t, world(1))
	v := h.validator(apiauth.Config{})
	now := h.clock()
	v1 := apiauth.Caller{AppID: callerApp, ObjectID: callerSP, TenantID: home, Version: "1.0", Roles: []string{roleTenant}}
	v2 := v1
	v2.Version = "2.0"
	tests := []struct {
		name, authorization string
		want                apiauth.Caller
	}{
		{"v1", "Bearer " + h.sign(h.v1()), v1},
		{"v1 for the client id, without idtyp", "Bearer " + h.sign(with(h.v1(), "aud", apiClientID, "idtyp", nil)), v1},
		{"v2", "Bearer " + h.sign(h.v2()), v2},
		{"scheme in lower case, spaces around", "  bearer   " + h.sign(h.v2()) + " ", v2},
		{"expired, within the skew", "Bearer " + h.sign(with(h.v1(), "exp", now.Add(-4*time.Minute).Unix())), v1},
		{"not yet valid, within the skew", "Bearer " + h.sign(with(h.v1(), "nbf", now.Add(4*time.Minute).Unix())), v1},
		{"appidacr 1 (a secret)", "Bearer " + h.sign(with(h.v1(), "appidacr", "1")), v1},
		{"no roles", "Bearer " + h.sign(with(h.v1(), "roles", nil)),
			apiauth.Caller{AppID: callerApp, ObjectID: callerSP, TenantID: home, Version: "1.0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Authenticate(t.Context(), tt.authorization)
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("Authenticate = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSkew(t *testing.T) {
	h := start(t, world(1))
	v := h.validator(apiauth.Config{Skew: time.Minute})
	token := "Bearer " + h.sign(with(h.v1(), "exp", h.clock().Add(-2*time.Minute).Unix()))
	var ae *apiauth.Error
	if _, err := v.Authenticate(t.Context(), token); !errors.As(err, &ae) || !strings.Contains(ae.Description, "leeway 1m0s") {
		t.Errorf("Authenticate(expired 2 minutes ago, skew 1m) = %v, want expired", err)
	}
}

func TestIssuers(t *testing.T) {
	h := start(t, world(1))
	v := h.validator(apiauth.Config{Issuers: []string{"https://issuer.example/" + home}})
	if _, err := v.Authenticate(t.Context(), "Bearer "+h.sign(h.v1())); err == nil {
		t.Error("Authenticate(v1 issuer) succeeded; Issuers does not list it")
	}
	if _, err := v.Authenticate(t.Context(), "Bearer "+h.sign(with(h.v1(), "iss", "https://issuer.example/"+home))); err != nil {
		t.Errorf("Authenticate(listed issuer): %v", err)
	}
}

func TestHasRole(t *testing.T) {
	c := apiauth.Caller{Roles: []string{roleTenant, "Reports.Run"}}
	for role, want := range map[string]bool{roleTenant: true, "Reports.Run": true, roleAll: false,
		strings.ToLower(roleTenant): false, "": false} {
		if got := c.HasRole(role); got != want {
			t.Errorf("HasRole(%q) = %v, want %v", role, got, want)
		}
	}
	if (apiauth.Caller{}).HasRole("") {
		t.Error("zero Caller HasRole(\"\") = true")
	}
}

// TestEndToEnd has the Contoso workload get a real token for the API: its
// managed identity's token, exchanged at the home tenant's token endpoint for
// its client app through the app's federated credential.
func TestEndToEnd(t *testing.T) {
	for _, tt := range []struct {
		version int
		want    apiauth.Caller
	}{
		{1, apiauth.Caller{AppID: callerApp, ObjectID: callerSP, TenantID: home, Version: "1.0", Roles: []string{roleTenant}}},
		{2, apiauth.Caller{AppID: callerApp, ObjectID: callerSP, TenantID: home, Version: "2.0", Roles: []string{roleTenant}}},
	} {
		t.Run(fmt.Sprintf("v%d", tt.version), func(t *testing.T) {
			h := start(t, world(tt.version))
			token := h.callerToken(apiURI + "/.default")
			got, err := h.validator(apiauth.Config{}).Authenticate(t.Context(), "Bearer "+token)
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("Authenticate = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// callerToken returns the token the Contoso caller gets for scope.
func (h *harness) callerToken(scope string) string {
	h.t.Helper()
	c := h.em.Client()
	req, _ := http.NewRequestWithContext(h.t.Context(), http.MethodGet, h.em.URL+"/msi/token?api-version=2019-08-01"+
		"&resource=api://AzureADTokenExchange&client_id="+callerMIClient, nil)
	req.Header.Set("X-IDENTITY-HEADER", h.em.Server.IdentityHeader())
	assertion := h.token(c, req)
	req, _ = http.NewRequestWithContext(h.t.Context(), http.MethodPost, h.em.URL+"/"+home+"/oauth2/v2.0/token",
		strings.NewReader(url.Values{
			"grant_type":            {"client_credentials"},
			"client_id":             {callerApp},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {assertion},
			"scope":                 {scope},
		}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return h.token(c, req)
}

func (h *harness) token(c *http.Client, req *http.Request) string {
	h.t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.AccessToken == "" {
		h.t.Fatalf("%s %s: %d %v %s", req.Method, req.URL.Path, resp.StatusCode, err, body.Error)
	}
	return body.AccessToken
}

func TestKeyRotation(t *testing.T) {
	h := start(t, world(1))
	v := h.validator(apiauth.Config{})
	old := "Bearer " + h.sign(h.v1())
	if _, err := v.Authenticate(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	h.em.Server.RotateKey()
	rotated := "Bearer " + h.sign(h.v1())
	for _, tok := range []string{rotated, old, rotated} {
		if _, err := v.Authenticate(t.Context(), tok); err != nil {
			t.Errorf("Authenticate after the rotation: %v", err)
		}
	}
	if d, k := h.fetches(); d != 1 || k != 2 {
		t.Errorf("fetched the OpenID configuration %d times and the keys %d times, want 1 and 2", d, k)
	}
}

func TestUnknownKIDsRefreshAtMostOnce(t *testing.T) {
	h := start(t, world(1))
	v := h.validator(apiauth.Config{})
	if _, err := v.Authenticate(t.Context(), "Bearer "+h.sign(h.v1())); err != nil {
		t.Fatal(err)
	}
	const n = 50
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = "Bearer " + forge(t, jwt.SigningMethodRS256, attackerKey(), map[string]any{"kid": rand.Text()}, h.v1())
	}
	var wg sync.WaitGroup
	for _, tok := range tokens {
		wg.Go(func() {
			var ae *apiauth.Error
			if _, err := v.Authenticate(t.Context(), tok); !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized ||
				!strings.HasSuffix(ae.Description, "is not one of the home tenant's published keys") {
				t.Errorf("Authenticate(unknown kid) = %v, want 401 key not published", err)
			}
		})
	}
	wg.Wait()
	if _, k := h.fetches(); k > 2 {
		t.Errorf("%d tokens with unknown kids fetched the keys %d times after the first, want at most once", n, k-1)
	}
}

func TestFirstFetchIsShared(t *testing.T) {
	h := start(t, world(1))
	v := h.validator(apiauth.Config{})
	tok := "Bearer " + h.sign(h.v1())
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := v.Authenticate(t.Context(), tok); err != nil {
				t.Errorf("Authenticate: %v", err)
			}
		})
	}
	wg.Wait()
	if d, k := h.fetches(); d != 1 || k != 1 {
		t.Errorf("20 concurrent first requests fetched the OpenID configuration %d times and the keys %d times, want once each", d, k)
	}
}

func TestNoIOUntilNeeded(t *testing.T) {
	h := start(t, world(1))
	v := h.validator(apiauth.Config{})
	for _, a := range []string{"", "Basic x", "Bearer a.b", "Bearer " + segment(`{"alg":"none"}`) + ".e30."} {
		if _, err := v.Authenticate(t.Context(), a); err == nil {
			t.Errorf("Authenticate(%q) succeeded", a)
		}
	}
	if d, k := h.fetches(); d != 0 || k != 0 {
		t.Errorf("malformed tokens fetched the OpenID configuration %d times and the keys %d times, want none", d, k)
	}
}

func TestEntraUnreachable(t *testing.T) {
	for _, tt := range []struct {
		name string
		down func(*http.Request) bool
	}{
		{"everything", func(*http.Request) bool { return true }},
		{"keys", func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/discovery/v2.0/keys") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, world(1))
			v := h.validator(apiauth.Config{})
			tok := "Bearer " + h.sign(h.v1())
			h.down.Store(&tt.down)
			_, err := v.Authenticate(t.Context(), tok)
			var ae *apiauth.Error
			if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || ae.Challenge() != "" || ae.Err == nil {
				t.Fatalf("Authenticate with Entra unreachable = %v, want 503 with its cause and no challenge", err)
			}
			if !strings.Contains(ae.Error(), "is unreachable") {
				t.Errorf("Error() = %q, want the transport's error in it", ae.Error())
			}
			h.down.Store(nil)
			// Within the retry delay the failure stands, without a request to Entra.
			d0, k0 := h.fetches()
			if _, err := v.Authenticate(t.Context(), tok); !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable {
				t.Errorf("Authenticate right after = %v, want 503 again", err)
			}
			if d, k := h.fetches(); d != d0 || k != k0 {
				t.Errorf("the retry delay sent %d requests for the configuration and %d for the keys, want none", d-d0, k-k0)
			}
			h.advance(5 * time.Second)
			if _, err := v.Authenticate(t.Context(), tok); err != nil {
				t.Errorf("Authenticate once Entra is back: %v", err)
			}
		})
	}
}

func TestGivingUpDoesNotDelayOthers(t *testing.T) {
	h := start(t, world(1))
	v := h.validator(apiauth.Config{})
	tok := "Bearer " + h.sign(h.v1())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var ae *apiauth.Error
	if _, err := v.Authenticate(ctx, tok); !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable {
		t.Errorf("Authenticate(cancelled) = %v, want 503", err)
	}
	if _, err := v.Authenticate(t.Context(), tok); err != nil {
		t.Errorf("Authenticate after a request gave up: %v", err)
	}
}

func TestUnknownTenantKeepsEntrasAnswer(t *testing.T) {
	h := start(t, world(1))
	v := h.validator(apiauth.Config{TenantID: "0b0b0b0b-0000-4000-8000-000000000000"})
	_, err := v.Authenticate(t.Context(), "Bearer "+h.sign(h.v1()))
	var ae *apiauth.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || !strings.Contains(ae.Error(), "AADSTS90002") {
		t.Errorf("Authenticate(unknown home tenant) = %v, want 503 keeping AADSTS90002", err)
	}
}

func TestChallenge(t *testing.T) {
	long := strings.Repeat("x", 300)
	for _, tt := range []struct {
		e    apiauth.Error
		want string
	}{
		{apiauth.Error{Status: 401}, "Bearer"},
		{apiauth.Error{Status: 401, Code: "invalid_token", Description: `a "b" \c` + "\r\nSet-Cookie: x"},
			`Bearer error="invalid_token", error_description="a 'b' /c??Set-Cookie: x"`},
		{apiauth.Error{Status: 403, Code: "insufficient_scope", Description: "reading reports needs the app role Reports.Read.All"},
			`Bearer error="insufficient_scope", error_description="reading reports needs the app role Reports.Read.All"`},
		{apiauth.Error{Status: 401, Code: "invalid_token", Description: "é"}, `Bearer error="invalid_token", error_description="?"`},
		{apiauth.Error{Status: 401, Code: "invalid_token", Description: long},
			`Bearer error="invalid_token", error_description="` + long[:253] + `..."`},
		{apiauth.Error{Status: 503, Description: "keys"}, ""},
	} {
		if got := tt.e.Challenge(); got != tt.want {
			t.Errorf("%+v.Challenge() = %q, want %q", tt.e, got, tt.want)
		}
	}
}
