package apiauth_test

import (
	"crypto/rsa"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tenantreport/tenantreport/internal/apiauth"
	"github.com/tenantreport/tenantreport/internal/emulator"
)

// fuzzNow is the fuzz validator's clock: the checked-in seed token
// (testdata/fuzz/FuzzAuthenticate/valid) is current then, and stays valid
// because the emulator derives its key from the world.
var fuzzNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fuzzValidator returns a Validator for an emulator of world(1) on a clock
// stopped at fuzzNow, and the key the emulator signs with, read without
// apiauth.
func fuzzValidator(tb testing.TB) (*apiauth.Validator, *rsa.PublicKey) {
	tb.Helper()
	em, err := emulator.Start(world(1))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { em.Close() })
	v := apiauth.New(tb.Context(), apiauth.Config{
		Authority: em.URL,
		TenantID:  home,
		Audiences: []string{apiURI, apiClientID},
		Client:    em.Client(),
		Now:       func() time.Time { return fuzzNow },
	})
	return v, emulatorKey(tb, em)
}

// FuzzAuthenticate feeds arbitrary Authorization values. Authenticate must
// not panic, must accept only tokens the emulator signed, and must refuse
// everything else with an *apiauth.Error whose challenge and description
// are printable ASCII and do not repeat the input.
func FuzzAuthenticate(f *testing.F) {
	v, pub := fuzzValidator(f)
	f.Add("")
	f.Add("Basic dXNlcjpwYXNz")
	f.Fuzz(func(t *testing.T, authorization string) {
		caller, err := v.Authenticate(t.Context(), authorization)
		if err == nil {
			// The token as Authenticate reads it: after the scheme and spaces.
			_, token, _ := strings.Cut(strings.Trim(authorization, " \t"), " ")
			token = strings.TrimLeft(token, " ")
			_, err := jwt.Parse(token, func(*jwt.Token) (any, error) { return pub, nil },
				jwt.WithValidMethods([]string{"RS256"}), jwt.WithoutClaimsValidation())
			if err != nil {
				t.Fatalf("Authenticate(%q) accepted a token the emulator did not sign: %v", authorization, err)
			}
			if caller.TenantID != home || caller.AppID == "" || caller.ObjectID == "" {
				t.Fatalf("Authenticate(%q) = %+v, want the home tenant and both ids", authorization, caller)
			}
			return
		}
		var ae *apiauth.Error
		if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
			t.Fatalf("Authenticate(%q) = %v, want a 401 *apiauth.Error", authorization, err)
		}
		ch := ae.Challenge()
		if !strings.HasPrefix(ch, "Bearer") || len(ch) > 320 {
			t.Fatalf("Challenge() = %q, want a Bearer challenge of at most 320 bytes", ch)
		}
		for _, s := range []string{ch, ae.Description} {
			if i := strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r > 0x7e }); i >= 0 {
				t.Fatalf("%q: byte %d is not printable ASCII", s, i)
			}
			if r := repeated(s, authorization, 24); r != "" {
				t.Fatalf("%q repeats %q of the input", s, r)
			}
		}
	})
}

// repeated returns the first n bytes of input found in s, or "". A
// description quotes a scheme of at most 20 letters; anything longer
// repeated would be the token.
func repeated(s, input string, n int) string {
	for i := 0; i+n <= len(input); i++ {
		if strings.Contains(s, input[i:i+n]) {
			return input[i : i+n]
		}
	}
	return ""
}

// TestFuzzSeeds checks that the checked-in seeds are what their names say,
// so the fuzzer starts from an accepted token and two near misses.
func TestFuzzSeeds(t *testing.T) {
	v, _ := fuzzValidator(t)
	for name, wantErr := range map[string]string{
		"valid":     "",
		"truncated": "the token's signature does not verify",
		"tampered":  "the token's signature does not verify",
	} {
		b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzAuthenticate", name))
		if err != nil {
			t.Fatal(err)
		}
		_, arg, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
		authorization, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(arg, "string("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_, err = v.Authenticate(t.Context(), authorization)
		if wantErr == "" && err != nil || wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)) {
			t.Errorf("Authenticate(seed %s) = %v, want %q", name, err, wantErr)
		}
	}
}
