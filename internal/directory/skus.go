package directory

import (
	_ "embed"
	"errors"
	"strings"
	"sync"
)

//go:embed data/licence-skus.tsv
var skuTSV string

// skuHeader is the header line of data/licence-skus.tsv.
var skuHeader = []string{"skuId", "skuPartNumber", "productName"}

// skuTable is the parsed licence SKU table. Keys are lower-cased.
type skuTable struct {
	date   string
	rows   int
	byID   map[string]string // skuId → product name
	byPart map[string]string // skuPartNumber → product name; "" when the part number is ambiguous
}

// skus parses the embedded table once. Malformed lines are skipped here; the
// tests fail on them.
var skus = sync.OnceValue(func() skuTable {
	t, _ := parseSKUs(skuTSV)
	return t
})

// parseSKUs parses a licence SKU table. It returns every well-formed row and,
// joined, an error for each malformed line: a wrong field count, a skuId that
// is not a GUID, an empty part number or product name, or a repeated skuId
// (the first row wins).
//
// A part number that Microsoft lists under more than one product name
// (MCOPSTN5 in the 2025-10-29 table) is not an error, but it resolves to ""
// on its own: only its skuId tells the products apart.
func parseSKUs(data string) (skuTable, error) {
	const name = "licence-skus.tsv"
	date, rows, errs := parseTable(name, data, skuHeader)
	t := skuTable{date: date, byID: make(map[string]string, len(rows)), byPart: make(map[string]string, len(rows))}
	for _, r := range rows {
		id, part, product := r.fields[0], r.fields[1], r.fields[2]
		switch {
		case !isGUID(id):
			errs = append(errs, errLine(name, r, "skuId %q is not a GUID", id))
			continue
		case part == "" || product == "":
			errs = append(errs, errLine(name, r, "empty skuPartNumber or productName"))
			continue
		}
		id = strings.ToLower(id)
		if _, dup := t.byID[id]; dup {
			errs = append(errs, errLine(name, r, "duplicate skuId %s", id))
			continue
		}
		t.byID[id] = product
		t.rows++
		p := strings.ToLower(part)
		if prev, seen := t.byPart[p]; seen && prev != product {
			t.byPart[p] = ""
		} else if !seen {
			t.byPart[p] = product
		}
	}
	return t, errors.Join(errs...)
}

// ProductName returns Microsoft's product name for a licence SKU, such as
// "Office 365 E3" for skuId 6fd2c87f-b296-42f0-b197-1e91e994b900
// (ENTERPRISEPACK). It looks the SKU up by skuId (a GUID, in either case) and,
// when the skuId is empty or unknown, by skuPartNumber (in any case). It
// returns "" when the table does not know the SKU, or knows the part number
// only under several product names; callers then show the part number.
// ProductName is safe for concurrent use.
func ProductName(skuID, skuPartNumber string) string {
	t := skus()
	if n, ok := t.byID[strings.ToLower(skuID)]; ok {
		return n
	}
	return t.byPart[strings.ToLower(skuPartNumber)]
}

// SKUTableDate returns the date, as YYYY-MM-DD, on which Microsoft last
// updated the licence SKU table that [ProductName] uses.
func SKUTableDate() string { return skus().date }
