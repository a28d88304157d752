package emulator

import "github.com/golang-jwt/jwt/v5"

// SignForTest signs claims with the key a Server for w uses, so tests can present assertions the managed-identity
// endpoint would never issue (expired, user tokens, another tenant's).
func SignForTest(w *World, claims map[string]any) (string, error) {
	return newSigner(w, 0).sign(jwt.MapClaims(claims))
}
