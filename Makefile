# The two commands of the README: `make demo` and `make test`.
GO ?= go

.PHONY: demo test go-test build check render-tools

## demo: a report of the sample world on the built-in emulator, written to ./reports
demo:
	$(GO) run ./handler demo

## build: the binary the Functions host starts
build:
	$(GO) build -o bin/handler ./handler

## check: formatting, vet, and go.mod/go.sum as `go mod tidy` would write them
check:
	@unformatted=$$(gofmt -l handler internal); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }

## render-tools: LibreOffice Calc and pdftoppm for the rendering tests (apt-get, when root on Debian)
render-tools:
	bash scripts/install-libreoffice.sh

## test: every test, against Azurite (installed from npm and started on random ports) and the emulator;
## workbooks are also opened with LibreOffice (installed if missing)
test: build check render-tools
	TENANTREPORT_HANDLER_BIN=$(CURDIR)/bin/handler bash scripts/with-azurite.sh $(MAKE) --no-print-directory go-test

# The packages that run goroutines are tested under the race detector; the
# others (workbook, report, directory, section, settings, …) are sequential
# code whose large-workbook tests would only be slower with it.
RACE_PKGS = ./handler ./internal/apiauth ./internal/customhandler ./internal/emulator ./internal/graphdata \
	./internal/pace ./internal/reportstore ./internal/run ./internal/tenantauth

# go-test runs inside with-azurite.sh (it needs TENANTREPORT_TEST_STORAGE).
go-test:
	$(GO) test -count=1 -shuffle=on -race $(RACE_PKGS)
	$(GO) test -count=1 -shuffle=on $(filter-out $(shell $(GO) list $(RACE_PKGS)),$(shell $(GO) list ./...))
