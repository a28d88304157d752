package reportstore_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"strings"

	"github.com/tenantreport/tenantreport/internal/reportstore"
)

func ExampleDir() {
	root, err := os.MkdirTemp("", "reports")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	s, err := reportstore.NewDir(root)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	const name = "reports/2024/03/05/run-42.xlsx"
	if err := s.Upload(ctx, name, strings.NewReader("workbook bytes")); err != nil {
		log.Fatal(err)
	}
	items, err := s.List(ctx, "reports/2024/")
	if err != nil {
		log.Fatal(err)
	}
	for _, it := range items {
		fmt.Println(it.Name, it.Size)
	}
	rc, err := s.Open(ctx, name)
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	fmt.Println(string(b))
	_, err = s.Open(ctx, "../etc/passwd")
	fmt.Println(err)
	// Output:
	// reports/2024/03/05/run-42.xlsx 14
	// workbook bytes
	// reportstore: invalid name "../etc/passwd"
}
