# test/powercut: the power-cut test tool (docs/POWERCUT.md), never linked into a daemon.
#   $(OUT)/test/libpowercut.so  the shim, for LD_PRELOAD (POWERCUT_DIR, POWERCUT_JOURNAL, POWERCUT_EIO)
#   $(OUT)/test/powercut        the cut: powercut cut --dir D --journal J --seed N [--mode M]
# The tests that need the shim's interposition link its objects (POWERCUT_OBJS): its symbols in
# the executable interpose liblmdb's calls too. A harness that preloads the library into daemons
# links only the cut (POWERCUT_APPLY). make test-long runs 1,000 storage power cuts.
POWERCUT_APPLY := $(call obj,test/powercut/apply.c)
POWERCUT_OBJS := $(call obj,test/powercut/shim.c) $(POWERCUT_APPLY)
POWERCUT_CLI_OBJS := $(call obj,test/powercut/main.c) $(POWERCUT_APPLY)
ALL_OBJS += $(POWERCUT_OBJS) $(call obj,test/powercut/main.c)

# The preloaded library is built without the sanitizers, so that it loads into any program; an
# ASan program needs ASAN_OPTIONS=verify_asan_link_order=0 (or libasan first in LD_PRELOAD).
POWERCUT_PIC := $(OUT)/obj-pic/test/powercut/shim.o
$(POWERCUT_PIC): test/powercut/shim.c | $(GEN_H)
	@mkdir -p $(@D)
	$(CC) $(filter-out $(SANFLAGS),$(CFLAGS)) -fPIC -c $< -o $@
ALL_OBJS += $(POWERCUT_PIC)

$(OUT)/test/libpowercut.so: $(POWERCUT_PIC)
	@mkdir -p $(@D)
	$(CC) -shared -o $@ $^ -ldl -lpthread

$(OUT)/test/powercut: $(POWERCUT_CLI_OBJS) $(call lib_a,base)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^

PROGRAMS += $(OUT)/test/libpowercut.so $(OUT)/test/powercut

# Extra objects of the unit tests (the generic rule's and mk/raft.mk's test_storage rule).
$(OUT)/test/test_powercut: $(POWERCUT_OBJS) | $(OUT)/test/libpowercut.so $(OUT)/test/powercut
$(OUT)/test/test_storage: $(POWERCUT_OBJS)

.PHONY: test-long-powercut
test-long: test-long-powercut
test-long-powercut: $(OUT)/test/test_storage
	@BIN=$(BIN) MODE=$(MODE) STORAGE_CUTS=1000 CK_RUN_CASE=power_cut CK_TIMEOUT_MULTIPLIER=6 \
		TEST_TIME_LIMIT=3600 test/run-all.sh $(OUT)/test/test_storage
