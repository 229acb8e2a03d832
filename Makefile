# pbuild's build. On a fresh machine:
#   make build   pbuild builds itself and the examples in the pinned container
#   make test    every test: unit, golden, and end-to-end on the Docker engine

BASE      ?= pbuild/base:bookworm
GO        ?= go
BOOTSTRAP := .build/pbuild-bootstrap
EXAMPLES  := examples/greeter

.PHONY: build base bootstrap examples test unit e2e vet clean

## build: bin/pbuild built by pbuild in the pinned toolchain container, then the examples
build: base bootstrap
	$(BOOTSTRAP) build -f pbuild.yaml
	@for ex in $(EXAMPLES); do echo "== $$ex"; bin/pbuild build -f $$ex/pbuild.yaml || exit 1; done

## base: the base image, made with debootstrap when it is missing (no registry needed)
base:
	@docker image inspect $(BASE) >/dev/null 2>&1 || images/mkbase.sh $(BASE)

## bootstrap: a first pbuild from the machine's Go, only used to build the real one
bootstrap:
	@mkdir -p .build
	$(GO) build -o $(BOOTSTRAP) ./cmd/pbuild

## test: vet, unit and end-to-end tests, of pbuild and of the loader module
test: base vet
	cd loader && $(GO) test -count=1 ./...
	$(GO) test -count=1 -timeout 60m ./...
	# Counts, not durations: a -fuzztime duration can fail with a bare
	# "context deadline exceeded" and no input (golang/go#75804, go1.26).
	$(GO) test -run='^$$' -fuzz=FuzzReadManifest -fuzztime=300000x ./manifests/
	$(GO) test -run='^$$' -fuzz=FuzzReadBundle -fuzztime=30000x ./bundle/

## unit: the tests that need no Docker engine
unit:
	cd loader && $(GO) test -count=1 ./...
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /tests)

## e2e: the testscript scripts under tests/ against the real engine
e2e: base
	$(GO) test -count=1 -timeout 45m ./tests/

vet:
	$(GO) vet ./...
	cd loader && $(GO) vet ./...

clean:
	rm -rf bin .build $(addsuffix /dist,$(EXAMPLES))

## bench: pbuild against native go build and one container per plugin -> bench/RESULTS.md (see bench/README.md)
.PHONY: bench
bench: base
	$(GO) run ./bench $(BENCHFLAGS)
