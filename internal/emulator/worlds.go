package emulator

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

//go:embed worlds
var worldsFS embed.FS

// SampleWorldNames returns the names of the worlds that ship with the emulator, for [OpenWorld]:
//
//	demo        the demo world, [SampleWorld]
//	msp50       an MSP with 50 customer tenants of every size and licence mix, some misconfigured
//	large200k   one tenant of 200,000 users
//	recorded    the demo's home with one recorded tenant (worlds/recorded/contoso)
//	latency200  200 small tenants (5–45 users, about 3,600 in all) without Entra ID P1/P2 (Business Standard
//	            licences), a few devices, apps and Conditional Access policies each, Graph latency of median 120 ms
//	            and p99 400 ms at time scale 1, no faults: a run is bound by latency, not by any default budget
//	msp1000     an MSP with 1,000 generated tenants and about 1.5 million users (600 of 5–300 users, 340 of
//	            300–5,000, 50 of 5,000–20,000, 10 of 20,000–60,000), 59% of them with Entra ID P1/P2 (more among
//	            the large), 0.6 devices per user, small app and policy counts, latency median 40 ms and p99
//	            150 ms, no faults, at time scale 0.01: its 2,741 signInActivity pages take the app-wide budget of
//	            10 requests per minute about 4.5 hours, 2 minutes 44 seconds scaled
//
// latency200 and msp1000 declare their tenants with World.Generate ([TenantGroup]).
func SampleWorldNames() []string {
	entries, _ := fs.ReadDir(worldsFS, "worlds")
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok && !e.IsDir() {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// OpenWorld returns the sample world called name (see [SampleWorldNames]) or, when name is not one, the world in
// the file at name (see [LoadWorldFile]).
func OpenWorld(name string) (*World, error) {
	if !strings.ContainsAny(name, `/\`) && !strings.HasSuffix(name, ".json") {
		if f, err := worldsFS.Open("worlds/" + name + ".json"); err == nil {
			defer f.Close()
			sub, _ := fs.Sub(worldsFS, "worlds")
			return loadWorldIn(f, sub)
		}
		if _, err := os.Stat(name); err != nil {
			return nil, fmt.Errorf("emulator: world %q is neither a sample world (%s) nor a file", name,
				strings.Join(SampleWorldNames(), ", "))
		}
	}
	return LoadWorldFile(name)
}

// LoadWorldFile reads a world from a JSON file (see [LoadWorld]). Recorded tenants' folders resolve relative to
// the file's folder, and are read and checked now.
func LoadWorldFile(name string) (*World, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("emulator: world: %w", err)
	}
	defer f.Close()
	return loadWorldIn(f, os.DirFS(filepath.Dir(name)))
}

func loadWorldIn(f fs.File, dir fs.FS) (*World, error) {
	w, err := LoadWorld(f)
	if err != nil {
		return nil, err
	}
	w.dir = dir
	for i := range w.Tenants {
		t := &w.Tenants[i]
		if t.Recorded == "" {
			continue
		}
		fsys, sub := w.recordedFS(t.Recorded)
		if _, err := loadRecording(fsys, sub); err != nil {
			return nil, &FieldError{Field: fmt.Sprintf("tenants[%d].recorded", i), Value: t.Recorded, Err: err}
		}
	}
	return w, nil
}

// parseEpoch reads World.Epoch: an RFC 3339 date or date-time.
func parseEpoch(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, errors.New("not an RFC 3339 date or date-time")
	}
	return t.UTC(), nil
}

// maxObjects bounds the per-tenant counts of devices, apps and policies.
const maxObjects = 1_000_000

// validateData checks a tenant's directory fields.
func (t *Tenant) validateData(p string) error {
	guests, disabled := t.split()
	for _, c := range []struct {
		name   string
		v, max int
	}{
		{"admins", t.Admins, max(0, t.Users-guests-disabled)},
		{"devices", t.Devices, maxObjects},
		{"conditionalAccessPolicies", t.ConditionalAccessPolicies, 10_000},
		{"apps", t.Apps, maxObjects},
		{"expiredCredentials", t.ExpiredCredentials, credCount(t.Apps)},
		{"expiringCredentials", t.ExpiringCredentials, credCount(t.Apps) - t.ExpiredCredentials},
	} {
		if c.v < 0 || c.v > c.max {
			return &FieldError{Field: p + "." + c.name, Value: fmt.Sprint(c.v), Err: fmt.Errorf("%w (0–%d)", ErrOutOfRange, c.max)}
		}
	}
	for _, r := range []struct {
		name string
		v    *float64
	}{{"mfaRatio", t.MFARatio}, {"inactiveRatio", t.InactiveRatio}} {
		if r.v != nil && !(*r.v >= 0 && *r.v <= 1) {
			return &FieldError{Field: p + "." + r.name, Value: fmt.Sprint(*r.v), Err: ErrOutOfRange}
		}
	}
	for j, l := range t.Licenses {
		f := fmt.Sprintf("%s.licenses[%d]", p, j)
		if _, ok := skuByPart(l.Sku); !ok {
			return &FieldError{Field: f + ".sku", Value: l.Sku, Err: fmt.Errorf("%w (one of %s)", ErrUnknownSKU, strings.Join(KnownSKUs(), ", "))}
		}
		if l.Enabled < 0 || l.Consumed < 0 || l.Consumed > l.Enabled {
			return &FieldError{Field: f + ".consumed", Value: fmt.Sprint(l.Consumed), Err: fmt.Errorf("%w (0–enabled)", ErrOutOfRange)}
		}
	}
	if s := t.SecureScore; s != nil && !(s.Max > 0 && s.Current >= 0 && s.Current <= s.Max) {
		return &FieldError{Field: p + ".secureScore", Value: fmt.Sprintf("%v/%v", s.Current, s.Max), Err: ErrOutOfRange}
	}
	for j, d := range t.Domains {
		if !strings.Contains(d, ".") || strings.ContainsAny(d, " /@") {
			return &FieldError{Field: fmt.Sprintf("%s.domains[%d]", p, j), Value: d, Err: errors.New("not a domain name")}
		}
	}
	if err := t.Faults.validate(p + ".faults"); err != nil {
		return err
	}
	return t.Latency.validate(p + ".latency")
}

// loadRecording reads a recorded tenant's files; the user count then comes from users.json.
func (t *tenant) loadRecording(w *World) error {
	fsys, sub := w.recordedFS(t.Recorded)
	rec, err := loadRecording(fsys, sub)
	if err != nil {
		return err
	}
	t.rec = rec
	t.Users = len(rec.items["/users"])
	return nil
}
