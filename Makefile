# One non-recursive Makefile for the whole tree.
#
#   make                 build every library, binary (bin/) and test
#   make test            run every test suite; ends with "N passed, M failed"
#   make SANITIZE=1 test the same under AddressSanitizer + UBSan (objects in build/asan/)
#   make fuzz            run each fuzz target for FUZZ_SECONDS (default 60)
#   make bench-rpc       rpcbench beside redis-benchmark
#   make bench-raft / bench-mr / bench-kv / bench-shard-move, make run / stop, make image, make certs,
#   make test-long
#   make deps            install missing Debian packages (make and make test do it by themselves)

SHELL := /bin/bash

ifeq ($(SANITIZE),1)
MODE := asan
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
BIN := build/asan/bin
else
MODE := release
SANFLAGS :=
BIN := bin
endif

OUT := build/$(MODE)
GEN := build/gen

CC ?= cc
CFLAGS ?= -O2 -g
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $(SANFLAGS) -Ilib -Itest/support -I$(GEN) -MMD -MP
override LDFLAGS += $(SANFLAGS)
SYSLIBS := -levent -levent_openssl -lssl -lcrypto -lprotobuf-c -llmdb -linih -lm
CHECKLIBS := -lcheck_pic -lsubunit -lrt -lm -lpthread

# Install missing packages before anything reads them (skipped for targets that need none).
NODEPS_GOALS := deps clean help
ifeq ($(filter $(NODEPS_GOALS),$(MAKECMDGOALS)),)
ifneq ($(shell scripts/deps.sh --check build >/dev/null 2>&1 && echo ok),ok)
$(info Build dependencies are missing; installing them (this is what 'make deps' does)...)
ifneq ($(shell scripts/deps.sh build >&2 && echo ok),ok)
$(error installing build dependencies failed; run 'make deps' to see why)
endif
endif
endif

.PHONY: all deps test clean fuzz bench-rpc help FORCE
all:

# ---- the version every program prints for --version (lib/base/config.c) -----------------------
# The VERSION file, plus "+g<commit>" (".dirty" with uncommitted changes) in a git checkout.
# build/gen/version.h is rewritten only when that string changes, so only then is config.o
# (and what links it) rebuilt.
RAFTKV_VERSION := $(shell cat VERSION)$(if $(wildcard .git),$(shell git describe --always \
	--dirty=.dirty --abbrev=7 --exclude='*' 2>/dev/null | sed 's/^/+g/'))
$(GEN)/version.h: FORCE
	@mkdir -p $(@D)
	@v='#define RAFTKV_VERSION "$(RAFTKV_VERSION)"'; echo "$$v" | cmp -s - $@ || echo "$$v" >$@

# ---- generated protobuf code -------------------------------------------------------------------
PROTOS := $(wildcard proto/*.proto)
GEN_C := $(patsubst proto/%.proto,$(GEN)/%.pb-c.c,$(PROTOS))
GEN_H := $(GEN_C:.c=.h)

# Keep generated sources and intermediate objects (make would delete them as intermediates).
.SECONDARY:
$(GEN)/%.pb-c.c $(GEN)/%.pb-c.h: proto/%.proto
	@mkdir -p $(GEN)
	protoc-c --c_out=$(GEN) -Iproto $<

# ---- objects -----------------------------------------------------------------------------------
obj = $(patsubst %.c,$(OUT)/obj/%.o,$(1))

$(OUT)/obj/%.o: %.c | $(GEN_H)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

# ---- libraries: lib/<name>/*.c -> $(OUT)/lib/lib<name>.a -------------------------------------
LIBS := base rpc tlsopt echo
lib_a = $(OUT)/lib/lib$(1).a

define LIBRARY
$(call lib_a,$(1)): $(call obj,$(wildcard lib/$(1)/*.c))
	@mkdir -p $$(@D)
	$$(AR) rcs $$@ $$^
ALL_OBJS += $(call obj,$(wildcard lib/$(1)/*.c))
endef
$(foreach l,$(LIBS),$(eval $(call LIBRARY,$(l))))
$(call obj,lib/base/config.c): $(GEN)/version.h

$(call lib_a,proto): $(call obj,$(GEN_C))
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

# Link order: dependants first.
LINK_RPC := $(call lib_a,tlsopt) $(call lib_a,rpc) $(call lib_a,proto) $(call lib_a,base)
LINK_ECHO := $(call lib_a,echo) $(LINK_RPC)
# The link lists of the Raft stack, defined here so every fragment can use them whatever the
# order in which the fragments are read.
LINK_RAFT := $(call lib_a,raft) $(call lib_a,base)
LINK_STORAGE := $(call lib_a,storage) $(LINK_RAFT)
LINK_REPLICA := $(call lib_a,replica) $(LINK_STORAGE)
LINK_NODE := $(call lib_a,node) $(call lib_a,metrics) $(call lib_a,replica) $(call lib_a,storage) $(call lib_a,raft) \
	$(LINK_RPC)
LINK_SESSION := $(call lib_a,session) $(call lib_a,base)
LINK_KV := $(call lib_a,kv) $(call lib_a,session) $(LINK_NODE)
LINK_SHARDCTRL := $(call lib_a,shardctrl) $(call lib_a,session) $(call lib_a,base)
LINK_SHARDCTRLD := $(call lib_a,shardctrl) $(call lib_a,session) $(LINK_NODE)
LINK_SHARDKVD := $(call lib_a,shardkv) $(call lib_a,clerk) $(call lib_a,kv) $(call lib_a,shardctrl) \
	$(call lib_a,session) $(LINK_NODE)
LINK_CLERK := $(call lib_a,clerk) $(call lib_a,shardctrl) $(call lib_a,session) $(LINK_RPC)
LINK_LINCHECK := $(OUT)/lib/liblincheck.a

# ---- programs ----------------------------------------------------------------------------------
# PROGRAM(name, sources, libraries)
define PROGRAM
$(BIN)/$(1): $(call obj,$(2)) $(3)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(SYSLIBS)
PROGRAMS += $(BIN)/$(1)
ALL_OBJS += $(call obj,$(2))
endef

$(eval $(call PROGRAM,rpcbench,$(wildcard client/rpcbench/*.c),$(LINK_ECHO)))

# ---- unit tests: test/unit/test_<name>.c -> $(OUT)/test/test_<name> --------------------------
UNIT_SRCS := $(wildcard test/unit/test_*.c)
UNIT_BINS := $(patsubst test/unit/%.c,$(OUT)/test/%,$(UNIT_SRCS))
UNIT_MAIN := $(call obj,test/unit/check_main.c)
TEST_SUPPORT := $(call obj,$(wildcard test/support/*.c))
ALL_OBJS += $(call obj,$(UNIT_SRCS)) $(UNIT_MAIN) $(TEST_SUPPORT)

$(OUT)/test/test_%: $(call obj,test/unit/test_%.c) $(UNIT_MAIN) $(TEST_SUPPORT) $(LINK_ECHO)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS) $(CHECKLIBS)

TEST_PROGRAMS := $(UNIT_BINS)

# Module fragments (mk/<module>.mk) add programs, libraries and tests with the macros above:
# PROGRAMS += ..., TEST_PROGRAMS += <program or script printing "RESULT n passed, m failed">.
include $(sort $(wildcard mk/*.mk))

all: $(PROGRAMS) $(UNIT_BINS)

# Test programs see BIN (where the binaries are) and MODE (release or asan) in the environment.
# The test set's packages (promtool and Prometheus for test/metrics) are installed first.
# TEST_JOBS programs run at once (2), each in its own port range (test/run-all.sh); this run's
# wall times go to $(OUT)/test-times.txt (copy it to test/test-times.txt to reorder runs).
TEST_JOBS ?= 2
test: all
	@scripts/deps.sh test
	@BIN=$(BIN) MODE=$(MODE) TEST_JOBS=$(TEST_JOBS) TEST_TIMES_OUT=$(OUT)/test-times.txt \
		test/run-all.sh $(TEST_PROGRAMS)

# ---- fuzzing (clang + libFuzzer) -------------------------------------------------------------
FUZZ_SECONDS ?= 60
FUZZ_OUT := build/fuzz
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -O1 -g -Ilib -I$(GEN) -fsanitize=fuzzer,address,undefined
FUZZ_TARGETS := $(patsubst test/fuzz/%.c,$(FUZZ_OUT)/%,$(wildcard test/fuzz/fuzz_*.c))
FUZZ_LIB_SRCS := $(wildcard lib/base/*.c lib/rpc/*.c)

$(FUZZ_OUT)/%: test/fuzz/%.c $(FUZZ_LIB_SRCS) $(GEN_C) $(GEN_H) $(GEN)/version.h
	@scripts/deps.sh fuzz
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_LIB_SRCS) $(GEN_C) $(SYSLIBS)

fuzz: $(FUZZ_TARGETS)
	@test/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# ---- benchmarks --------------------------------------------------------------------------------
bench-rpc: $(BIN)/rpcbench
	@scripts/deps.sh bench-rpc
	@scripts/bench-rpc.sh $(BIN)/rpcbench

# ---- housekeeping ------------------------------------------------------------------------------
deps:
	scripts/deps.sh build

clean:
	rm -rf build bin

help:
	@sed -n '3,10p' Makefile

-include $(ALL_OBJS:.o=.d)
