package run

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tenantreport/tenantreport/internal/section"
)

type spoolRow struct {
	K   string
	Seq int
}

func (r spoolRow) Key() string  { return r.K }
func (r spoolRow) Cells() []any { return []any{r.K, r.Seq} }

func decodeSpoolRow(b []byte) (section.Row, error) {
	var r spoolRow
	err := json.Unmarshal(b, &r)
	return r, err
}

// TestSortSpool sorts spools small enough for one run and large enough to
// be merged from many, and checks the order is by key and stable.
func TestSortSpool(t *testing.T) {
	for _, tt := range []struct {
		name  string
		rows  int
		chunk int
		// small is a spool that stays in memory until closed, and is then
		// written sorted, without sortSpool.
		small bool
	}{{"empty", 0, 1 << 20, true}, {"in memory", 500, 1 << 20, false}, {"merged", 5000, 4 << 10, false}, {"small", 60, 1 << 20, true}} {
		t.Run(tt.name, func(t *testing.T) {
			defer func(old, small int) { sortChunk, smallSpool = old, small }(sortChunk, smallSpool)
			sortChunk = tt.chunk
			if !tt.small {
				smallSpool = 0
			}
			path := filepath.Join(t.TempDir(), "s.spool")
			w, err := createSpool(path, spoolHeader{Section: "users", Tenant: "t"})
			if err != nil {
				t.Fatal(err)
			}
			rnd := rand.New(rand.NewPCG(1, 2))
			var want []spoolRow
			for i := range tt.rows {
				r := spoolRow{K: fmt.Sprintf("k%03d\twith tab", rnd.IntN(300)), Seq: i}
				want = append(want, r)
				if err := w.write(r); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.close(); err != nil {
				t.Fatal(err)
			}
			if w.sorted != tt.small {
				t.Errorf("sorted as written = %v, want %v", w.sorted, tt.small)
			}
			if !w.sorted {
				if err := sortSpool(path); err != nil {
					t.Fatalf("sortSpool = %v", err)
				}
			}
			slices.SortStableFunc(want, func(a, b spoolRow) int {
				if a.K < b.K {
					return -1
				}
				if a.K > b.K {
					return 1
				}
				return 0
			})
			var got []spoolRow
			for r, err := range readSpool(path, decodeSpoolRow) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, r.(spoolRow))
			}
			if !slices.Equal(got, want) {
				t.Errorf("sorted %d rows: order differs (first got %v, want %v)", tt.rows, head(got), head(want))
			}
			if left, _ := filepath.Glob(path + ".*"); len(left) != 0 {
				t.Errorf("sort left files behind: %v", left)
			}
		})
	}
}

// TestReadSpoolRefusesUnsorted: the workbook reads spools in key order, so
// a spool that sortSpool never saw is an error, not rows in Graph's order.
func TestReadSpoolRefusesUnsorted(t *testing.T) {
	defer func(old int) { smallSpool = old }(smallSpool)
	smallSpool = 0 // to the file at once, in Graph's order
	path := filepath.Join(t.TempDir(), "s.spool")
	w, err := createSpool(path, spoolHeader{Section: "users", Tenant: "t"})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"b", "a"} {
		if err := w.write(spoolRow{K: k}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	var rows int
	var errs []error
	for _, err := range readSpool(path, decodeSpoolRow) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rows++
	}
	if rows != 0 || len(errs) != 1 || !errors.Is(errs[0], errUnsorted) {
		t.Errorf("readSpool(unsorted) = %d rows, errors %v, want no rows and errUnsorted", rows, errs)
	}
	if err := sortSpool(path); err != nil {
		t.Fatalf("sortSpool = %v", err)
	}
	var keys []string
	for r, err := range readSpool(path, decodeSpoolRow) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, r.Key())
	}
	if !slices.Equal(keys, []string{"a", "b"}) {
		t.Errorf("readSpool(sorted) keys = %q, want [a b]", keys)
	}
}

func head(rs []spoolRow) []spoolRow { return rs[:min(3, len(rs))] }
