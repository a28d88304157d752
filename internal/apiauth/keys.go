package apiauth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"golang.org/x/time/rate"
)

const (
	// fetchTimeout bounds each request for the OpenID configuration or the
	// keys, and how long a token with an unknown kid may wait for the
	// refresh limiter: a request waits for a refresh due within it and is
	// refused at once otherwise.
	fetchTimeout = 10 * time.Second
	// refreshInterval is how often the keys are fetched in the background.
	// Entra rolls its signing keys over weeks and publishes a new key long
	// before it signs with it; hourly picks a new key up in good time.
	refreshInterval = time.Hour
	// unknownKIDRefresh is the least time between two fetches of the keys
	// caused by a token whose kid they lack (burst 1). Anyone can send such
	// tokens, so this, not the number of tokens, bounds what they cost
	// Entra: one request a minute.
	unknownKIDRefresh = time.Minute
	// retryAfter is how long a failure to fetch the OpenID configuration or
	// the keys stands before a request tries again.
	retryAfter = 5 * time.Second
	// maxDiscoveryBytes bounds the OpenID configuration read (Entra's is
	// about 2 KB).
	maxDiscoveryBytes = 1 << 20
)

// keySet is the home tenant's signing keys, and the issuers accepted with
// them.
type keySet struct {
	kf      keyfunc.Keyfunc
	issuers []string
}

// keys returns the home tenant's keys, fetching them if no request has yet,
// or a 503 *Error.
func (v *Validator) keys(ctx context.Context) (*keySet, *Error) {
	if ks := v.ks.Load(); ks != nil {
		return ks, nil
	}
	select {
	case v.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, unavailable(ctx.Err())
	}
	defer func() { <-v.sem }()
	if ks := v.ks.Load(); ks != nil {
		return ks, nil // another request fetched them while this one waited
	}
	if v.lastErr != nil && v.cfg.Now().Before(v.failedAt.Add(retryAfter)) {
		return nil, v.lastErr
	}
	ks, err := v.fetch(ctx)
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, unavailable(err) // this request gave up: no reason to make the next one wait
	case err != nil:
		v.failedAt, v.lastErr = v.cfg.Now(), unavailable(err)
		return nil, v.lastErr
	}
	v.ks.Store(ks)
	return ks, nil
}

// fetch reads the home tenant's OpenID configuration and the keys it names.
func (v *Validator) fetch(ctx context.Context) (*keySet, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	doc, err := v.discover(ctx)
	if err != nil {
		return nil, err
	}
	issuers := v.cfg.Issuers
	if issuers == nil {
		issuers = []string{
			strings.ReplaceAll(doc.Issuer, "{tenantid}", v.cfg.TenantID),
			"https://sts.windows.net/" + v.cfg.TenantID + "/",
		}
	}
	// keyfunc starts its refresh goroutine before its first fetch and ties
	// it to the context it is given: a failed attempt, or one whose request
	// gave up, must end its goroutine; a successful one lives until v.bg
	// ends.
	bg, stop := context.WithCancel(v.bg)
	unbind := context.AfterFunc(ctx, stop)
	failFirst := false
	kf, err := keyfunc.NewDefaultOverrideCtx(bg, []string{doc.JWKSURI}, keyfunc.Override{
		Client:                    v.cfg.Client,
		HTTPTimeout:               fetchTimeout,
		NoErrorReturnFirstHTTPReq: &failFirst, // a Validator without keys answers 503 and tries again
		RateLimitWaitMax:          fetchTimeout,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				v.log.WarnContext(ctx, "apiauth: refreshing the home tenant's signing keys failed", "url", u, "err", err)
			}
		},
		RefreshInterval:   refreshInterval,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(unknownKIDRefresh), 1),
	})
	if !unbind() && err == nil {
		err = context.Cause(ctx)
	}
	if err != nil {
		stop()
		return nil, fmt.Errorf("keys %s: %w", doc.JWKSURI, err)
	}
	return &keySet{kf: kf, issuers: issuers}, nil
}

// openIDConfiguration is what Authenticate reads of the OpenID configuration.
type openIDConfiguration struct {
	Issuer  string `json:"issuer"`
	JWKSURI string `json:"jwks_uri"`
}

// discover reads the home tenant's v2.0 OpenID configuration.
func (v *Validator) discover(ctx context.Context) (openIDConfiguration, error) {
	var doc openIDConfiguration
	u := v.cfg.Authority + "/" + url.PathEscape(v.cfg.TenantID) + "/v2.0/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return doc, fmt.Errorf("openid configuration: %w", err)
	}
	resp, err := v.cfg.Client.Do(req)
	if err != nil {
		return doc, fmt.Errorf("openid configuration: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDiscoveryBytes))
	switch {
	case err != nil:
		return doc, fmt.Errorf("openid configuration %s: %w", u, err)
	case resp.StatusCode != http.StatusOK:
		// Keep what Entra said (an AADSTS error for an unknown tenant).
		return doc, fmt.Errorf("openid configuration %s: %s: %.512s", u, resp.Status, body)
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return doc, fmt.Errorf("openid configuration %s: %w", u, err)
	}
	if ju, err := url.Parse(doc.JWKSURI); err != nil || ju.Scheme != "https" || ju.Host == "" {
		return doc, fmt.Errorf("openid configuration %s: jwks_uri %q is not an https URL", u, doc.JWKSURI)
	}
	if doc.Issuer == "" {
		return doc, fmt.Errorf("openid configuration %s: no issuer", u)
	}
	return doc, nil
}
