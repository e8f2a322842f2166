# test/kv: the 6.5840 Lab 2 (kvsrv) and Lab 4 (kvraft) scenarios on real kvd processes
# (docs/KV-TESTS.md): test/kv/test_<name>.c -> $(OUT)/test/kv_<name>, linked with the shared
# test library test/kv/kvtest.c, the test/cluster harness (mk/cluster.mk's CLUSTER_OBJS),
# lincheck, lib/clerk and lib/storage (to read a stopped node's snapshot size).
#
#   make test           runs them short (KV_TEST_SECONDS unset: 1 s client rounds)
#   make test-long-kv   runs them at the lab's length (5 s per iteration)
KVTEST_OBJS := $(call obj,test/kv/kvtest.c test/kv/labcheck.c)
KV_TESTS := $(patsubst test/kv/test_%.c,$(OUT)/test/kv_%,$(wildcard test/kv/test_*.c))
ALL_OBJS += $(KVTEST_OBJS) $(call obj,$(wildcard test/kv/test_*.c))

$(OUT)/test/kv_%: $(call obj,test/kv/test_%.c) $(UNIT_MAIN) $(KVTEST_OBJS) $(CLUSTER_OBJS) \
		$(TEST_SUPPORT) $(LINK_LINCHECK) $(LINK_CLERK) $(LINK_STORAGE) $(LINK_ECHO) \
		| $(BIN)/kvd
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$+) $(SYSLIBS) $(CHECKLIBS)

PROGRAMS += $(KV_TESTS)
TEST_PROGRAMS += $(KV_TESTS) test/kv/test-lab4-tls-restricted.sh

# The power-cut suite preloads the shim into every kvd (test/cluster's CLUSTER_POWERCUT).
$(OUT)/test/kv_kvd_powercut: | $(OUT)/test/libpowercut.so

.PHONY: test-long-kv
test-long-kv: $(KV_TESTS) $(BIN)/kvd
	@BIN=$(BIN) MODE=$(MODE) KV_TEST_SECONDS=5 TEST_TIME_LIMIT=3600 test/run-all.sh $(KV_TESTS)
