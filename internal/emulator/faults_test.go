package emulator_test

import (
	"context"
	"errors"
	"net/http"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	msgraphgocore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/tenantreport/tenantreport/internal/emulator"
)

// TestFaults injects each fault into Contoso and reads /organization through msgraph-sdk-go.
func TestFaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults emulator.Faults
		check  func(t *testing.T, err error, elapsed time.Duration, m emulator.Metrics, tid string)
	}{
		{"server errors", emulator.Faults{ServerErrors: 1}, func(t *testing.T, err error, _ time.Duration, m emulator.Metrics, tid string) {
			var oe *odataerrors.ODataError
			if !errors.As(err, &oe) || oe.ResponseStatusCode < 500 {
				t.Errorf("err = %v, want a 5xx ODataError", err)
			}
			if m.Faults["5xx "+tid] == 0 {
				t.Errorf("Faults = %v", m.Faults)
			}
		}},
		{"connection resets", emulator.Faults{Resets: 1}, func(t *testing.T, err error, _ time.Duration, m emulator.Metrics, tid string) {
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("err = %v, want ECONNRESET", err)
			}
			if m.Faults["reset "+tid] != 1 {
				t.Errorf("Faults = %v", m.Faults)
			}
		}},
		{"malformed JSON", emulator.Faults{Malformed: 1}, func(t *testing.T, err error, _ time.Duration, m emulator.Metrics, tid string) {
			var oe *odataerrors.ODataError
			if err == nil || errors.As(err, &oe) {
				t.Errorf("err = %v, want a decoding error", err)
			}
			if m.Faults["malformed "+tid] != 1 {
				t.Errorf("Faults = %v", m.Faults)
			}
		}},
		{"slow responses", emulator.Faults{Slow: 1, SlowBy: emulator.Duration(10 * time.Minute)}, func(t *testing.T, err error, el time.Duration, _ emulator.Metrics, _ string) {
			if !errors.Is(err, context.DeadlineExceeded) || el != 10*time.Second {
				t.Errorf("err = %v after %v, want the 10 s deadline", err, el)
			}
		}},
		{"tenant outage", emulator.Faults{Outage: true}, func(t *testing.T, err error, _ time.Duration, m emulator.Metrics, tid string) {
			var oe *odataerrors.ODataError
			if !errors.As(err, &oe) || oe.ResponseStatusCode != 503 || *oe.GetErrorEscaped().GetCode() != "serviceNotAvailable" {
				t.Errorf("err = %v, want 503 serviceNotAvailable", err)
			}
			if m.Faults["outage "+tid] != 4 {
				t.Errorf("Faults = %v, want 4 outages (the request and 3 retries)", m.Faults)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := emulator.SampleWorld()
				w.Tenants[0].Faults = &tc.faults
				w.TimeScale = 0.1 // Retry-After 1 s instead of 10 s on 503s
				m := newMem(t, w)
				g := m.graph(w.Tenants[0].ID)
				if _, err := m.credential(w.Tenants[0].ID).GetToken(t.Context(), tokenOptions()); err != nil {
					t.Fatal(err) // faults are Graph's; the token endpoint still works
				}
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				defer cancel()
				start := time.Now()
				_, err := g.Organization().Get(ctx, nil)
				tc.check(t, err, time.Since(start), m.s.Metrics(), w.Tenants[0].ID)
			})
		})
	}
}

// TestLatency: a fixed latency delays each response by exactly that much virtual time, scaled by TimeScale; a
// distribution stays within reason and replays identically.
func TestLatency(t *testing.T) {
	for _, tc := range []struct {
		scale float64
		want  time.Duration
	}{{1, 250 * time.Millisecond}, {0.1, 25 * time.Millisecond}} {
		synctest.Test(t, func(t *testing.T) {
			w := emulator.SampleWorld()
			w.TimeScale = tc.scale
			w.Latency = &emulator.Latency{Fixed: emulator.Duration(250 * time.Millisecond)}
			m := newMem(t, w)
			g := m.graph(w.Tenants[0].ID)
			if _, err := m.credential(w.Tenants[0].ID).GetToken(t.Context(), tokenOptions()); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if _, err := g.Organization().Get(t.Context(), nil); err != nil {
				t.Fatal(err)
			}
			if el := time.Since(start); el != tc.want {
				t.Errorf("scale %v: elapsed %v, want %v", tc.scale, el, tc.want)
			}
		})
	}
	run := func() []time.Duration {
		var out []time.Duration
		synctest.Test(t, func(t *testing.T) {
			w := emulator.SampleWorld()
			w.Latency = &emulator.Latency{Median: emulator.Duration(100 * time.Millisecond), P99: emulator.Duration(time.Second)}
			m := newMem(t, w)
			g := m.graph(w.Tenants[0].ID)
			for range 20 {
				start := time.Now()
				if _, err := g.Domains().Get(t.Context(), nil); err != nil {
					t.Fatal(err)
				}
				out = append(out, time.Since(start))
			}
		})
		return out
	}
	a, b := run(), run()
	for i := range a {
		if a[i] != b[i] || a[i] < time.Millisecond || a[i] > 10*time.Second {
			t.Errorf("latency %d: %v then %v", i, a[i], b[i])
		}
	}
}

// TestBatch sends a $batch with msgraph-sdk-go-core: inner requests are served, authorized and throttled one by
// one; an inner 429 comes back inside the batch.
func TestBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := emulator.SampleWorld()
		w.Tenants[0].Grants = []string{"Organization.Read.All", "User.Read.All", "Policy.Read.All"}
		m := newMem(t, w)
		g := m.graph(w.Tenants[0].ID)
		ctx := t.Context()
		batch := msgraphgocore.NewBatchRequest(g.GetAdapter())
		add := func(ri *abstractions.RequestInformation, err error) string {
			if err != nil {
				t.Fatal(err)
			}
			item, err := batch.AddBatchRequestStep(*ri)
			if err != nil {
				t.Fatal(err)
			}
			return *item.GetId()
		}
		users := add(g.Users().ToGetRequestInformation(ctx, &signInFree))
		org := add(g.Organization().ToGetRequestInformation(ctx, nil))
		devices := add(g.Devices().ToGetRequestInformation(ctx, nil)) // Device.Read.All not granted
		ca1 := add(g.Identity().ConditionalAccess().Policies().ToGetRequestInformation(ctx, nil))
		ca2 := add(g.Identity().ConditionalAccess().Policies().ToGetRequestInformation(ctx, nil)) // over 1 per second
		resp, err := batch.Send(ctx, g.GetAdapter())
		if err != nil {
			t.Fatalf("batch.Send: %v", err)
		}
		us, err := msgraphgocore.GetBatchResponseById[models.UserCollectionResponseable](resp, users, models.CreateUserCollectionResponseFromDiscriminatorValue)
		if err != nil || len(us.GetValue()) != 5 || us.GetOdataNextLink() == nil {
			t.Errorf("users in batch: %v, want a page of 5 with a nextLink", err)
		}
		if o, err := msgraphgocore.GetBatchResponseById[models.OrganizationCollectionResponseable](resp, org, models.CreateOrganizationCollectionResponseFromDiscriminatorValue); err != nil || *o.GetValue()[0].GetDisplayName() != "Contoso" {
			t.Errorf("organization in batch: %v", err)
		}
		codes := resp.GetStatusCodes()
		if codes[devices] != 403 || codes[ca1] != 200 || codes[ca2] != 429 {
			t.Errorf("status codes %v; want devices 403, first CA 200, second CA 429", codes)
		}
		if h := resp.GetResponseById(ca2).GetHeaders(); h["X-Ms-Throttle-Scope"] == "" || h["Retry-After"] != "" {
			t.Errorf("inner 429 headers %v: want x-ms-throttle-scope and no Retry-After (Conditional Access)", h)
		}
		met := m.s.Metrics()
		if met.Requests["graph /$batch "+w.Tenants[0].ID] != 1 || met.Requests["graph /identity/conditionalaccess/policies "+w.Tenants[0].ID] != 2 {
			t.Errorf("Requests = %v", met.Requests)
		}
	})
}

var signInFree = usersTop5()

func usersTop5() users.UsersRequestBuilderGetRequestConfiguration {
	return users.UsersRequestBuilderGetRequestConfiguration{QueryParameters: &users.UsersRequestBuilderGetQueryParameters{
		Select: []string{"id", "displayName"}, Top: ptr(int32(5))}}
}

// TestOutageRetryAfterScaled: a 503's Retry-After of 10 s is, in a world at time scale 0.01, 100 ms, said exactly
// in x-ms-retry-after-ms as on a 429 (Retry-After cannot say less than 1 s); at scale 1 only Retry-After is sent.
func TestOutageRetryAfterScaled(t *testing.T) {
	for _, tc := range []struct {
		scale            float64
		retryAfter, msec string
	}{{1, "10", ""}, {0.01, "1", "100"}} {
		synctest.Test(t, func(t *testing.T) {
			w := emulator.SampleWorld()
			w.TimeScale = tc.scale
			w.Tenants[0].Faults = &emulator.Faults{Outage: true}
			m := newMem(t, w)
			tok, err := m.credential(w.Tenants[0].ID).GetToken(t.Context(), tokenOptions())
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, emulator.InMemoryURL+"/v1.0/organization", nil)
			req.Header.Set("Authorization", "Bearer "+tok.Token)
			resp, err := m.s.Transport().RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != tc.retryAfter ||
				resp.Header.Get("x-ms-retry-after-ms") != tc.msec {
				t.Errorf("scale %v: %d Retry-After %q x-ms-retry-after-ms %q, want 503, %q, %q", tc.scale, resp.StatusCode,
					resp.Header.Get("Retry-After"), resp.Header.Get("x-ms-retry-after-ms"), tc.retryAfter, tc.msec)
			}
		})
	}
}
