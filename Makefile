# luahub — see README.md. `make run` and `make test` are the two front-door commands.
CC      ?= cc
PKGS    := luajit libcrypto zlib hiredis
CFLAGS  ?= -O2 -g
# Project flags live apart from CFLAGS so `make CFLAGS=...` (asan) keeps them. Deferred
# (=, not :=): on a fresh machine pkg-config and the -dev packages arrive with the deps
# target, after this file was read.
WFLAGS   = -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
           -D_GNU_SOURCE $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# -Wl,-E exports the core's lh_* functions so the LuaJIT FFI finds them in the binary.
LDLIBS   = -Wl,-E $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lev -lwslay -lhttp_parser -lm -ldl

BUILD   ?= build
SRCS    := $(wildcard core/*.c)
OBJS    := $(SRCS:core/%.c=$(BUILD)/obj/%.o)
BIN     := $(BUILD)/luahub
SCRIPT  ?= hub.lua
LISTEN  ?= 127.0.0.1:8080

.PHONY: all deps run test asan soak bench fuzz fuzz-deps install clean

all: deps $(BIN)

# deps.sh is a no-op when every package is present; it installs only what is missing.
deps:
	@scripts/deps.sh build

$(BUILD)/obj/%.o: core/%.c $(wildcard core/*.h) | $(BUILD)/obj
	$(CC) $(WFLAGS) $(CFLAGS) -c $< -o $@

$(BIN): $(OBJS)
	$(CC) $(WFLAGS) $(CFLAGS) $(LDFLAGS) $(OBJS) $(LDLIBS) -o $@

$(BUILD)/obj $(BUILD)/ctest:
	@mkdir -p $@

# C unit tests: each spec/c/*_test.c links against the core minus main.
CTESTS  := $(patsubst spec/c/%.c,$(BUILD)/ctest/%,$(wildcard spec/c/*_test.c))
$(BUILD)/ctest/%: spec/c/%.c spec/c/check.h $(filter-out $(BUILD)/obj/main.o,$(OBJS)) | $(BUILD)/ctest
	$(CC) $(WFLAGS) $(CFLAGS) -Icore $(LDFLAGS) $< $(filter-out $(BUILD)/obj/main.o,$(OBJS)) $(LDLIBS) -o $@

run: all
	$(BIN) --listen $(LISTEN) $(SCRIPT)

test: all $(CTESTS)
	@scripts/deps.sh test
	@LUAHUB_BIN=$(abspath $(BIN)) CTEST_DIR=$(BUILD)/ctest scripts/test.sh

# Same specs against an ASan+UBSan build (kept apart in build/asan).
ASAN_CFLAGS  := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_LDFLAGS := -fsanitize=address,undefined
asan:
	@$(MAKE) --no-print-directory test BUILD=build/asan CFLAGS="$(ASAN_CFLAGS)" LDFLAGS="$(ASAN_LDFLAGS)"

# Long load against the ASan+UBSan server for SOAK_MINUTES (2); not part of `make test`.
# See scripts/soak.lua and docs/operations.md.
soak: deps
	@$(MAKE) --no-print-directory build/asan/luahub BUILD=build/asan CFLAGS="$(ASAN_CFLAGS)" LDFLAGS="$(ASAN_LDFLAGS)"
	@scripts/deps.sh test
	@LUAHUB_BIN=$(abspath build/asan/luahub) scripts/soak.sh

# libFuzzer targets (spec/fuzz/*_fuzz.c) with clang: the core is built apart in
# $(BUILD)/fuzz/obj with coverage and ASan+UBSan; scripts/fuzz.sh runs each target for
# FUZZ_SECONDS and fails on any crash. The seed replay runs in `make test`
# (spec/c/fuzz_seeds_test.c).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_FLAGS   := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_OBJS    := $(filter-out $(FUZZ_DIR)/obj/main.o,$(SRCS:core/%.c=$(FUZZ_DIR)/obj/%.o))
FUZZ_BINS    := $(patsubst spec/fuzz/%.c,$(FUZZ_DIR)/%,$(wildcard spec/fuzz/*_fuzz.c))

$(FUZZ_DIR)/obj/%.o: core/%.c $(wildcard core/*.h) | fuzz-deps $(FUZZ_DIR)/obj
	$(FUZZ_CC) $(WFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BINS): $(FUZZ_DIR)/%: spec/fuzz/%.c spec/fuzz/fuzz.h $(FUZZ_OBJS)
	$(FUZZ_CC) $(WFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer -Icore $< $(FUZZ_OBJS) $(LDLIBS) -o $@

$(FUZZ_DIR)/obj:
	@mkdir -p $@

fuzz-deps:
	@scripts/deps.sh fuzz

# The seed replay includes every target's source.
$(BUILD)/ctest/fuzz_seeds_test: $(wildcard spec/fuzz/*.c spec/fuzz/*.h)

fuzz: $(FUZZ_BINS)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh $(FUZZ_BINS)

# bench.sh builds the load generator that bench-cluster.sh (two nodes + a broker) uses.
bench: all
	@scripts/bench.sh
	@scripts/bench-echo.sh
	@scripts/bench-cluster.sh

install: all
	install -D -m 755 $(BIN) $(DESTDIR)/usr/local/bin/luahub
	mkdir -p $(DESTDIR)/usr/local/share/luahub && cp -r lua $(DESTDIR)/usr/local/share/luahub/

clean:
	rm -rf build
