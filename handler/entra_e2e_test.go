package main

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/tenantreport/tenantreport/internal/azuritetest"
	"github.com/tenantreport/tenantreport/internal/emulator"
	"github.com/tenantreport/tenantreport/internal/reportstore"
	"github.com/tenantreport/tenantreport/internal/run"
	"github.com/tenantreport/tenantreport/internal/runtest"
)

// The API app and callers of the end-to-end test of the second design: a
// customer's automation in its own tenant, and the MSP's in the home one.
const (
	e2eAPI = "6e0d7c2b-4a1f-4d3e-9b8c-1a2b3c4d5e6f"

	contosoCallerApp  = "3c1d2e3f-0a1b-4c2d-8e3f-4a5b6c7d8e01"
	contosoCallerMI   = "3c1d2e3f-0a1b-4c2d-8e3f-4a5b6c7d8e02"
	contosoCallerOID  = "3c1d2e3f-0a1b-4c2d-8e3f-4a5b6c7d8e03"
	mspCallerApp      = "4d2e3f40-1b2c-4d3e-9f40-5b6c7d8e9f01"
	mspCallerMI       = "4d2e3f40-1b2c-4d3e-9f40-5b6c7d8e9f02"
	mspCallerOID      = "4d2e3f40-1b2c-4d3e-9f40-5b6c7d8e9f03"
	fabrikamCallerApp = "5e3f4051-2c3d-4e4f-8051-6c7d8e9fa001"
	fabrikamCallerMI  = "5e3f4051-2c3d-4e4f-8051-6c7d8e9fa002"
)

// caller is a workload in tenantID with its own managed identity and a
// client app whose federated credential trusts it.
func caller(name, tenantID, app, mi, miOID string, roles ...string) emulator.Caller {
	return emulator.Caller{Name: name, TenantID: tenantID,
		ManagedIdentity: emulator.ManagedIdentity{ClientID: mi, ObjectID: miOID},
		App: emulator.App{ClientID: app, FederatedCredentials: []emulator.FIC{{Name: "automation",
			Issuer: "https://login.microsoftonline.com/" + tenantID + "/v2.0", Subject: miOID,
			Audiences: []string{"api://AzureADTokenExchange"}}}},
		Roles: roles}
}

// TestEntraCallersEndToEnd runs the second source design through the real
// binaries: serve writes a run's workbooks to Azurite; a caller in Contoso's
// tenant, with its own managed identity and federated credential, gets a
// token for tenantreport's API from the home tenant and downloads Contoso's
// workbook with `handler reports --api`, and is refused Fabrikam's and the
// combined one; the MSP's Reports.Read.All automation gets everything.
func TestEntraCallersEndToEnd(t *testing.T) {
	conn, container := azuritetest.ConnectionString(t), azuritetest.Container(t)
	world := emulator.SampleWorld()
	contoso, fabrikam := world.Tenants[0].ID, world.Tenants[1].ID
	world.API = &emulator.API{ClientID: e2eAPI, AppRoles: []string{"Reports.Read.All", "Reports.Read.Tenant", "Reports.Run"},
		AssignmentRequired: true, AccessTokenVersion: 2}
	world.Callers = []emulator.Caller{
		caller("contoso-automation", contoso, contosoCallerApp, contosoCallerMI, "3c1d2e3f-0a1b-4c2d-8e3f-4a5b6c7d8e04", "Reports.Read.Tenant"),
		caller("msp-automation", world.HomeTenantID, mspCallerApp, mspCallerMI, "4d2e3f40-1b2c-4d3e-9f40-5b6c7d8e9f04", "Reports.Read.All"),
	}
	// Fabrikam's automation was given a service principal but no role yet.
	world.Callers = append(world.Callers, caller("fabrikam-automation", fabrikam, fabrikamCallerApp, fabrikamCallerMI,
		"5e3f4051-2c3d-4e4f-8051-6c7d8e9fa004"))
	world.Callers[0].ServicePrincipalID = contosoCallerOID
	world.Callers[1].ServicePrincipalID = mspCallerOID
	em, err := emulator.Start(world)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	// The emulator's settings map each caller to its own tenant: Contoso's
	// automation to Contoso; the MSP's, in the home tenant, to none.
	env := append(emulatorEnv(t, em), "AzureWebJobsStorage="+conn, "REPORT_CONTAINER="+container)
	h := startHandler(t, env)
	if resp, reply, err := h.post(t.Context(), "/ReportTimer", timerInvocation); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /ReportTimer = %v %s\n%s", err, reply, h.logs())
	}
	store, err := reportstore.NewFromConnectionString(conn, container, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := run.Latest(t.Context(), store)
	if err != nil {
		t.Fatal(err)
	}

	// reports runs the CLI as the caller whose managed identity is mi.
	reports := func(t *testing.T, app, mi string, args ...string) (string, error) {
		t.Helper()
		args = append([]string{"reports"}, args...)
		args = append(args, "--api", h.url+"/api/entra/reports", "--scope", "api://"+e2eAPI+"/.default",
			"--api-tenant", world.HomeTenantID, "--client-id", app, "--identity", mi)
		cmd := exec.CommandContext(t.Context(), handlerBinary(t), args...)
		cmd.Env = append(emulatorEnv(t, em), "HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "PATH="+os.Getenv("PATH"))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	dir := t.TempDir()
	out, err := reports(t, contosoCallerApp, contosoCallerMI, "download", "latest", "--tenant", contoso, "-o", dir)
	if err != nil {
		t.Fatalf("Contoso's caller downloading its workbook: %v\n%s\nhandler logs:\n%s", err, out, h.logs())
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.xlsx"))
	if len(files) != 1 || !strings.HasSuffix(files[0], "-Contoso.xlsx") {
		t.Fatalf("downloaded %v, want tenantreport-<date>-<runId>-Contoso.xlsx", files)
	}
	got, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	want := runtest.Blob(t, store, tenantWorkbook(t, rec, contoso))
	if !bytes.Equal(got, want) {
		t.Errorf("the downloaded workbook (%d bytes) differs from the stored one (%d bytes)", len(got), len(want))
	}
	f, err := excelize.OpenReader(bytes.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if summary, _ := f.GetRows("Summary"); len(summary) < 2 || !strings.Contains(strings.Join(summary[1], " "), "Contoso") ||
		strings.Contains(strings.Join(flatten(summary), " "), "Fabrikam") {
		t.Errorf("Contoso's Summary = %v, want Contoso's row alone", summary)
	}

	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"Fabrikam's workbook", []string{"download", "latest", "--tenant", fabrikam, "-o", dir}, "403 Forbidden: caller " + contosoCallerApp + " may not read tenant " + fabrikam},
		{"the combined workbook", []string{"download", rec.RunID, "-o", dir}, "403 Forbidden: the combined workbook holds every tenant and needs the app role Reports.Read.All"},
	} {
		out, err := reports(t, contosoCallerApp, contosoCallerMI, c.args...)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("Contoso's caller asking for %s: %v\n%s\nwant a failure saying %q", c.name, err, out, c.want)
		}
	}
	if out, err := reports(t, contosoCallerApp, contosoCallerMI, "list", "--json"); err != nil || strings.Contains(out, "Fabrikam") ||
		!strings.Contains(out, rec.RunID) {
		t.Errorf("Contoso's caller listing: %v\n%s\nwant the run, without other tenants", err, out)
	}

	// A caller without a role gets no token, and is told who can fix that.
	if out, err := reports(t, fabrikamCallerApp, fabrikamCallerMI, "list"); err == nil ||
		!strings.Contains(out, "AADSTS501051") || !strings.Contains(out, "the client app holds no app role of the API") {
		t.Errorf("a caller without a role: %v\n%s\nwant AADSTS501051 explained", err, out)
	}

	// The MSP's own automation reads everything.
	mspDir := t.TempDir()
	for _, args := range [][]string{
		{"download", rec.RunID, "-o", filepath.Join(mspDir, "all.xlsx")},
		{"download", rec.RunID, "--tenant", fabrikam, "-o", filepath.Join(mspDir, "fabrikam.xlsx")},
	} {
		if out, err := reports(t, mspCallerApp, mspCallerMI, args...); err != nil {
			t.Errorf("the MSP's automation: reports %v: %v\n%s", args, err, out)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(mspDir, "all.xlsx")); !bytes.Equal(b, runtest.Blob(t, store, rec.Report)) {
		t.Errorf("the MSP's combined workbook differs from the stored one")
	}

	if err := h.stop(t); err != nil {
		t.Errorf("handler after SIGTERM: %v", err)
	}
	logs := h.logs()
	if !strings.Contains(logs, "msg=\"api access\"") || !strings.Contains(logs, "caller_app_id="+contosoCallerApp) ||
		!strings.Contains(logs, "tenant_id="+fabrikam) || !strings.Contains(logs, "status=403") {
		t.Errorf("the handler's access log lacks Contoso's refused request:\n%s", logs)
	}
	if strings.Contains(logs, "eyJ") {
		t.Errorf("the handler's logs hold a token:\n%s", logs)
	}
}

// tenantWorkbook is the name of tenant id's workbook in rec.
func tenantWorkbook(t *testing.T, rec run.Record, id string) string {
	t.Helper()
	tr, ok := rec.Tenant(id)
	if !ok || tr.Report == "" {
		t.Fatalf("run %s has no workbook of tenant %s", rec.RunID, id)
	}
	return tr.Report
}

func flatten(rows [][]string) []string {
	var cells []string
	for _, r := range rows {
		cells = append(cells, r...)
	}
	return cells
}
