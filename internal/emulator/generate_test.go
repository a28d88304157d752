package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// worldShape is what a benchmark world promises.
type worldShape struct {
	tenants, users, premium, devices, maxUsers int
	// signInPages is the number of signInActivity pages (500 users each) of the premium tenants, and signInTime
	// how long the signin app budget (10 requests per minute, a burst of 10) takes to serve them, time-scaled.
	signInPages int
	signInTime  time.Duration
}

func shapeOf(w *World) worldShape {
	var s worldShape
	for i := range w.Tenants {
		t := newTenant(w, i)
		s.tenants++
		s.users += t.Users
		s.devices += t.Devices
		s.maxUsers = max(s.maxUsers, t.Users)
		if t.premium {
			s.premium++
			s.signInPages += (t.Users + signInPageSize - 1) / signInPageSize
		}
	}
	perMinute := float64(time.Minute) * w.scale() / 10
	s.signInTime = time.Duration(float64(max(0, s.signInPages-10)) * perMinute)
	return s
}

func near(got, want int, tolerance float64) bool {
	return math.Abs(float64(got-want)) <= tolerance*float64(want)
}

// TestBenchWorlds checks the scheduling benchmark's worlds: the stated tenant count, user total (±5%) and mix, and
// that two loads are equal.
func TestBenchWorlds(t *testing.T) {
	for _, tc := range []struct {
		name           string
		tenants, users int
		check          func(t *testing.T, w *World, s worldShape)
	}{
		{"latency200", 200, 3_600, func(t *testing.T, w *World, s worldShape) {
			if s.premium != 0 || w.scale() != 1 || w.Latency == nil || time.Duration(w.Latency.Median) != 120*time.Millisecond ||
				time.Duration(w.Latency.P99) != 400*time.Millisecond || w.Faults != nil || w.Throttling != nil {
				t.Errorf("latency200: %d premium, scale %v, latency %+v, faults %+v, throttling %+v; want no premium, "+
					"scale 1, median 120ms p99 400ms, no faults, default budgets", s.premium, w.scale(), w.Latency, w.Faults, w.Throttling)
			}
			for _, tn := range w.Tenants {
				premium, skus := tn.licenses()
				if tn.Users < 5 || tn.Users > 45 || premium || len(skus) != 1 || premiumSKU(skus[0].Sku) ||
					tn.Devices < 1 || tn.Apps < 1 || tn.ConditionalAccessPolicies < 1 || tn.Faults != nil {
					t.Errorf("latency200: tenant %+v, want 5–45 users, one SKU without Entra ID P1/P2, devices, apps and policies", tn)
				}
			}
		}},
		{"msp1000", 1000, 1_500_000, func(t *testing.T, w *World, s worldShape) {
			if share := float64(s.premium) / float64(s.tenants); share < 0.55 || share > 0.65 {
				t.Errorf("msp1000: %.1f%% premium, want about 60%%", 100*share)
			}
			if r := float64(s.devices) / float64(s.users); r < 0.55 || r > 0.65 {
				t.Errorf("msp1000: %.2f devices per user, want about 0.6", r)
			}
			if s.maxUsers < 50_000 || s.maxUsers > 60_000 {
				t.Errorf("msp1000: largest tenant %d users, want 50,000–60,000", s.maxUsers)
			}
			if s.signInTime < 2*time.Minute || s.signInTime > 4*time.Minute || w.Faults != nil || w.Throttling != nil {
				t.Errorf("msp1000: signInActivity takes %v at scale %v, want 2–4 minutes; faults %+v, throttling %+v",
					s.signInTime, w.scale(), w.Faults, w.Throttling)
			}
			sizes := map[string]int{}
			for _, tn := range w.Tenants {
				switch {
				case tn.Users < 300:
					sizes["small"]++
				case tn.Users < 5_000:
					sizes["medium"]++
				case tn.Users < 20_000:
					sizes["large"]++
				default:
					sizes["enterprise"]++
				}
			}
			if sizes["small"] < 500 || sizes["enterprise"] < 5 || sizes["enterprise"] > 20 {
				t.Errorf("msp1000: sizes %v, want mostly small tenants and a few of 20,000–60,000 users", sizes)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := OpenWorld(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Validate(); err != nil {
				t.Fatal(err)
			}
			again, err := OpenWorld(tc.name)
			if err != nil || !reflect.DeepEqual(w, again) {
				t.Errorf("OpenWorld(%s) twice: %v, equal %v", tc.name, err, reflect.DeepEqual(w, again))
			}
			s := shapeOf(w)
			t.Logf("%s: %d tenants, %d users, %d premium, %d devices, largest %d users, %d signInActivity pages "+
				"taking %v at scale %v", tc.name, s.tenants, s.users, s.premium, s.devices, s.maxUsers, s.signInPages,
				s.signInTime, w.scale())
			if s.tenants != tc.tenants || !near(s.users, tc.users, 0.05) || len(w.Generate) != 0 {
				t.Errorf("%s: %d tenants, %d users, %d groups left; want %d tenants, %d users ±5%%, generate expanded",
					tc.name, s.tenants, s.users, len(w.Generate), tc.tenants, tc.users)
			}
			tc.check(t, w, s)
		})
	}
}

// genWorld is a valid world with one generated group.
func genWorld(g TenantGroup) *World {
	w := SampleWorld()
	w.Generate = []TenantGroup{g}
	return w
}

func TestGenerate(t *testing.T) {
	g := TenantGroup{Count: 12, NamePrefix: "Shop", Users: IntRange{10, 5000}, PremiumRatio: 0.25,
		GuestRatio: RatioRange{0, 0.2}, Admins: IntRange{1, 3}, DevicesPerUser: 0.5, Apps: IntRange{0, 9},
		ConditionalAccessPolicies: IntRange{2, 2}, Latency: &Latency{Fixed: Duration(time.Millisecond)}}
	w := genWorld(g)
	if err := w.Expand(); err != nil {
		t.Fatal(err)
	}
	if err := w.Validate(); err != nil {
		t.Fatal(err)
	}
	gen := w.Tenants[3:]
	premium := 0
	for i, tn := range gen {
		if want := []string{"Shop 01", "Shop 12"}; i == 0 && tn.DisplayName != want[0] || i == 11 && tn.DisplayName != want[1] {
			t.Errorf("tenant %d is %q", i, tn.DisplayName)
		}
		if tn.Users < 10 || tn.Users > 5000 || tn.ConditionalAccessPolicies != 2 || tn.Admins < 1 || tn.Admins > 3 ||
			tn.GuestRatio > 0.2 || tn.Seed == 0 || tn.Latency == nil || tn.Latency == g.Latency {
			t.Errorf("generated %+v out of the group's ranges", tn)
		}
		if *tn.Premium {
			premium++
		}
	}
	if len(gen) != 12 || premium != 3 || w.Generate != nil {
		t.Errorf("Expand: %d tenants, %d premium, Generate %v; want 12, 3, nil", len(gen), premium, w.Generate)
	}
	if err := w.Expand(); err != nil || len(w.Tenants) != 15 {
		t.Errorf("second Expand: %v, %d tenants; want nothing to do", err, len(w.Tenants))
	}

	// Ids, seeds and names do not depend on the group's size or position; sizes are redistributed.
	g2 := g
	g2.Count = 20
	w2 := SampleWorld()
	w2.Generate = []TenantGroup{{Count: 1, NamePrefix: "Other", Users: IntRange{1, 1}}, g2}
	if err := w2.Expand(); err != nil {
		t.Fatal(err)
	}
	for i, tn := range gen {
		if got := w2.Tenants[4+i]; got.ID != tn.ID || got.Seed != tn.Seed || got.DisplayName != tn.DisplayName {
			t.Errorf("tenant %d of a larger group: %s %d %q, want %s %d %q", i, got.ID, got.Seed, got.DisplayName, tn.ID, tn.Seed, tn.DisplayName)
		}
	}
	// Another world seed, other ids.
	w3 := genWorld(g)
	w3.Seed++
	if err := w3.Expand(); err != nil || w3.Tenants[3].ID == gen[0].ID {
		t.Errorf("another seed: %v, same id %s", err, gen[0].ID)
	}

	// New expands a copy; the World passed in keeps its groups, and its generated tenants are served.
	w4 := genWorld(g)
	s := New(w4)
	if len(w4.Tenants) != 3 || len(w4.Generate) != 1 || len(s.world.Tenants) != 15 {
		t.Fatalf("New: caller's world %d tenants %d groups, server's %d tenants", len(w4.Tenants), len(w4.Generate), len(s.world.Tenants))
	}
	id := s.world.Tenants[14].ID
	tok := graphToken(t, s, w4, id)
	resp, body := countGet(t, s, "/v1.0/users/$count", tok, "eventual")
	if want := s.world.Tenants[14].Users; resp.StatusCode != 200 || body != strconv.Itoa(want) {
		t.Errorf("generated tenant /users/$count = %d %q, want %d", resp.StatusCode, body, want)
	}
}

func TestGenerateFieldErrors(t *testing.T) {
	valid := TenantGroup{Count: 2, NamePrefix: "Shop", Users: IntRange{5, 50}}
	for _, tc := range []struct {
		name  string
		edit  func(g *TenantGroup, w *World)
		field string
		value string
		err   error
	}{
		{"count", func(g *TenantGroup, _ *World) { g.Count = 0 }, "generate[0].count", "0", ErrOutOfRange},
		{"prefix", func(g *TenantGroup, _ *World) { g.NamePrefix = " " }, "generate[0].namePrefix", "", ErrMissing},
		{"users min", func(g *TenantGroup, _ *World) { g.Users.Min = 0 }, "generate[0].users.min", "0", ErrOutOfRange},
		{"users max", func(g *TenantGroup, _ *World) { g.Users.Max = 4 }, "generate[0].users.max", "4", ErrOutOfRange},
		{"apps", func(g *TenantGroup, _ *World) { g.Apps = IntRange{-1, 3} }, "generate[0].apps.min", "-1", ErrOutOfRange},
		{"guests", func(g *TenantGroup, _ *World) { g.GuestRatio = RatioRange{0.5, 1.5} }, "generate[0].guestRatio.max", "1.5", ErrOutOfRange},
		{"mfa", func(g *TenantGroup, _ *World) { g.MFARatio = &RatioRange{-0.1, 1} }, "generate[0].mfaRatio.min", "-0.1", ErrOutOfRange},
		{"premium", func(g *TenantGroup, _ *World) { g.PremiumRatio = 2 }, "generate[0].premiumRatio", "2", ErrOutOfRange},
		{"devices", func(g *TenantGroup, _ *World) { g.DevicesPerUser = -1 }, "generate[0].devicesPerUser", "-1", ErrOutOfRange},
		{"latency", func(g *TenantGroup, _ *World) { g.Latency = &Latency{Median: -1} }, "generate[0].latency.median", "-1ns", ErrOutOfRange},
		{"duplicate prefix", func(g *TenantGroup, w *World) {
			w.Generate = append(w.Generate, TenantGroup{Count: 1, NamePrefix: "SHOP", Users: IntRange{1, 1}})
		}, "generate[1].namePrefix", "SHOP", ErrDuplicate},
		// A generated name that collides with a declared tenant's domain is caught once expanded.
		{"domain", func(g *TenantGroup, w *World) { w.Tenants[0].Domain = "shop1.onmicrosoft.com" }, "tenants[3].domain", "shop1.onmicrosoft.com", ErrDuplicate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := genWorld(valid)
			tc.edit(&w.Generate[0], w)
			b, err := json.Marshal(w)
			if err != nil {
				t.Fatal(err)
			}
			_, err = LoadWorld(bytes.NewReader(b))
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || fe.Value != tc.value || !errors.Is(err, tc.err) {
				t.Errorf("LoadWorld = %v, want a FieldError for %s %q wrapping %v", err, tc.field, tc.value, tc.err)
			}
			if tc.name != "domain" {
				if err := w.Validate(); !errors.As(err, &fe) || fe.Field != tc.field {
					t.Errorf("Validate() = %v, want a FieldError for %s", err, tc.field)
				}
			}
		})
	}
}

// TestLargeTenantCostsNoUsers: a tenant of 60,000 users allocates what a tenant of 60 does; users are generated by
// index when a page is served.
func TestLargeTenantCostsNoUsers(t *testing.T) {
	w := SampleWorld()
	w.Tenants[0].Users = 60
	small := testing.AllocsPerRun(5, func() { newTenant(w, 0) })
	w.Tenants[0].Users = 60_000
	large := testing.AllocsPerRun(5, func() { newTenant(w, 0) })
	if large > small+10 {
		t.Errorf("newTenant allocates %v times for 60,000 users and %v for 60", large, small)
	}
}
