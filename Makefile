# orgaudit — build, test and demo.
#
# SAM builds each function with `make build-<LogicalId>` (BuildMethod: makefile)
# and sets ARTIFACTS_DIR; the same rule builds host binaries for the local
# end-to-end run when GOARCH is overridden.

GO          ?= go
GOARCH      ?= arm64
GOOS        ?= linux
ARTIFACTS_DIR ?= $(CURDIR)/.build/$*
LAMBDA_FLAGS = -tags lambda.norpc -trimpath -ldflags "-s -w"

.PHONY: demo test fuzz unit e2e bench lint build build-lambdas clean

## demo: audit a realistic simulated organization on the embedded simulator
demo:
	$(GO) run ./cmd/orgaudit run --demo --include-accounts

## test: every test (unit, integration against the simulator, end to end),
## then a short fuzz run
test:
	$(GO) test -count=1 ./...
	$(MAKE) fuzz

## fuzz: explore each fuzz target of the run input for FUZZTIME, one at a
## time, from the committed seed corpora (internal/runinput/testdata/fuzz).
## A count of inputs rather than a duration: when a duration runs out, Go
## 1.26's fuzzing coordinator can fail a target with a bare "context deadline
## exceeded" and no failing input (go.dev/issue/75804). 200000x is about
## 10-20 s a target on two cores. Minimising each new input the fuzzer keeps
## is bounded by FUZZMINIMIZE executions too: left to its default (60 s an
## input), it can stall a busy machine for minutes.
FUZZTIME ?= 200000x
FUZZMINIMIZE ?= 2000x
FUZZFLAGS = -run '^$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE)
fuzz:
	$(GO) test $(FUZZFLAGS) -fuzz '^FuzzParse$$' ./internal/runinput
	$(GO) test $(FUZZFLAGS) -fuzz '^FuzzValidRunID$$' ./internal/runinput
	$(GO) test $(FUZZFLAGS) -fuzz '^FuzzValidEntityPath$$' ./internal/runinput
	$(GO) test $(FUZZFLAGS) -fuzz '^FuzzValidPolicyID$$' ./internal/runinput

## e2e: the deployed shape end to end (part of test): Lambda binaries under
## aws-lambda-rie, the real state machine under aws-local-stepfunctions
e2e:
	$(GO) test -count=1 -v ./internal/e2e/...

## bench: the quota-scale benchmark (1,000 OUs, 10,000 accounts), the rows at IAM's own
## latency over a network and seven nights of the schedule (about three hours,
## not part of test). It prints the tables of docs/benchmarks.md.
bench:
	$(GO) run ./internal/bench/cmd/orgaudit-bench

build:
	$(GO) build ./...

# build-StartFunction, build-CheckFunction, build-StoreFunction
build-%Function:
	mkdir -p $(ARTIFACTS_DIR)
	GOOS=$(GOOS) GOARCH=$(GOARCH) CGO_ENABLED=0 $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/$(shell echo $* | tr A-Z a-z)

build-lambdas: build-StartFunction build-CheckFunction build-StoreFunction

lint:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

clean:
	rm -rf .build
