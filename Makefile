# luahub — see README.md. `make run` and `make test` are the two front-door commands.
CC      ?= cc
PKGS    := luajit libcrypto zlib hiredis libcurl liburing
CFLAGS  ?= -O2 -g
# Project flags live apart from CFLAGS so `make CFLAGS=...` (asan) keeps them. Deferred
# (=, not :=): on a fresh machine pkg-config and the -dev packages arrive with the deps
# target, after this file was read.
WFLAGS   = -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
           -D_GNU_SOURCE $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# -Wl,-E exports the core's lh_* functions so the LuaJIT FFI finds them in the binary.
LDLIBS   = -Wl,-E $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lev -lwslay -lhttp_parser -lm -ldl -lpthread

BUILD   ?= build
SRCS    := $(wildcard core/*.c)
GEN     := $(BUILD)/gen
# Compiled into the binary (scripts/embed.lua, core/embedded.h): the runtime modules, so a
# copied binary needs nothing beside it, and the starter project of `luahub new`.
LUA_MODULES := $(wildcard lua/luahub/*.lua lua/luahub/protocol/* lua/luahub/admin/*)
SCAFFOLD    := $(shell find scaffold -type f | sort)
EMBEDDED    := embedded_lua embedded_scaffold
OBJS    := $(SRCS:core/%.c=$(BUILD)/obj/%.o) $(EMBEDDED:%=$(BUILD)/obj/%.o)
CORE_OBJS := $(filter-out $(BUILD)/obj/main.o,$(OBJS))
BIN     := $(BUILD)/luahub
CONTRACT_SRC := core/lh_api.h core/lh_errors.h core/config_keys.h core/config.h
CONTRACT_OUT := lua/luahub/contract.lua docs/lua-api.md
SCRIPT  ?= hub.lua
LISTEN  ?= 127.0.0.1:8080

.PHONY: all deps run test asan soak bench bench-tools fuzz fuzz-deps install clean

all: deps $(CONTRACT_OUT) $(BIN)

# deps.sh is a no-op when every package is present; it installs only what is missing.
deps:
	@scripts/deps.sh build

# The C-Lua contract: lua/luahub/contract.lua (the FFI declarations, error codes, config
# schema) and the tables of docs/lua-api.md are made from the headers that define it, so
# a function, a code or a key is changed in its header only. `make test` runs the
# "contract" suite, which fails when either file differs from what the headers make.
$(CONTRACT_OUT) &: $(CONTRACT_SRC) scripts/gen_contract.lua
	luajit scripts/gen_contract.lua

$(BUILD)/obj/%.o: core/%.c $(wildcard core/*.h) | $(BUILD)/obj
	$(CC) $(WFLAGS) $(CFLAGS) -c $< -o $@

$(GEN)/embedded_lua.c: $(LUA_MODULES) scripts/embed.lua Makefile | $(GEN)
	luajit scripts/embed.lua $@ embedded_lua lua $(LUA_MODULES)

$(GEN)/embedded_scaffold.c: $(SCAFFOLD) scripts/embed.lua | $(GEN)
	luajit scripts/embed.lua $@ embedded_scaffold scaffold $(SCAFFOLD)

$(BUILD)/obj/embedded_%.o: $(GEN)/embedded_%.c core/embedded.h | $(BUILD)/obj
	$(CC) $(WFLAGS) $(CFLAGS) -Icore -c $< -o $@

$(BIN): $(OBJS)
	$(CC) $(WFLAGS) $(CFLAGS) $(LDFLAGS) $(OBJS) $(LDLIBS) -o $@

$(BUILD)/obj $(BUILD)/ctest $(GEN):
	@mkdir -p $@

# C unit tests: each spec/c/*_test.c links against the core minus main.
CTESTS  := $(patsubst spec/c/%.c,$(BUILD)/ctest/%,$(wildcard spec/c/*_test.c))
$(BUILD)/ctest/%: spec/c/%.c $(wildcard spec/c/*.h spec/fuzz/*.h) $(CORE_OBJS) | $(BUILD)/ctest
	$(CC) $(WFLAGS) $(CFLAGS) -Icore $(LDFLAGS) $< $(CORE_OBJS) $(LDLIBS) -o $@

# outbound_http_test plays the task runner (task.h) itself, so it links its module and
# the leaves that module uses instead of the whole core.
OUTBOUND_HTTP_TESTED := $(addprefix $(BUILD)/obj/,outbound_http.o config.o metrics.o log.o)
$(BUILD)/ctest/outbound_http_test: spec/c/outbound_http_test.c spec/c/check.h $(OUTBOUND_HTTP_TESTED) | $(BUILD)/ctest
	$(CC) $(WFLAGS) $(CFLAGS) -Icore $(LDFLAGS) $< $(OUTBOUND_HTTP_TESTED) $(LDLIBS) -o $@

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
FUZZ_OBJS    := $(filter-out $(FUZZ_DIR)/obj/main.o,$(SRCS:core/%.c=$(FUZZ_DIR)/obj/%.o)) \
                $(EMBEDDED:%=$(FUZZ_DIR)/obj/%.o)
FUZZ_BINS    := $(patsubst spec/fuzz/%.c,$(FUZZ_DIR)/%,$(wildcard spec/fuzz/*_fuzz.c))

$(FUZZ_DIR)/obj/%.o: core/%.c $(wildcard core/*.h) | fuzz-deps $(FUZZ_DIR)/obj
	$(FUZZ_CC) $(WFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BINS): $(FUZZ_DIR)/%: spec/fuzz/%.c spec/fuzz/fuzz.h $(FUZZ_OBJS)
	$(FUZZ_CC) $(WFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer -Icore $< $(FUZZ_OBJS) $(LDLIBS) -o $@

$(FUZZ_DIR)/obj/embedded_%.o: $(GEN)/embedded_%.c core/embedded.h | fuzz-deps $(FUZZ_DIR)/obj
	$(FUZZ_CC) $(WFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -Icore -c $< -o $@

$(FUZZ_DIR)/obj:
	@mkdir -p $@

fuzz-deps:
	@scripts/deps.sh fuzz

# The seed replay includes every target's source.
$(BUILD)/ctest/fuzz_seeds_test: $(wildcard spec/fuzz/*.c spec/fuzz/*.h)

fuzz: $(FUZZ_BINS)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh $(FUZZ_BINS)

# Benchmark tools (bench/), built with the project's flags into $(BUILD)/bench: the load
# generator, the raw C baseline server and wsfeed (the wslay glue's receive cost, linked
# with the core minus main like the C tests). bench/common holds the handshake arithmetic
# the first two share. The scripts run these binaries and never compile anything.
BENCH_DIR     := $(BUILD)/bench
BENCH_OBJ     := $(BENCH_DIR)/obj
BENCH_HDRS    := $(wildcard bench/*/*.h)
COMMON_OBJS   := $(patsubst bench/%.c,$(BENCH_OBJ)/%.o,$(wildcard bench/common/*.c))
LOADGEN_OBJS  := $(patsubst bench/%.c,$(BENCH_OBJ)/%.o,$(wildcard bench/loadgen/*.c))
LOADGEN       := $(BENCH_DIR)/luahub-loadgen
BASELINE      := $(BENCH_DIR)/baseline
WSFEED        := $(BENCH_DIR)/wsfeed
BACKEND       := $(BENCH_DIR)/backend
HTTPLOAD      := $(BENCH_DIR)/luahub-httpload

$(BENCH_OBJ)/%.o: bench/%.c $(BENCH_HDRS)
	@mkdir -p $(@D)
	$(CC) $(WFLAGS) $(CFLAGS) -Ibench/common -c $< -o $@

$(LOADGEN): $(LOADGEN_OBJS) $(COMMON_OBJS)
	$(CC) $(WFLAGS) $(CFLAGS) $(LDFLAGS) $^ -lcrypto -lm -o $@

$(BASELINE): $(BENCH_OBJ)/baseline/baseline.o $(COMMON_OBJS)
	$(CC) $(WFLAGS) $(CFLAGS) $(LDFLAGS) $^ -lcrypto -luring -o $@

# The load generator's parser, stamps, histogram and socket owner lookup are checked with the C unit tests
# (make test), linked from its objects instead of the core's.
LOADGEN_TESTED := $(addprefix $(BENCH_OBJ)/loadgen/,wsframe.o payload.o hist.o pframe.o procstat.o)
$(BUILD)/ctest/loadgen_test: spec/c/loadgen_test.c spec/c/check.h $(LOADGEN_TESTED) | $(BUILD)/ctest
	$(CC) $(WFLAGS) $(CFLAGS) -Ibench/loadgen $(LDFLAGS) $< $(LOADGEN_TESTED) -o $@

# The outbound case: the HTTP backend hub.http.request calls, and the HTTP load client
# that measures it directly (with the loadgen's histogram and /proc readers).
$(BACKEND): $(patsubst bench/%.c,$(BENCH_OBJ)/%.o,$(wildcard bench/backend/*.c))
	$(CC) $(WFLAGS) $(CFLAGS) $(LDFLAGS) $^ -o $@

$(BENCH_OBJ)/httpload/%.o: bench/httpload/%.c $(BENCH_HDRS)
	@mkdir -p $(@D)
	$(CC) $(WFLAGS) $(CFLAGS) -Ibench/loadgen -c $< -o $@

$(HTTPLOAD): $(patsubst bench/%.c,$(BENCH_OBJ)/%.o,$(wildcard bench/httpload/*.c)) \
             $(addprefix $(BENCH_OBJ)/loadgen/,cli.o hist.o procstat.o)
	$(CC) $(WFLAGS) $(CFLAGS) $(LDFLAGS) $^ -o $@

$(WSFEED): bench/wsfeed/wsfeed.c $(wildcard core/*.h) $(CORE_OBJS)
	@mkdir -p $(@D)
	$(CC) $(WFLAGS) $(CFLAGS) -Icore $(LDFLAGS) $< $(CORE_OBJS) $(LDLIBS) -o $@

bench-tools: $(LOADGEN) $(BASELINE) $(WSFEED) $(BACKEND) $(HTTPLOAD)

# bench-cluster.sh runs two nodes and a broker; each script skips what is not installed.
# bench-outbound.sh measures hub.http.request against build/bench/backend.
# bench-shared.sh: hub.shared against a Lua table, from a script the server runs.
# bench-history.sh: fan-out through hub.publish with room history off and on.
# bench-workers.sh: 100,000 idle connections on `luahub --workers 8`, a broadcast, a worker killed.
# plot.lua: every measurement file in $(BENCH_DIR) to docs/img/bench-*.svg and the
# generated results section of docs/benchmarks.md.
bench: all bench-tools
	@BUILD=$(BUILD) scripts/bench.sh
	@BUILD=$(BUILD) scripts/bench-echo.sh
	@BUILD=$(BUILD) scripts/bench-cluster.sh
	@BUILD=$(BUILD) scripts/bench-outbound.sh
	@BUILD=$(BUILD) scripts/bench-shared.sh
	@BUILD=$(BUILD) scripts/bench-history.sh
	@BUILD=$(BUILD) scripts/bench-storm.sh
	@BUILD=$(BUILD) scripts/bench-workers.sh
	@luajit scripts/plot.lua --img docs/img --doc docs/benchmarks.md $(BENCH_DIR)

# The server, and under share/lua/5.1 (on LuaJIT's default package.path for PREFIX
# /usr/local) the runtime modules, for reading (the binary runs its compiled-in copies)
# and the busted helpers `luahub.testing`. `make install PREFIX=/opt/luahub DESTDIR=pkg`
# for a package or another prefix (docs/testing.md: LUA_PATH for a prefix LuaJIT does
# not search).
PREFIX  ?= /usr/local
LUA_SHARE = $(DESTDIR)$(PREFIX)/share/lua/5.1/luahub
install: all
	install -D -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/luahub
	install -D -m 644 -t $(LUA_SHARE) $(wildcard lua/luahub/*.lua)
	install -D -m 644 -t $(LUA_SHARE)/protocol $(wildcard lua/luahub/protocol/*)
	install -D -m 644 -t $(LUA_SHARE)/testing lua/luahub/testing/*.lua
	install -D -m 644 -t $(LUA_SHARE)/admin $(wildcard lua/luahub/admin/*)

clean:
	rm -rf build
