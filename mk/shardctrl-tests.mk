# test/cluster/test_shardctrl_lab5a.c: the 6.5840 Lab 5A shard controller tests on real
# shardctrld processes (docs/CLUSTER-TESTS.md). mk/cluster.mk's CLUSTER_TESTS already puts
# $(OUT)/test/cluster_shardctrl_lab5a in make test; this is its link (the controller clerk,
# LINK_CLERK; labcheck's KV_TEST_ONLY filter) and the daemon it runs.
SHARDCTRL_LAB_TESTS := $(OUT)/test/cluster_shardctrl_lab5a

$(SHARDCTRL_LAB_TESTS): $(OUT)/test/cluster_%: $(call obj,test/cluster/test_%.c) $(UNIT_MAIN) \
		$(CLUSTER_OBJS) $(TEST_SUPPORT) $(call obj,test/kv/labcheck.c) $(LINK_CLERK) \
		$(LINK_ECHO) | $(BIN)/shardctrld
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$+) $(SYSLIBS) $(CHECKLIBS)
