// Package emulatortest points the product's real identity clients at the
// emulator, for tests: one place for the setup every package repeats.
package emulatortest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/tenantreport/tenantreport/internal/emulator"
	"github.com/tenantreport/tenantreport/internal/tenantauth"
)

// GraphScope is the scope of the emulated Graph's tokens (the public cloud's).
const GraphScope = "https://graph.microsoft.com/.default"

// Start serves world until the test ends and returns it with a
// tenantauth.Source that exchanges the world's managed identity token for
// each tenant's, through the real azidentity clients. miClientID is the client
// id of the user-assigned identity the Source asks for, normally
// world.ManagedIdentity.ClientID; tenantauth refuses an empty one.
//
// azidentity reads the managed identity endpoint from the process
// environment only, so Start uses t.Setenv: tests that call it cannot run in
// parallel. Every client uses em.Client(), which refuses any host but the
// emulator's: a request to login.microsoftonline.com fails the test instead
// of leaving the machine.
//
// MSAL caches managed identity tokens for the whole process by client id, so
// a world whose identity another test (or another -count round) already used
// gets that token without asking the endpoint. Give such worlds
// [OwnIdentity].
func Start(t testing.TB, world *emulator.World, miClientID string) (*emulator.Running, *tenantauth.Source) {
	t.Helper()
	em, err := emulator.Start(world)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	for _, kv := range em.Env("unused") {
		if kv[0] == "IDENTITY_ENDPOINT" || kv[0] == "IDENTITY_HEADER" {
			t.Setenv(kv[0], kv[1])
		}
	}
	co := azcore.ClientOptions{Transport: em.Client()}
	mi, err := tenantauth.NewManagedIdentity(miClientID, co)
	if err != nil {
		t.Fatal(err)
	}
	return em, tenantauth.New(mi, tenantauth.Options{
		BridgeAppClientID: world.BridgeApp.ClientID,
		AuthorityHost:     em.URL + "/",
		ExchangeAudience:  "api://AzureADTokenExchange",
		ClientOptions:     co,
	})
}

// OwnIdentity gives world's user-assigned managed identity a client id of its
// own, a random one no other world in the process has, and returns world. The
// identity's object id, which the federated credential trusts, stays.
func OwnIdentity(world *emulator.World) *emulator.World {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	world.ManagedIdentity.ClientID = fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
	return world
}

// InMemory serves world from an in-memory emulator, for tests in a
// testing/synctest bubble where every wait is virtual, and returns it with
// credentials for its tenants: the bridge app, asserted by a managed
// identity token fetched from the emulator's identity endpoint. (Not
// through ManagedIdentityCredential, whose process-wide cache holds tokens
// from outside the bubble.) The credentials satisfy
// graphdata.CredentialSource; they explain no failure.
func InMemory(t testing.TB, world *emulator.World) (*emulator.Server, *Credentials) {
	t.Helper()
	s := emulator.New(world)
	return s, &Credentials{s: s, world: world}
}

// Credentials are the bridge app's credentials in each tenant of an
// in-memory emulator.
type Credentials struct {
	s     *emulator.Server
	world *emulator.World
}

// For returns the bridge app's credential in tenantID.
func (c *Credentials) For(tenantID string) (azcore.TokenCredential, error) {
	hc := &http.Client{Transport: c.s.Transport()}
	assertion := func(ctx context.Context) (string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet,
			emulator.InMemoryURL+"/msi/token?api-version=2019-08-01&resource=api://AzureADTokenExchange&client_id="+
				c.world.ManagedIdentity.ClientID, nil)
		req.Header.Set("X-IDENTITY-HEADER", c.s.IdentityHeader())
		resp, err := hc.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		return tok.AccessToken, json.NewDecoder(resp.Body).Decode(&tok)
	}
	return azidentity.NewClientAssertionCredential(tenantID, c.world.BridgeApp.ClientID, assertion,
		&azidentity.ClientAssertionCredentialOptions{
			ClientOptions: azcore.ClientOptions{
				Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: emulator.InMemoryURL + "/"},
				Transport: hc,
			},
			DisableInstanceDiscovery: true,
		})
}

// Diagnose returns err as it is.
func (c *Credentials) Diagnose(_ string, err error) error { return err }
