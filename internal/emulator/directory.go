package emulator

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// tenant is a world tenant plus everything derived from it. Users are not stored: user i is a pure function of
// the tenant seed and i, so a page of any tenant costs the same memory.
type tenant struct {
	Tenant
	domain string
	seed   uint64
	// spID is the object id of the bridge app's service principal here: the oid of its Graph tokens.
	spID string
	// created anchors createdDateTime values; it is derived from the seed, never from the wall clock.
	created          time.Time
	guests, disabled int
	// Users are laid out by two affine permutations of [0, Users): user i is a guest if guestPerm(i) < guests and
	// disabled if disabledPerm(i) < disabled, which spreads both kinds evenly and makes the totals exact.
	guestPerm, disabledPerm affine

	// The same scheme places MFA registrations, inactive users and credential states; the permutations are drawn
	// after the ones above so that adding them left every existing user unchanged.
	mfaPerm, inactivePerm, adminPerm, credPerm affine
	mfa, inactive                              int
	premium                                    bool
	skus                                       []License
	admins                                     []int       // user indices holding a role, in assignment order
	adminSet                                   map[int]int // user index → position in admins
	creds                                      int         // application credentials in total
	score                                      Score
	// anchor is the epoch relative dates count from; the Server sets it.
	anchor time.Time
	// rec is the recorded directory, nil for a synthetic tenant.
	rec *recording
	// chaos draws latencies and faults; the Server sets it.
	chaos *chaos
}

func newTenant(w *World, i int) *tenant {
	t := &tenant{Tenant: w.Tenants[i], domain: w.Tenants[i].domain(i)}
	t.ID = strings.ToLower(t.ID)
	if t.Seed != 0 {
		t.seed = splitmix(uint64(t.Seed))
	} else {
		t.seed = splitmix(uint64(w.Seed) + uint64(i) + 1)
	}
	r := rand.New(rand.NewPCG(t.seed, 0x656d756c61746f72)) // "emulator"
	t.spID = randomGUID(r)
	t.created = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC).Add(-time.Duration(r.IntN(365*24)) * time.Hour)
	t.guests, t.disabled = t.split()
	t.guestPerm = newAffine(r, t.Users)
	t.disabledPerm = newAffine(r, t.Users)
	t.initExtras(r)
	return t
}

// affine is the permutation i ↦ (a·i + b) mod n, with gcd(a, n) = 1.
type affine struct{ a, b, n uint64 }

func newAffine(r *rand.Rand, n int) affine {
	if n <= 1 {
		return affine{a: 1, n: uint64(max(n, 1))}
	}
	a := uint64(r.IntN(n-1) + 1)
	for gcd(a, uint64(n)) != 1 {
		a = a%uint64(n-1) + 1
	}
	return affine{a: a, b: uint64(r.IntN(n)), n: uint64(n)}
}

func (p affine) at(i int) int { return int((p.a*uint64(i) + p.b) % p.n) }

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func randomGUID(r *rand.Rand) string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return formatGUID(b)
}

// user is one synthetic directory user.
type user struct {
	id, displayName, givenName, surname, upn, mail string
	enabled, guest                                 bool
	created                                        time.Time
	externalState, jobTitle, department            string
}

var (
	givenNames = []string{"Adele", "Alex", "Allan", "Amara", "Bianca", "Carlos", "Chen", "Diego", "Emily", "Fatima",
		"Grady", "Hannah", "Henrietta", "Isaiah", "Johanna", "Joni", "Kenji", "Lee", "Lidia", "Lynne", "Megan", "Miriam",
		"Nestor", "Noah", "Olga", "Patti", "Pradeep", "Priya", "Raul", "Sakura", "Sven", "Tomasz", "Yasmin", "Zoe"}
	surnames = []string{"Vance", "Wilber", "Deyoung", "Okafor", "Rossi", "Mendes", "Wei", "Herrera", "Clarke", "Haddad",
		"Archie", "Schmidt", "Mueller", "Baker", "Lindqvist", "Sherman", "Tanaka", "Gu", "Holloway", "Robbins", "Bowen",
		"Hunter", "Wilke", "Becker", "Petrova", "Fernandez", "Gupta", "Natarajan", "Ortiz", "Sato", "Nilsson", "Kowalski",
		"Nasser", "Martin"}
	departments = []string{"Finance", "Sales", "Marketing", "Engineering", "Operations", "Legal", "Human Resources",
		"Support", "IT", "Research"}
	jobTitles = []string{"Analyst", "Manager", "Engineer", "Consultant", "Director", "Specialist", "Coordinator",
		"Administrator", "Designer", "Accountant"}
	guestDomains = []string{"gmail.com", "outlook.com", "partner.example", "tailspintoys.com", "wingtiptoys.com",
		"adatum.com", "litware.com"}
)

// user returns user i (0 ≤ i < Users).
func (t *tenant) user(i int) user {
	r := rand.New(rand.NewPCG(t.seed, splitmix(t.seed^uint64(i))))
	u := user{id: randomGUID(r)}
	u.givenName = givenNames[r.IntN(len(givenNames))]
	u.surname = surnames[r.IntN(len(surnames))]
	u.displayName = u.givenName + " " + u.surname
	local := strings.ToLower(u.givenName) + "." + strings.ToLower(u.surname) + strconv.Itoa(i+1)
	u.created = t.created.Add(-time.Duration(r.Int64N(4*365*24*3600)) * time.Second)
	u.guest = t.guestPerm.at(i) < t.guests
	u.enabled = t.disabledPerm.at(i) >= t.disabled
	if u.guest {
		u.mail = local + "@" + guestDomains[r.IntN(len(guestDomains))]
		u.upn = strings.Replace(u.mail, "@", "_", 1) + "#EXT#@" + t.domain
		u.externalState = "Accepted"
		if r.IntN(5) == 0 {
			u.externalState = "PendingAcceptance"
		}
		return u
	}
	u.upn = local + "@" + t.domain
	if r.IntN(20) != 0 { // a few members have no mailbox
		u.mail = u.upn
	}
	u.jobTitle = jobTitles[r.IntN(len(jobTitles))]
	u.department = departments[r.IntN(len(departments))]
	return u
}

// prop is one property of a Graph entity, in schema order.
type prop struct {
	name  string
	value any // nil serialises as null
}

// lazy is a prop value computed only when it is written, for costly properties that most queries do not select
// (signInActivity).
type lazy func() any

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// props returns the user's properties in Graph's schema order.
func (u user) props() []prop {
	userType, ext, creation := "Member", any(nil), any(nil)
	if u.guest {
		userType, ext, creation = "Guest", u.externalState, "Invitation"
	}
	// One spare slot: /users appends signInActivity.
	return append(make([]prop, 0, 26), []prop{
		{"id", u.id},
		{"accountEnabled", u.enabled},
		{"businessPhones", []string{}},
		{"city", nil},
		{"companyName", nil},
		{"country", nil},
		{"createdDateTime", u.created.UTC().Format(time.RFC3339)},
		{"creationType", creation},
		{"department", nullable(u.department)},
		{"displayName", u.displayName},
		{"employeeId", nil},
		{"externalUserState", ext},
		{"givenName", u.givenName},
		{"jobTitle", nullable(u.jobTitle)},
		{"mail", nullable(u.mail)},
		{"mobilePhone", nil},
		{"officeLocation", nil},
		{"onPremisesSyncEnabled", nil},
		{"otherMails", []string{}},
		{"preferredLanguage", nil},
		{"proxyAddresses", proxyAddresses(u.mail)},
		{"surname", u.surname},
		{"usageLocation", nil},
		{"userPrincipalName", u.upn},
		{"userType", userType},
	}...)
}

func proxyAddresses(mail string) []string {
	if mail == "" {
		return []string{}
	}
	return []string{"SMTP:" + mail}
}

// userDefaultSelect is the property set Graph v1.0 returns for /users without $select.
var userDefaultSelect = []string{"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
	"officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"}

// organization returns the tenant's organization entity.
func (t *tenant) organization() []prop {
	return []prop{
		{"id", t.ID},
		{"deletedDateTime", nil},
		{"businessPhones", []string{}},
		{"city", nil},
		{"country", nil},
		{"countryLetterCode", "US"},
		{"createdDateTime", t.created.Add(-5 * 365 * 24 * time.Hour).Format(time.RFC3339)},
		{"defaultUsageLocation", nil},
		{"displayName", t.DisplayName},
		{"marketingNotificationEmails", []string{}},
		{"onPremisesLastSyncDateTime", nil},
		{"onPremisesSyncEnabled", nil},
		{"postalCode", nil},
		{"preferredLanguage", "en"},
		{"securityComplianceNotificationMails", []string{}},
		{"securityComplianceNotificationPhones", []string{}},
		{"state", nil},
		{"street", nil},
		{"technicalNotificationMails", []string{"admin@" + t.domain}},
		{"tenantType", "AAD"},
		{"directorySizeQuota", map[string]int{"used": t.Users + 50, "total": max(300000, t.Users*2)}},
		{"assignedPlans", []string{}},
		{"privacyProfile", nil},
		{"provisionedPlans", []string{}},
		{"verifiedDomains", t.verifiedDomains()},
	}
}

// verifiedDomains lists the initial domain (the default) and any custom ones.
func (t *tenant) verifiedDomains() []obj {
	var out []obj
	for i, d := range t.domainNames() {
		out = append(out, obj{{"capabilities", "Email, OfficeCommunicationsOnline"}, {"isDefault", i == 0},
			{"isInitial", i == 0}, {"name", d}, {"type", "Managed"}})
	}
	return out
}

func (t *tenant) String() string { return fmt.Sprintf("%s (%s)", t.DisplayName, t.ID) }
