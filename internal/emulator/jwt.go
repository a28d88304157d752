package emulator

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// signer holds the one key that signs every token the emulator issues (managed identity and Graph).
//
// The key is derived from the world's seed, home tenant and managed identity, not drawn at random. MSAL caches
// managed-identity tokens process-wide, keyed only by client id and resource, so a test process that starts a
// second emulator for the same identity receives the first emulator's cached token; a shared key keeps that token
// valid. The emulator is a test double: anyone who knows the world can mint its tokens.
type signer struct {
	key *ecdsa.PrivateKey
	kid string
}

func newSigner(w *World) *signer {
	h := sha256.New()
	fmt.Fprintf(h, "tenantreport/emulator signing key v1\x00%d\x00%s\x00%s\x00%s", w.Seed,
		strings.ToLower(w.HomeTenantID), strings.ToLower(w.ManagedIdentity.ClientID), strings.ToLower(w.ManagedIdentity.ObjectID))
	sum := h.Sum(nil)
	for {
		// A 32-byte digest is a valid P-256 scalar unless it is zero or ≥ the group order (probability ~2⁻³²).
		key, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), sum)
		if err == nil {
			pub, _ := key.PublicKey.Bytes()
			d := sha256.Sum256(pub)
			return &signer{key: key, kid: base64.RawURLEncoding.EncodeToString(d[:20])}
		}
		next := sha256.Sum256(sum)
		sum = next[:]
	}
}

// sign returns a compact ES256 JWT with the emulator's key id.
func (s *signer) sign(claims jwt.MapClaims) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	t.Header["kid"] = s.kid
	return t.SignedString(s.key)
}

var (
	errMalformed = errors.New("malformed token")
	errSignature = errors.New("signature validation failed")
)

// verify checks a token's signature against the emulator key and returns its claims. It does not check times,
// issuer or audience: callers do, to report each failure the way the real service does.
func (s *signer) verify(token string) (jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if kid, _ := t.Header["kid"].(string); kid != s.kid {
			return nil, fmt.Errorf("unknown key id %q", kid)
		}
		return &s.key.PublicKey, nil
	}, jwt.WithValidMethods([]string{"ES256"}), jwt.WithoutClaimsValidation())
	switch {
	case err == nil:
		return claims, nil
	case errors.Is(err, jwt.ErrTokenMalformed):
		return nil, errMalformed
	default:
		// Keep the claims: callers name the issuer and subject of a token they reject.
		return claims, errSignature
	}
}

// jwk returns the public key as a JSON Web Key.
func (s *signer) jwk() map[string]string {
	pub, _ := s.key.PublicKey.Bytes() // 0x04 || X || Y
	return map[string]string{
		"kty": "EC",
		"use": "sig",
		"alg": "ES256",
		"kid": s.kid,
		"crv": "P-256",
		"x":   base64.RawURLEncoding.EncodeToString(pub[1:33]),
		"y":   base64.RawURLEncoding.EncodeToString(pub[33:]),
	}
}

// claimString returns a string claim or "".
func claimString(c jwt.MapClaims, name string) string {
	s, _ := c[name].(string)
	return s
}

// claimTime returns a NumericDate claim, and whether it was present and numeric.
func claimTime(c jwt.MapClaims, name string) (time.Time, bool) {
	switch v := c[name].(type) {
	case float64:
		return time.Unix(int64(v), 0), true
	case int64:
		return time.Unix(v, 0), true
	}
	return time.Time{}, false
}

// claimStrings returns a claim that is a string or a list of strings.
func claimStrings(c jwt.MapClaims, name string) []string {
	switch v := c[name].(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
