package section

// Licence is a row of the Licences sheet: one subscribed SKU.
type Licence struct {
	SkuPartNumber string
	SkuID         string
	// ProductName is Microsoft's name for the SKU, "" when unknown.
	ProductName      string
	CapabilityStatus string
	Enabled          int
	Consumed         int
	Warning          int
	Suspended        int
	// Wasted flags real waste: enough unused seats to be worth acting on
	// (the collector applies the configured threshold).
	Wasted bool
}

// Available is the number of enabled seats nobody uses.
func (l Licence) Available() int { return max(l.Enabled-l.Consumed, 0) }

func (l Licence) Key() string { return l.SkuPartNumber + "\x00" + l.SkuID }

func (l Licence) Cells() []any {
	product := l.ProductName
	if product == "" {
		product = l.SkuPartNumber
	}
	return []any{product, l.SkuPartNumber, l.SkuID, l.CapabilityStatus, l.Enabled, l.Consumed, l.Available(), l.Wasted, l.Warning, l.Suspended}
}

func init() {
	Register(Section{Name: "licences", Title: "Licences", Sheet: "Licences", Order: 50,
		Permissions: []string{"LicenseAssignment.Read.All"},
		Columns: []Column{
			{Header: "Product", Width: 40},
			{Header: "SKU", Width: 30},
			{Header: "SKU ID", Width: 38},
			{Header: "Status", Width: 10},
			{Header: "Seats", Kind: Int},
			{Header: "Assigned", Kind: Int},
			{Header: "Unassigned", Kind: Int},
			{Header: "Seats wasted", Kind: Bool, Flag: true},
			{Header: "Seats in warning", Kind: Int},
			{Header: "Seats suspended", Kind: Int},
		},
		Decode: decode[Licence]})
}
