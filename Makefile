# Vigil: a VRRP high-availability daemon. `make` builds, `make test` runs every test.
GO      ?= go
BIN     ?= bin
FUZZTIME ?= 5m

.PHONY: all build test vet fmt-check docs bench fuzz clean

all: build

build:
	$(GO) build ./...
	@if [ -d cmd/vigil ]; then $(GO) build -o $(BIN)/vigil ./cmd/vigil; fi

# The one test command: README and .ci/run both call it. Tests that need root
# (network namespaces, keepalived, nginx) skip with a message when not root
# and fail under CI=true when something they need is missing.
test: vet fmt-check
	$(GO) test -count=1 ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# Benchmarks behind docs/benchmarks.md.
docs:
	$(GO) test ./core/policy/ -run TestReferenceDoc -update

# Benchmarks behind docs/benchmarks.md.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./core/vrrp/ ./core/fsm/

# Each fuzz target for FUZZTIME (default 5m), one after the other.
fuzz:
	$(GO) test ./core/vrrp/ -run '^$$' -fuzz '^FuzzUnmarshal$$' -fuzztime $(FUZZTIME)
	$(GO) test ./core/vrrp/ -run '^$$' -fuzz '^FuzzRoundTrip$$' -fuzztime $(FUZZTIME)
	$(GO) test ./core/fsm/ -run '^$$' -fuzz '^FuzzMachine$$' -fuzztime $(FUZZTIME)

clean:
	rm -rf $(BIN)
