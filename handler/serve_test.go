package main

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tenantreport/tenantreport/internal/azuritetest"
	"github.com/tenantreport/tenantreport/internal/settings"
)

// TestServeWithoutRunQueue: host storage without a queue service (an
// identity-based AzureWebJobsStorage given only its blob URL) turns off
// on-demand runs, not the handler: the API says what is missing, and the
// timer and downloads go on.
func TestServeWithoutRunQueue(t *testing.T) {
	s, err := settings.Load(envOf(map[string]string{
		settings.KeyTenants:                      `[{"tenantId":"0c4a9f3e-1111-4a2b-9c3d-5e6f7a8b9c01"}]`,
		settings.KeyBridgeApp:                    "3a7b9c1d-2e4f-4a6b-8c0d-1e2f3a4b5c6d",
		settings.KeyMIClientID:                   "5e1f0c2a-7d3b-4e8f-9a6c-2b4d6f8a0c1e",
		settings.KeyStorage:                      azuritetest.ConnectionString(t),
		settings.KeyContainer:                    azuritetest.Container(t),
		settings.KeyWebJobs + "__blobServiceUri": "https://acct.blob.core.windows.net/",
	}))
	if err != nil {
		t.Fatal(err)
	}
	h, err := newServeHandler(t.Context(), s, http.DefaultTransport, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatalf("newServeHandler without a queue = %v, want a handler", err)
	}
	post := httptest.NewRecorder()
	h.ServeHTTP(post, httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/api/reports", nil))
	var reply struct{ Error struct{ Code string } }
	if err := json.Unmarshal(post.Body.Bytes(), &reply); err != nil || post.Code != http.StatusServiceUnavailable || reply.Error.Code != "queueUnavailable" {
		t.Errorf("POST /api/reports = %d %s, want 503 queueUnavailable", post.Code, post.Body)
	}
	list := httptest.NewRecorder()
	h.ServeHTTP(list, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/api/reports", nil))
	if list.Code != http.StatusOK {
		t.Errorf("GET /api/reports = %d %s, want 200", list.Code, list.Body)
	}
}
