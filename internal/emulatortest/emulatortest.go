// Package emulatortest points the product's real identity clients at the
// emulator, for tests: one place for the setup every package repeats.
package emulatortest

import (
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/tenantreport/tenantreport/internal/emulator"
	"github.com/tenantreport/tenantreport/internal/tenantauth"
)

// GraphScope is the scope of the emulated Graph's tokens (the public cloud's).
const GraphScope = "https://graph.microsoft.com/.default"

// Start serves world until the test ends and returns it with a
// tenantauth.Source that exchanges the world's managed identity token for
// each tenant's, through the real azidentity clients. miClientID is the
// identity's client id ("" for the system-assigned one).
//
// azidentity reads the managed identity endpoint from the process
// environment only, so Start uses t.Setenv: tests that call it cannot run in
// parallel. Every client uses em.Client(), which refuses any host but the
// emulator's: a request to login.microsoftonline.com fails the test instead
// of leaving the machine.
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
