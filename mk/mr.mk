# MapReduce (issue 6): lib/mr, mrcoordinator, mrworker, mrsequential, the apps (shared objects
# in $(BIN)/mrapps), the test corpus generator, the lab's test-mr.sh and `make bench-mr`.

$(eval $(call LIBRARY,mr))
LINK_MR := $(call lib_a,mr) $(call lib_a,metrics) $(LINK_RPC)

$(eval $(call PROGRAM,mrcoordinator,$(wildcard daemons/mrcoordinator/*.c),$(LINK_MR)))
$(eval $(call PROGRAM,mrworker,$(wildcard daemons/mrworker/*.c),$(LINK_MR)))
$(eval $(call PROGRAM,mrsequential,$(wildcard client/mrsequential/*.c),$(LINK_MR)))

# ---- apps: mrapps/<name>.c (+ the helpers in mrapps/common/) -> $(BIN)/mrapps/<name>.so ----
# Same CFLAGS as everything else (so SANITIZE=1 apps match the sanitized worker), plus -fPIC;
# only the MR_APP_EXPORT symbols are visible.
mr_pic = $(patsubst %.c,$(OUT)/pic/%.o,$(1))
MR_APPS := $(basename $(notdir $(wildcard mrapps/*.c)))
MR_APP_SOS := $(patsubst %,$(BIN)/mrapps/%.so,$(MR_APPS))
MR_APPKIT := $(call mr_pic,$(wildcard mrapps/common/*.c))

$(OUT)/pic/%.o: %.c | $(GEN_H)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fPIC -fvisibility=hidden -c $< -o $@

$(BIN)/mrapps/%.so: $(OUT)/pic/mrapps/%.o $(MR_APPKIT)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -shared -o $@ $^

# Broken apps for the loader's error paths (test/mr/test-mr-cli.sh).
MR_FIXTURES := $(patsubst test/mr/fixtures/%.c,$(OUT)/test/mrfix/%.so,$(wildcard test/mr/fixtures/*.c))
$(OUT)/test/mrfix/%.so: $(OUT)/pic/test/mr/fixtures/%.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -shared -o $@ $^

ALL_OBJS += $(call mr_pic,$(wildcard mrapps/*.c mrapps/common/*.c test/mr/fixtures/*.c))

# ---- the deterministic corpus generator (tests and benchmark) -------------------------------
MR_GEN := $(OUT)/test/mr-gen-corpus
$(MR_GEN): $(call obj,test/mr/gen-corpus.c) $(call lib_a,base)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS)
ALL_OBJS += $(call obj,test/mr/gen-corpus.c)

PROGRAMS += $(MR_APP_SOS) $(MR_GEN) $(MR_FIXTURES)

# ---- unit tests that need lib/mr (the generic rule links LINK_ECHO only) --------------------
MR_UNIT_BINS := $(filter $(OUT)/test/test_mr_%,$(UNIT_BINS))
$(MR_UNIT_BINS): $(OUT)/test/%: $(OUT)/obj/test/unit/%.o $(UNIT_MAIN) $(call lib_a,mr) $(LINK_RPC)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS) $(CHECKLIBS)

TEST_PROGRAMS += test/mr/test-mr-cli.sh test/mr/test-mr.sh

# ---- benchmark: word count over >= 200 MB --------------------------------------------------
.PHONY: bench-mr
bench-mr: $(BIN)/mrsequential $(BIN)/mrcoordinator $(BIN)/mrworker $(BIN)/mrapps/wc.so $(MR_GEN)
	@BIN=$(BIN) OUT=$(OUT) scripts/bench-mr.sh
