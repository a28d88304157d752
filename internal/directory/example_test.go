package directory_test

import (
	"fmt"

	"github.com/tenantreport/tenantreport/internal/directory"
)

func ExampleProductName() {
	fmt.Println(directory.ProductName("6fd2c87f-b296-42f0-b197-1e91e994b900", "ENTERPRISEPACK"))
	fmt.Println(directory.ProductName("", "SPE_E5"))
	fmt.Printf("%q\n", directory.ProductName("", "CONTOSO_CUSTOM")) // unknown: show the part number instead
	// Output:
	// Office 365 E3
	// Microsoft 365 E5
	// ""
}

func ExampleBuiltInRole() {
	for _, id := range []string{
		"62e90394-69f5-4237-9190-012177145e10",
		"29232cdf-9323-42fd-ade2-1d097af3e4de",
	} {
		r, ok := directory.BuiltInRole(id)
		fmt.Println(r.Name, r.Privileged, ok)
	}
	// Output:
	// Global Administrator true true
	// Exchange Administrator false true
}
