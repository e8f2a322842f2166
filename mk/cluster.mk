# test/cluster: the multi-process fault-injection harness (docs/CLUSTER-TESTS.md) and its suites:
# test/cluster/test_<name>.c -> $(OUT)/test/cluster_<name>. The harness is every other .c there.
CLUSTER_SRCS := $(filter-out test/cluster/test_%.c,$(wildcard test/cluster/*.c))
# (and the power-cut tool's cut, test/powercut/apply.c: cluster_power_cut; mk/powercut.mk, which
# names it POWERCUT_APPLY, is read after this file)
CLUSTER_OBJS := $(call obj,$(CLUSTER_SRCS) test/powercut/apply.c)
CLUSTER_TESTS := $(patsubst test/cluster/test_%.c,$(OUT)/test/cluster_%,$(wildcard test/cluster/test_*.c))
ALL_OBJS += $(CLUSTER_OBJS) $(call obj,$(wildcard test/cluster/test_*.c))

$(OUT)/test/cluster_%: $(call obj,test/cluster/test_%.c) $(UNIT_MAIN) $(CLUSTER_OBJS) \
		$(TEST_SUPPORT) $(LINK_ECHO)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS) $(CHECKLIBS)

# The raftd suite's clients are raftd's layer on the clerk engine (client/raftclerk).
$(OUT)/test/cluster_raftd_cluster: $(call obj,test/cluster/test_raftd_cluster.c) $(UNIT_MAIN) \
		$(CLUSTER_OBJS) $(TEST_SUPPORT) $(call obj,client/raftclerk/raftclerk.c) \
		$(call lib_a,clerk) $(LINK_ECHO)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS) $(CHECKLIBS)

# Suites that run raftd need it built first (they find it through $BIN).
$(filter $(OUT)/test/cluster_raftd_%,$(CLUSTER_TESTS)): | $(BIN)/raftd

PROGRAMS += $(CLUSTER_TESTS)
TEST_PROGRAMS += $(CLUSTER_TESTS)
