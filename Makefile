# techledger: thin wrapper around CMake. Every target installs missing Debian packages first,
# so a fresh machine needs only `make run` and `make test`.

BUILD      ?= build
TEST_BUILD ?= build-test
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
DATA       ?= demo-data
LISTEN     ?= 127.0.0.1:8080

.PHONY: all deps run test bench fuzz clean

all: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@./scripts/deps.sh

# Builds with AddressSanitizer and UndefinedBehaviorSanitizer and runs every test.
test: deps
	@./scripts/deps.sh chromium fonts-wqy-microhei
	cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTL_SANITIZE=ON >/dev/null
	cmake --build $(TEST_BUILD) -j $(JOBS)
	cd $(TEST_BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

# Creates the demonstration ledger if it is absent, then serves it.
run: all
	@./scripts/run.sh $(BUILD)/techledger $(DATA) $(LISTEN)

bench: all
	@./scripts/deps.sh postgresql nginx wrk
	$(BUILD)/techledger bench --out bench/results

fuzz: deps
	@./scripts/deps.sh clang libclang-rt-14-dev
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTL_FUZZ=ON >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	./scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(TEST_BUILD) $(FUZZ_BUILD)
