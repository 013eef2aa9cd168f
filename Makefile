# Vigil: a VRRP high-availability daemon. `make` builds, `make test` runs every test.
GO      ?= go
BIN     ?= bin
FUZZTIME ?= 5m

.PHONY: all build test vet fmt-check guards docs bench bench-failover bench-idle bench-footprint bench-flood bench-soak bench-nginx bench-bgp bench-hmac demo fuzz proto clean deb

all: build

# vigil is built without cgo: a static binary maps no libc into the agent
# and each plugin process (docs/benchmarks.md, idle cost), and users and
# groups come from /etc/passwd and /etc/group.
build:
	$(GO) build ./...
	CGO_ENABLED=0 $(GO) build -o $(BIN)/vigil ./cmd/vigil
	CGO_ENABLED=0 $(GO) build -o $(BIN)/vigil-bgp ./cmd/vigil-bgp

# The Debian package (dpkg-deb; man pages and completion generated):
# bin/vigil_VERSION_ARCH.deb. VERSION is stamped into `vigil --version`.
VERSION ?= 0.1.0+git$(shell git rev-list --count HEAD 2>/dev/null || echo 0).$(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
deb:
	packaging/build-deb.sh $(VERSION) $(BIN)

# The one test command: README and .ci/run both call it. Tests that need root
# (network namespaces, keepalived, nginx) skip with a message when not root
# and fail under CI=true when something they need is missing.
test: vet fmt-check guards
	$(GO) test -count=1 -timeout 25m ./...

vet:
	$(GO) vet ./...

# The house rules (scripts/guards.sh): staticcheck, a tidy go.mod, the
# layering, no big file in git, every fuzz target for FUZZ_GUARD_TIME
# (10s) on top of its corpus.
guards:
	GO=$(GO) bash scripts/guards.sh

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# The policy reference, regenerated from the schema.
docs:
	$(GO) test ./core/policy/ -run TestReferenceDoc -update

# Benchmarks behind docs/benchmarks.md.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./core/vrrp/ ./core/fsm/

# Failover time and idle cost, Vigil next to keepalived in one lab (root).
bench-failover:
	VIGIL_BENCH=1 $(GO) test ./test/e2e/ -run TestBenchmarkFailover -v -count=1 -timeout 30m

bench-idle:
	VIGIL_BENCH=1 VIGIL_PACKAGE_TEST=1 $(GO) test ./test/e2e/ -run 'TestBenchmarkIdle|TestBenchmarkNodeFootprint' -v -count=1 -timeout 40m

# 1,070 instances, a flapping check and the backup restarting every minute,
# for SOAK (default 3m; the endurance run is SOAK=60m): transitions, RSS
# slope, CPU per advert (root).
SOAK ?= 3m
bench-soak:
	VIGIL_BENCH=1 VIGIL_SOAK=$(SOAK) $(GO) test ./test/e2e/ -run TestBenchmarkSoak -v -count=1 -timeout 0

# Each kind of bad advert at 10,000/s against Vigil and keepalived: CPU,
# log lines, RSS (root, ~2 min).
bench-flood:
	VIGIL_BENCH=1 $(GO) test ./test/e2e/ -run TestBenchmarkFlood -v -count=1 -timeout 15m

# A seed-shaped node as deployed (the package installed, systemd as PID 1
# in a lab node; keepalived under its own unit), every process of each
# service summed: RSS, PSS, anonymous (root, ~3 min; installs and purges
# the package).
bench-footprint:
	VIGIL_BENCH=1 VIGIL_PACKAGE_TEST=1 $(GO) test ./test/e2e/ -run TestBenchmarkNodeFootprint -v -count=1 -timeout 15m

bench-nginx:
	VIGIL_BENCH=1 $(GO) test ./test/e2e/ -run TestBenchmarkNginxFailover -v -count=1 -timeout 40m

# BGP: nginx death and node failure, health mode, master mode and VRRP
# alone, against FRR (root; apt-get install frr).
# CPU of a master of 255 instances at 100 ms, unsigned and signed
# (auth_hmac), Vigil beside keepalived 2.4.3 built from test/peers (root).
bench-hmac:
	VIGIL_BENCH=1 $(GO) test ./test/e2e/ -run TestBenchmarkHMAC -v -count=1 -timeout 30m
	$(GO) test -run '^$$' -bench HMAC -benchmem -count 5 ./core/vrrp/

bench-bgp:
	VIGIL_BENCH=1 $(GO) test ./test/e2e/ -run TestBenchmarkBGP -v -count=1 -timeout 20m

# The local demo site in network namespaces (root): watch a failover.
demo:
	bash scripts/demo.sh

# Each fuzz target for FUZZTIME (default 5m), one after the other.
fuzz:
	$(GO) test ./core/vrrp/ -run '^$$' -fuzz '^FuzzUnmarshal$$' -fuzztime $(FUZZTIME)
	$(GO) test ./core/vrrp/ -run '^$$' -fuzz '^FuzzRoundTrip$$' -fuzztime $(FUZZTIME)
	$(GO) test ./core/vrrp/ -run '^$$' -fuzz '^FuzzHMACTrailer$$' -fuzztime $(FUZZTIME)
	$(GO) test ./core/fsm/ -run '^$$' -fuzz '^FuzzMachine$$' -fuzztime $(FUZZTIME)
	$(GO) test ./core/policy/ -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	$(GO) test ./core/kaimport/ -run '^$$' -fuzz '^FuzzImport$$' -fuzztime $(FUZZTIME)

clean:
	rm -rf $(BIN)

# Regenerate the plugin protocol's Go code (committed). Needs protoc
# (apt-get install protobuf-compiler) and:
#   go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
#   go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
proto:
	PATH="$$PATH:$$(go env GOPATH)/bin" protoc --go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative sdk/internal/proto/v1/plugin.proto
