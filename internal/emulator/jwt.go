package emulator

import (
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// signer holds a key that signs the tokens the emulator issues (managed identity, Graph and API): an RSA-2048 key
// used with RS256, the algorithm Entra's discovery documents list, published in the JWKS with a self-signed
// certificate the way Entra publishes its keys (kid = x5t = the certificate's SHA-1 thumbprint).
//
// The key is derived from the world's seed and home tenant, and the number of rotations before it, not drawn at
// random. MSAL caches managed-identity tokens process-wide, keyed only by client id and resource, so a test process
// that starts a second emulator for the same identity receives the first emulator's cached token; a shared key
// keeps that token valid. The emulator is a test double: anyone who knows the world can mint its tokens.
type signer struct {
	key  *rsa.PrivateKey
	cert []byte // DER of the self-signed certificate of key
	kid  string
}

// signers memoizes newSigner: deriving an RSA key means searching for two primes (tens to hundreds of
// milliseconds), and every Server of the same seed and home tenant derives the same ones. It only caches a pure
// function of its key.
var signers sync.Map // [32]byte → *signer

// newSigner returns the key of w after rotation rotations.
func newSigner(w *World, rotation int) *signer {
	material := fmt.Appendf(nil, "tenantreport/emulator signing key v2\x00%d\x00%s", w.Seed, strings.ToLower(w.HomeTenantID))
	if rotation > 0 {
		material = fmt.Appendf(material, "\x00%d", rotation) // the first key stays what it was before rotation existed
	}
	seed := sha256.Sum256(material)
	if s, ok := signers.Load(seed); ok {
		return s.(*signer)
	}
	key := deriveRSAKey(seed)
	// A fixed template and PKCS #1 v1.5 (deterministic) make the certificate, and so the key id, a function of
	// the key too.
	tmpl := &x509.Certificate{
		SerialNumber:          new(big.Int).SetBytes(seed[:16]),
		Subject:               pkix.Name{CommonName: "tenantreport emulator token signing"},
		NotBefore:             time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	cert, err := x509.CreateCertificate(nil, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic("emulator: self-signed signing certificate: " + err.Error()) // a fixed, valid template: cannot happen
	}
	thumb := sha1.Sum(cert)
	s, _ := signers.LoadOrStore(seed, &signer{key: key, cert: cert, kid: base64.RawURLEncoding.EncodeToString(thumb[:])})
	return s.(*signer)
}

// deriveRSAKey returns the RSA-2048 key (e = 65537) whose primes are the first two found in a ChaCha8 stream seeded
// with seed. crypto/rsa.GenerateKey cannot do this: since Go 1.26 it ignores the reader it is given.
func deriveRSAKey(seed [32]byte) *rsa.PrivateKey {
	stream := rand.NewChaCha8(seed)
	prime := func() *big.Int {
		b := make([]byte, 128)
		for {
			_, _ = stream.Read(b)
			b[0] |= 0xc0 // the top two bits make p·q exactly 2048 bits long
			b[len(b)-1] |= 1
			if p := new(big.Int).SetBytes(b); p.ProbablyPrime(20) {
				return p
			}
		}
	}
	one, e := big.NewInt(1), big.NewInt(65537)
	for {
		p, q := prime(), prime()
		p1, q1 := new(big.Int).Sub(p, one), new(big.Int).Sub(q, one)
		lambda := new(big.Int).Mul(p1, q1)
		lambda.Div(lambda, new(big.Int).GCD(nil, nil, p1, q1))
		d := new(big.Int).ModInverse(e, lambda)
		if d == nil {
			continue // e divides p-1 or q-1
		}
		key := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: new(big.Int).Mul(p, q), E: 65537}, D: d, Primes: []*big.Int{p, q}}
		key.Precompute()
		if key.Validate() == nil {
			return key
		}
	}
}

// keyring is the signing keys the JWKS publishes, newest first; the first signs every new token. A keyring never
// changes: [Server.RotateKey] replaces it.
type keyring struct {
	rotation int       // how many times the key has been rotated
	keys     []*signer // at most publishedKeys
}

// publishedKeys is how many keys the JWKS lists: after a rotation, the new key and the previous one, so that
// tokens signed before the rotation stay valid until they expire. Entra also publishes several keys at once.
const publishedKeys = 2

// rotated returns the keyring after one more rotation of w's key.
func (k *keyring) rotated(w *World) *keyring {
	keys := append([]*signer{newSigner(w, k.rotation+1)}, k.keys...)
	return &keyring{rotation: k.rotation + 1, keys: keys[:min(len(keys), publishedKeys)]}
}

// SignToken is a test hook for token validators: it signs claims, whatever they are, RS256 with the key the JWKS
// currently publishes first, with its kid in the header (and x5t when claims["ver"] is "1.0", as Entra's v1.0 tokens
// have), so a test can present tokens Entra issues in flows the emulator does not serve: expired or not yet valid
// ones, a public client's, a delegated one. It is safe to call concurrently with serving and [Server.RotateKey].
func (s *Server) SignToken(claims map[string]any) (string, error) {
	return s.state().keys.Load().sign(jwt.MapClaims(claims))
}

// RotateKey is a test hook for token validators: it replaces the signing key with a new one, derived from the
// world's seed and the number of rotations so far, so the same world rotates to the same keys in every run. From
// then on the JWKS publishes the new key first and the previous one after it, new tokens are signed with the new
// key, and everything the emulator verifies (client assertions, Graph bearer tokens) accepts a token signed by
// either; a key rotated out twice is no longer published or accepted. Deriving a key takes a tenth of a second or
// so, once per process for each seed, home tenant and rotation. It is safe to call concurrently with serving.
func (s *Server) RotateKey() {
	st := s.state()
	st.rotateMu.Lock()
	defer st.rotateMu.Unlock()
	st.keys.Store(st.keys.Load().rotated(&s.world))
}

// sign signs with the newest key.
func (k *keyring) sign(claims jwt.MapClaims) (string, error) { return k.keys[0].sign(claims) }

// jwks returns the published keys, newest first.
func (k *keyring) jwks() []jwk {
	out := make([]jwk, len(k.keys))
	for i, s := range k.keys {
		out[i] = s.jwk()
	}
	return out
}

// sign returns a compact RS256 JWT with the key's id, as Entra signs its tokens.
func (s *signer) sign(claims jwt.MapClaims) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = s.kid
	if claims["ver"] == "1.0" {
		t.Header["x5t"] = s.kid // v1.0 tokens repeat the key id as x5t
	}
	return t.SignedString(s.key)
}

var (
	errMalformed = errors.New("malformed token")
	errSignature = errors.New("signature validation failed")
)

// verify checks a token's signature against the published key its kid names and returns its claims. It does not
// check times, issuer or audience: callers do, to report each failure the way the real service does.
func (k *keyring) verify(token string) (jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		for _, s := range k.keys {
			if s.kid == kid {
				return &s.key.PublicKey, nil
			}
		}
		return nil, fmt.Errorf("unknown key id %q", kid)
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithoutClaimsValidation())
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

// jwk is a key of the JWKS, in the members Entra's v2.0 keys document has.
type jwk struct {
	Kty    string   `json:"kty"`
	Use    string   `json:"use"`
	Kid    string   `json:"kid"`
	X5t    string   `json:"x5t"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X5c    []string `json:"x5c"`
	Issuer string   `json:"issuer"`
}

// jwk returns the public key as Entra publishes its signing keys. The issuer is the template Entra's keys carry
// ({tenantid} stands for the issuing tenant), on the host in the iss of the managed identity's tokens.
func (s *signer) jwk() jwk {
	return jwk{
		Kty:    "RSA",
		Use:    "sig",
		Kid:    s.kid,
		X5t:    s.kid,
		N:      base64.RawURLEncoding.EncodeToString(s.key.N.Bytes()),
		E:      base64.RawURLEncoding.EncodeToString(big.NewInt(int64(s.key.E)).Bytes()),
		X5c:    []string{base64.StdEncoding.EncodeToString(s.cert)},
		Issuer: entraIssuer("{tenantid}"),
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
