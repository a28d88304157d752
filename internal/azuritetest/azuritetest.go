// Package azuritetest connects tests to the Azurite storage emulator that
// scripts/with-azurite.sh starts (`make test` runs every test through it).
//
// Tests never use a fake store: a test that needs storage calls
// [ConnectionString], which skips the test when Azurite is not running,
// unless the environment says it must be (CI), and [Container] for a
// container of its own, so tests can run in parallel on one Azurite. A test
// of storage faults starts a private Azurite with [StartServer], which it
// can stop and start again.
//
// This package is for tests only, and, as a test harness, it is the one
// place outside main that reads the environment.
package azuritetest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// EnvStorage is the variable that holds the Azurite connection string.
const EnvStorage = "TENANTREPORT_TEST_STORAGE"

// EnvRequire, set to "1", makes a missing Azurite a test failure rather than
// a skip. A non-empty CI variable does the same.
const EnvRequire = "TENANTREPORT_REQUIRE_AZURITE"

// ConnectionString returns the Azurite connection string from
// TENANTREPORT_TEST_STORAGE. When it is unset, the test is skipped, or
// failed if CI is set or TENANTREPORT_REQUIRE_AZURITE=1, so that CI cannot
// pass by silently skipping the storage tests.
func ConnectionString(tb testing.TB) string {
	tb.Helper()
	if s := os.Getenv(EnvStorage); s != "" {
		return s
	}
	const msg = EnvStorage + " is not set: run the tests with `make test` or `bash scripts/with-azurite.sh go test ./...`, which start Azurite"
	if required() {
		tb.Fatal(msg + " (required because CI or " + EnvRequire + "=1 is set)")
	}
	tb.Skip(msg)
	return ""
}

func required() bool {
	return os.Getenv("CI") != "" || os.Getenv(EnvRequire) == "1"
}

// Container returns a container name that no other test uses: "t-", the
// test's name reduced to lowercase letters, digits and single hyphens, and a
// random suffix; 3 to 63 characters, as Azure requires. It does not create
// the container.
func Container(tb testing.TB) string {
	tb.Helper()
	var b strings.Builder
	b.WriteString("t-")
	hyphen := true // no leading hyphen after "t-", no doubled hyphens
	for _, r := range strings.ToLower(tb.Name()) {
		if b.Len() >= 2+40 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			hyphen = false
		} else if !hyphen {
			b.WriteByte('-')
			hyphen = true
		}
	}
	if !hyphen {
		b.WriteByte('-')
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:]) // never fails
	b.WriteString(hex.EncodeToString(rnd[:]))
	return b.String()
}
