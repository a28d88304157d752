// Package apiauth admits callers of tenantreport's own HTTP API: workloads in
// other tenants that present an app-only Microsoft Entra access token, issued
// by our home tenant for our API app (scope "<app ID URI>/.default"). It
// checks a token the way an API gateway's validate-jwt policy does, with
// golang-jwt for parsing and RS256 verification and keyfunc/jwkset for the
// home tenant's published keys; it holds no cryptography of its own.
//
// # What a token must be
//
// [Validator.Authenticate] takes the Authorization header value and refuses,
// with a 401 [Error] whose Description says exactly what is wrong, a token
// that is not, checked in this order:
//
//   - sent as "Bearer <token>" (the scheme in any case), at most 16 KiB;
//   - a JWT: three base64url parts, a JSON header, JSON claims of the
//     expected types;
//   - signed RS256 (never "none", never HMAC: a verifier that let the token
//     choose would check an HS256 signature with the public key as the
//     secret), with a key id (kid);
//   - signed by a key the home tenant publishes: its OpenID configuration
//     names the JWKS, which is fetched, cached and refreshed (see below); the
//     token's own jku, x5u, x5c and jwk headers are never used;
//   - current: exp present, exp and nbf within [Config.Skew];
//   - issued by the home tenant (tid) with an accepted issuer (iss), for this
//     API (aud): Entra signs every tenant's tokens with the same keys, so the
//     signature alone does not say whose token it is;
//   - app-only: idtyp, when present, "app"; no scp (a user's delegated
//     scopes); ver 1.0 or 2.0;
//   - from a confidential client: appidacr (v1.0) or azpacr (v2.0) "1"
//     (secret) or "2" (certificate or federated credential), never "0" (a
//     public client);
//   - naming its caller: appid (v1.0) or azp (v2.0), and oid.
//
// Nothing is fetched for a token refused before its signature is checked. A
// token that passes yields a [Caller]. Whether the caller may do what it
// asks (its app roles, the tenants it may read) is the HTTP layer's decision;
// its 403 is an [Error] too, so that [Error.Challenge] renders both.
// Descriptions name the claim at fault and quote its value, shortened and in
// printable ASCII, and never repeat the token or its signature.
//
// # Keys
//
// [New] does no I/O. The first Authenticate that gets as far as the signature
// reads {Authority}/{TenantID}/v2.0/.well-known/openid-configuration and the
// JWKS it names; concurrent requests wait for that one fetch. Until it
// succeeds Authenticate answers 503, and after a failure the next attempt
// waits 5 seconds (by [Config.Now]), so that an Entra outage does not turn
// every request into one to Entra; a request that gives up while the keys
// are fetched does not count as a failure. Once in, the keys are refreshed
// hourly in the background, and for a token whose kid they lack at most once
// a minute (such a token waits at most 10 seconds for that refresh, and is
// refused at once when none is due sooner). Entra publishes a new key well
// before it signs with it, so an unknown kid is far more often an attacker's
// than a rotation the hourly refresh missed, and no number of them costs
// Entra more than one request a minute.
//
// # Example
//
//	v := apiauth.New(ctx, apiauth.Config{
//		Authority: "https://login.microsoftonline.com",
//		TenantID:  homeTenantID,
//		Audiences: []string{"api://" + apiClientID, apiClientID},
//	})
//	caller, err := v.Authenticate(r.Context(), r.Header.Get("Authorization"))
//	var ae *apiauth.Error
//	if errors.As(err, &ae) {
//		if c := ae.Challenge(); c != "" {
//			w.Header().Set("WWW-Authenticate", c)
//		}
//		http.Error(w, ae.Description, ae.Status)
//		return
//	}
//	if !caller.HasRole("Reports.Read.All") { … 403 … }
package apiauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Config says which tokens a [Validator] accepts and how it reaches Entra.
type Config struct {
	// Authority is the Entra authority host URL, such as
	// "https://login.microsoftonline.com" (a trailing slash is ignored).
	Authority string
	// TenantID is the home tenant, where the API app is registered: its
	// GUID, which is also the tid of every accepted token.
	TenantID string
	// Audiences are the accepted aud values: the API app's application ID
	// URI (v1.0 tokens) and its client id (v2.0 tokens). None accepts no
	// token.
	Audiences []string
	// Issuers are the accepted iss values. nil means the issuer of the
	// home tenant's OpenID configuration ({tenantid} replaced by TenantID),
	// which v2.0 tokens carry, and "https://sts.windows.net/{TenantID}/",
	// which v1.0 tokens carry.
	Issuers []string
	// Client fetches the OpenID configuration and the keys; nil means
	// http.DefaultClient.
	Client *http.Client
	// Skew is the leeway for exp and nbf; 0 means 5 minutes.
	Skew time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Logger receives failures of the background key refresh, which no
	// request sees; nil discards them.
	Logger *slog.Logger
}

// Validator authenticates the callers of the API. It is safe for concurrent
// use.
type Validator struct {
	cfg    Config
	log    *slog.Logger
	parser *jwt.Parser
	// bg is New's context, kept because the key refresh goroutine it ends
	// starts on the first request, not in New.
	bg context.Context
	ks atomic.Pointer[keySet] // nil until the first successful fetch
	// sem admits one fetch of the keys at a time; failedAt and lastErr
	// (guarded by it) answer requests until retryAfter has passed.
	sem      chan struct{}
	failedAt time.Time
	lastErr  *Error
}

// defaultSkew is the leeway for exp and nbf when Config.Skew is 0: what Entra
// itself allows and what validate-jwt defaults to.
const defaultSkew = 5 * time.Minute

// maxTokenBytes bounds what is parsed at all. App-only Entra access tokens
// are 1–3 KB; only user tokens with many groups grow past that.
const maxTokenBytes = 16 << 10

// New returns a Validator for cfg. It does no I/O: the home tenant's keys are
// fetched by the first Authenticate that needs them. ctx ends the background
// refresh of the keys; cancel it when the Validator is no longer used.
func New(ctx context.Context, cfg Config) *Validator {
	cfg.Authority = strings.TrimRight(cfg.Authority, "/")
	if cfg.Client == nil {
		cfg.Client = http.DefaultClient
	}
	if cfg.Skew == 0 {
		cfg.Skew = defaultSkew
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Validator{
		cfg: cfg,
		log: log,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithLeeway(cfg.Skew),
			jwt.WithTimeFunc(cfg.Now),
		),
		bg:  ctx,
		sem: make(chan struct{}, 1),
	}
}

// Caller is an authenticated caller of the API.
type Caller struct {
	// AppID is the calling application's client id: appid (v1.0) or azp
	// (v2.0).
	AppID string
	// ObjectID is oid: the calling application's service principal in the
	// home tenant (not in the caller's own tenant).
	ObjectID string
	// TenantID is tid, the tenant that issued the token: always
	// Config.TenantID.
	TenantID string
	// Version is ver: "1.0" or "2.0".
	Version string
	// Roles are the app roles of the API granted to the caller.
	Roles []string
}

// HasRole reports whether the caller holds the app role, compared exactly as
// Entra writes role values.
func (c Caller) HasRole(role string) bool { return slices.Contains(c.Roles, role) }

// claims are the members of an Entra access token that Authenticate reads.
type claims struct {
	jwt.RegisteredClaims
	TenantID string   `json:"tid"`
	ObjectID string   `json:"oid"`
	AppID    string   `json:"appid"`
	AppIDACR string   `json:"appidacr"`
	AZP      string   `json:"azp"`
	AZPACR   string   `json:"azpacr"`
	IDType   string   `json:"idtyp"`
	Scope    *string  `json:"scp"` // present only in delegated tokens
	Roles    []string `json:"roles"`
	Version  string   `json:"ver"`
}

// Authenticate checks the Authorization header value of a request and
// returns its caller. Every error is an *[Error]: 401 for a refused token,
// 503 when the home tenant's keys cannot be fetched. ctx bounds the fetch of
// the keys.
func (v *Validator) Authenticate(ctx context.Context, authorization string) (Caller, error) {
	raw, e := bearer(authorization)
	if e != nil {
		return Caller{}, e
	}
	kid, e := v.inspect(raw)
	if e != nil {
		return Caller{}, e
	}
	ks, e := v.keys(ctx)
	if e != nil {
		return Caller{}, e
	}
	var c claims
	_, err := v.parser.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		key, err := ks.kf.KeyfuncCtx(ctx)(t)
		if err != nil {
			return nil, invalid("the token's signing key %s is not one of the home tenant's published keys", quote(kid))
		}
		return key, nil
	})
	var ae *Error
	switch {
	case err == nil:
	case errors.As(err, &ae):
		return Caller{}, ae
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return Caller{}, invalid("the token's signature does not verify with the home tenant's key %s", quote(kid))
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return Caller{}, invalid("the token has no expiry (exp)")
	case errors.Is(err, jwt.ErrTokenExpired):
		return Caller{}, invalid("the token expired at %s (now %s, leeway %s)",
			stamp(c.ExpiresAt.Time), stamp(v.cfg.Now()), v.cfg.Skew)
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return Caller{}, invalid("the token is not valid before %s (now %s, leeway %s)",
			stamp(c.NotBefore.Time), stamp(v.cfg.Now()), v.cfg.Skew)
	default:
		// inspect has parsed what the library parses; nothing else is left.
		return Caller{}, invalid("the token cannot be verified")
	}
	return v.admit(&c, ks)
}

// bearer returns the token of a "Bearer <token>" header value. A request
// without one is answered invalid_token with a description too, as Azure
// Resource Manager answers it, rather than with RFC 6750 §3.1's bare
// "Bearer": the description is what tells a person what to send.
func bearer(authorization string) (string, *Error) {
	h := strings.Trim(authorization, " \t")
	if h == "" {
		return "", invalid("the request has no Authorization header: send Authorization: Bearer <access token>")
	}
	scheme, token, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		// Name the scheme only when it looks like one: a bare token sent
		// without a scheme must not come back in the answer.
		d := "the Authorization header is not Bearer <access token>"
		if len(scheme) <= 20 && strings.Trim(scheme, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") == "" {
			d = fmt.Sprintf("the Authorization scheme %s is not Bearer: send Authorization: Bearer <access token>", quote(scheme))
		}
		return "", invalid("%s", d)
	}
	token = strings.TrimLeft(token, " ")
	switch {
	case token == "":
		return "", invalid("the Bearer token is empty")
	case len(token) > maxTokenBytes:
		return "", invalid("the token is %d bytes long, more than the %d accepted", len(token), maxTokenBytes)
	}
	return token, nil
}

// inspect checks the form of a token, its algorithm and its key id, which
// it returns, before any key is fetched: the library would refuse the same
// tokens, but without saying which part is wrong.
func (v *Validator) inspect(raw string) (kid string, _ *Error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "", invalid("the token is not a JWT: a JWT has 3 dot-separated parts, this has %d", len(parts))
	}
	hb, err := v.parser.DecodeSegment(parts[0])
	if err != nil {
		return "", invalid("the token is not a JWT: its header is not base64url")
	}
	var header map[string]any
	if json.Unmarshal(hb, &header) != nil || header == nil {
		return "", invalid("the token is not a JWT: its header is not a JSON object")
	}
	switch alg, _ := header["alg"].(string); alg {
	case jwt.SigningMethodRS256.Alg():
	case "":
		return "", invalid("the token's header names no algorithm (alg): tokens must be signed RS256")
	case "none":
		return "", invalid(`the token is unsigned (alg "none"): tokens must be signed RS256`)
	default:
		return "", invalid("the token's algorithm %s is not accepted: tokens must be signed RS256", quote(alg))
	}
	kid, _ = header["kid"].(string)
	if kid == "" {
		return "", invalid("the token's header names no signing key (kid)")
	}
	cb, err := v.parser.DecodeSegment(parts[1])
	if err != nil {
		return "", invalid("the token is not a JWT: its claims are not base64url")
	}
	if json.Unmarshal(cb, new(claims)) != nil {
		return "", invalid("the token's claims are not a JSON object with claims of the expected types")
	}
	if _, err := v.parser.DecodeSegment(parts[2]); err != nil {
		return "", invalid("the token is not a JWT: its signature is not base64url")
	}
	return kid, nil
}

// admit checks the claims of a token whose signature and times hold.
func (v *Validator) admit(c *claims, ks *keySet) (Caller, error) {
	// v1.0 tokens name the client in appid, v2.0 tokens in azp.
	acr, acrName, appID, appIDName := c.AppIDACR, "appidacr", c.AppID, "appid"
	if c.Version == "2.0" {
		acr, acrName, appID, appIDName = c.AZPACR, "azpacr", c.AZP, "azp"
	}
	switch {
	case !strings.EqualFold(c.TenantID, v.cfg.TenantID):
		return Caller{}, invalid("the token was issued by tenant %s, not by this API's home tenant", quote(c.TenantID))
	case !slices.Contains(ks.issuers, c.Issuer):
		return Caller{}, invalid("the token's issuer %s is not accepted", quote(c.Issuer))
	case !slices.ContainsFunc(c.Audience, func(a string) bool { return slices.Contains(v.cfg.Audiences, a) }):
		return Caller{}, invalid("the token's audience %s is not this API (its app ID URI or client id)",
			quote(strings.Join(c.Audience, " ")))
	case c.IDType != "" && c.IDType != "app":
		return Caller{}, invalid("the token's idtyp is %s: this API accepts app-only tokens", quote(c.IDType))
	case c.Scope != nil:
		return Caller{}, invalid("the token is delegated (it has scp, a user's scopes): this API accepts app-only tokens")
	case c.Version != "1.0" && c.Version != "2.0":
		return Caller{}, invalid("the token's version (ver) %s is neither 1.0 nor 2.0", quote(c.Version))
	case acr == "0":
		return Caller{}, invalid("the token was issued to a public client (%s \"0\"): this API accepts confidential clients only", acrName)
	case acr != "1" && acr != "2":
		return Caller{}, invalid("the token's %s is %s, not 1 or 2 (a confidential client)", acrName, quote(acr))
	case appID == "":
		return Caller{}, invalid("the token names no calling application (%s)", appIDName)
	case c.ObjectID == "":
		return Caller{}, invalid("the token names no service principal (oid)")
	}
	return Caller{AppID: appID, ObjectID: c.ObjectID, TenantID: c.TenantID, Version: c.Version, Roles: c.Roles}, nil
}

// stamp formats a time for a description.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
