package emulator

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// TenantGroup declares Count synthetic tenants at once, for worlds of hundreds or thousands of tenants. [World.Expand]
// turns each group into ordinary [Tenant] values drawn from World.Seed, so the same world always yields the same
// tenants: ids and seeds derive from the seed, the group's NamePrefix and the tenant's number in the group (adding
// tenants to a group or another group keeps every existing tenant's id and data), display names are NamePrefix and
// the number, zero-padded ("Small 007"), and initial domains follow from them ("small007.onmicrosoft.com").
//
// User counts spread log-uniformly over Users, as in a real customer list: many tenants near the bottom of the range,
// few near the top. They are the quantiles of that distribution handed out in a seeded order, so a group's total is
// what the distribution promises, not what a lucky draw gives. Exactly round(PremiumRatio × Count) tenants, chosen
// by the seed, have Entra ID P1/P2; the others have no AAD_PREMIUM plan. Licences are derived (see
// [Tenant.Licenses]): Microsoft 365 E3 for premium tenants, Business Standard (O365_BUSINESS_PREMIUM) otherwise.
// Every other field is drawn per tenant, uniformly in its range.
type TenantGroup struct {
	// Count is the number of tenants, 1–100,000.
	Count int `json:"count"`
	// NamePrefix starts every display name; it is unique among the groups and seeds their ids.
	NamePrefix string `json:"namePrefix"`
	// Users is the range of user counts (at least 1, at most MaxUsers).
	Users IntRange `json:"users"`
	// PremiumRatio is the fraction of tenants with Entra ID P1/P2.
	PremiumRatio float64 `json:"premiumRatio,omitempty"`
	// GuestRatio and DisabledRatio are ranges of the tenant's ratios; MFARatio and InactiveRatio too, nil leaving
	// the tenant's defaults.
	GuestRatio    RatioRange  `json:"guestRatio,omitzero"`
	DisabledRatio RatioRange  `json:"disabledRatio,omitzero"`
	MFARatio      *RatioRange `json:"mfaRatio,omitempty"`
	InactiveRatio *RatioRange `json:"inactiveRatio,omitempty"`
	// Admins is the range of admins, at most the tenant's enabled members.
	Admins IntRange `json:"admins,omitzero"`
	// DevicesPerUser is the mean number of devices per user; each tenant gets within ±20% of it.
	DevicesPerUser float64 `json:"devicesPerUser,omitempty"`
	// Apps and ConditionalAccessPolicies are ranges of counts. Up to a fifth of a tenant's app credentials have
	// expired and up to a tenth of the rest expire within 30 days.
	Apps                      IntRange `json:"apps,omitzero"`
	ConditionalAccessPolicies IntRange `json:"conditionalAccessPolicies,omitzero"`
	// Latency and Faults replace the world's for every tenant of the group.
	Latency *Latency `json:"latency,omitempty"`
	Faults  *Faults  `json:"faults,omitempty"`
}

// IntRange is an inclusive range of whole numbers; {"min": 5, "max": 5} is exactly 5.
type IntRange struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// RatioRange is an inclusive range of fractions, within [0, 1].
type RatioRange struct {
	Min float64 `json:"min"`
	Max float64 `json:"max"`
}

// maxGenerated bounds TenantGroup.Count.
const maxGenerated = 100_000

// Expand appends the tenants that w.Generate declares to w.Tenants, after the declared ones and in group order, and
// clears w.Generate; it does nothing when there is none. It returns the first invalid group field as a
// *FieldError, and then changes nothing. [LoadWorld] and [New] expand the world they read or copy; call Expand
// before reading Tenants of a World built in Go.
func (w *World) Expand() error {
	if len(w.Generate) == 0 {
		return nil
	}
	if err := w.validateGenerate(); err != nil {
		return err
	}
	for _, g := range w.Generate {
		w.Tenants = append(w.Tenants, g.tenants(w.Seed)...)
	}
	w.Generate = nil
	return nil
}

// validateGenerate checks the groups of w.Generate.
func (w *World) validateGenerate() error {
	prefixes := map[string]bool{}
	for i, g := range w.Generate {
		p := fmt.Sprintf("generate[%d]", i)
		if g.Count < 1 || g.Count > maxGenerated {
			return &FieldError{Field: p + ".count", Value: fmt.Sprint(g.Count), Err: fmt.Errorf("%w (1–%d)", ErrOutOfRange, maxGenerated)}
		}
		key := strings.ToLower(strings.TrimSpace(g.NamePrefix))
		switch {
		case key == "":
			return &FieldError{Field: p + ".namePrefix", Err: ErrMissing}
		case prefixes[key]:
			return &FieldError{Field: p + ".namePrefix", Value: g.NamePrefix, Err: ErrDuplicate}
		}
		prefixes[key] = true
		for _, c := range []struct {
			name     string
			r        IntRange
			min, max int
		}{
			{"users", g.Users, 1, MaxUsers},
			{"admins", g.Admins, 0, MaxUsers},
			{"apps", g.Apps, 0, maxObjects},
			{"conditionalAccessPolicies", g.ConditionalAccessPolicies, 0, 10_000},
		} {
			if err := c.r.validate(p+"."+c.name, c.min, c.max); err != nil {
				return err
			}
		}
		ratios := []struct {
			name string
			r    RatioRange
		}{{"guestRatio", g.GuestRatio}, {"disabledRatio", g.DisabledRatio}}
		if g.MFARatio != nil {
			ratios = append(ratios, struct {
				name string
				r    RatioRange
			}{"mfaRatio", *g.MFARatio})
		}
		if g.InactiveRatio != nil {
			ratios = append(ratios, struct {
				name string
				r    RatioRange
			}{"inactiveRatio", *g.InactiveRatio})
		}
		for _, r := range ratios {
			if err := r.r.validate(p + "." + r.name); err != nil {
				return err
			}
		}
		if g.GuestRatio.Max+g.DisabledRatio.Max > 1 {
			return &FieldError{Field: p + ".disabledRatio.max", Value: fmt.Sprint(g.DisabledRatio.Max),
				Err: fmt.Errorf("%w: guestRatio.max + disabledRatio.max exceed 1", ErrOutOfRange)}
		}
		if !(g.PremiumRatio >= 0 && g.PremiumRatio <= 1) {
			return &FieldError{Field: p + ".premiumRatio", Value: fmt.Sprint(g.PremiumRatio), Err: fmt.Errorf("%w (0–1)", ErrOutOfRange)}
		}
		if maxDev := float64(maxObjects) / (1.2 * float64(g.Users.Max)); !(g.DevicesPerUser >= 0 && g.DevicesPerUser <= maxDev) {
			return &FieldError{Field: p + ".devicesPerUser", Value: fmt.Sprint(g.DevicesPerUser),
				Err: fmt.Errorf("%w (0–%.4g for users up to %d)", ErrOutOfRange, maxDev, g.Users.Max)}
		}
		if err := g.Latency.validate(p + ".latency"); err != nil {
			return err
		}
		if err := g.Faults.validate(p + ".faults"); err != nil {
			return err
		}
	}
	return nil
}

func (r IntRange) validate(field string, min, max int) error {
	switch {
	case r.Min < min || r.Min > max:
		return &FieldError{Field: field + ".min", Value: fmt.Sprint(r.Min), Err: fmt.Errorf("%w (%d–%d)", ErrOutOfRange, min, max)}
	case r.Max < r.Min || r.Max > max:
		return &FieldError{Field: field + ".max", Value: fmt.Sprint(r.Max), Err: fmt.Errorf("%w (min–%d)", ErrOutOfRange, max)}
	}
	return nil
}

func (r RatioRange) validate(field string) error {
	switch {
	case !(r.Min >= 0 && r.Min <= 1):
		return &FieldError{Field: field + ".min", Value: fmt.Sprint(r.Min), Err: fmt.Errorf("%w (0–1)", ErrOutOfRange)}
	case !(r.Max >= r.Min && r.Max <= 1):
		return &FieldError{Field: field + ".max", Value: fmt.Sprint(r.Max), Err: fmt.Errorf("%w (min–1)", ErrOutOfRange)}
	}
	return nil
}

// tenants returns the group's tenants. g must be valid.
func (g *TenantGroup) tenants(worldSeed int64) []Tenant {
	prefix := strings.TrimSpace(g.NamePrefix)
	key := groupKey(worldSeed, prefix, -1)
	r := rand.New(rand.NewPCG(key, splitmix(key)))
	// Sizes are quantile midpoints of the log-uniform distribution over Users, handed out in a seeded order; so are
	// the premium tenants (the first round(PremiumRatio × Count) of another order).
	sizes, premium := r.Perm(g.Count), r.Perm(g.Count)
	nPremium := int(math.Round(g.PremiumRatio * float64(g.Count)))
	lo, hi := math.Log(float64(g.Users.Min)), math.Log(float64(g.Users.Max)+1)
	width := len(fmt.Sprint(g.Count))
	out := make([]Tenant, g.Count)
	for i := range out {
		k := groupKey(worldSeed, prefix, i)
		tr := rand.New(rand.NewPCG(k, splitmix(k^0x67656e)))
		t := Tenant{
			ID:          randomGUID(tr),
			DisplayName: fmt.Sprintf("%s %0*d", prefix, width, i+1),
			Seed:        int64(splitmix(k)>>1) | 1,
			Premium:     new(premium[i] < nPremium),
			Latency:     g.Latency.clone(),
			Faults:      g.Faults.clone(),
		}
		q := (float64(sizes[i]) + 0.5) / float64(g.Count)
		t.Users = min(g.Users.Max, int(math.Exp(lo+q*(hi-lo))))
		t.GuestRatio = round2(g.GuestRatio.draw(tr))
		t.DisabledRatio = round2(g.DisabledRatio.draw(tr))
		if g.MFARatio != nil {
			t.MFARatio = new(round2(g.MFARatio.draw(tr)))
		}
		if g.InactiveRatio != nil {
			t.InactiveRatio = new(round2(g.InactiveRatio.draw(tr)))
		}
		guests, disabled := t.split()
		t.Admins = min(g.Admins.draw(tr), max(0, t.Users-guests-disabled))
		t.Devices = int(math.Round(float64(t.Users) * g.DevicesPerUser * (0.8 + 0.4*tr.Float64())))
		t.Apps = g.Apps.draw(tr)
		t.ConditionalAccessPolicies = g.ConditionalAccessPolicies.draw(tr)
		creds := credCount(t.Apps)
		t.ExpiredCredentials = tr.IntN(creds/5 + 1)
		t.ExpiringCredentials = tr.IntN((creds-t.ExpiredCredentials)/10 + 1)
		out[i] = t
	}
	return out
}

// groupKey derives the seed of tenant i of the group with prefix (i = -1: the group's own).
func groupKey(worldSeed int64, prefix string, i int) uint64 {
	h := sha256.Sum256(fmt.Appendf(nil, "tenantreport/emulator generated tenant\x00%d\x00%s\x00%d",
		worldSeed, strings.ToLower(prefix), i))
	return binary.LittleEndian.Uint64(h[:8])
}

func (r IntRange) draw(rng *rand.Rand) int { return r.Min + rng.IntN(r.Max-r.Min+1) }

func (r RatioRange) draw(rng *rand.Rand) float64 { return r.Min + (r.Max-r.Min)*rng.Float64() }

// round2 rounds a ratio to two decimals, so generated tenants read like hand-written ones.
func round2(v float64) float64 { return math.Round(v*100) / 100 }

func (l *Latency) clone() *Latency {
	if l == nil {
		return nil
	}
	c := *l
	return &c
}

func (f *Faults) clone() *Faults {
	if f == nil {
		return nil
	}
	c := *f
	return &c
}
