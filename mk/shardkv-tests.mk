# The 6.5840 Lab 5 shardkv tests on real processes (docs/CLUSTER-TESTS.md, "The sharded
# store's suites"): test/cluster/test_shardkv_{lab5a,lab5b,challenge}.c ->
# $(OUT)/test/cluster_shardkv_{lab5a,lab5b,challenge}
# (in make test through mk/cluster.mk's CLUSTER_TESTS), linked with their config
# test/shardkv/skv{test,ops,workers}.c, the shard clerk (LINK_CLERK), lincheck, lib/storage (a down node's
# raft state and snapshot sizes), labcheck's KV_TEST_ONLY; they run shardctrld and shardkvd.
SKVTEST_OBJS := $(call obj,test/shardkv/skvtest.c test/shardkv/skvops.c test/shardkv/skvworkers.c)
SHARDKV_LAB_TESTS := $(OUT)/test/cluster_shardkv_lab5a $(OUT)/test/cluster_shardkv_lab5b \
	$(OUT)/test/cluster_shardkv_challenge
ALL_OBJS += $(SKVTEST_OBJS)

$(SHARDKV_LAB_TESTS): $(OUT)/test/cluster_%: $(call obj,test/cluster/test_%.c) $(UNIT_MAIN) \
		$(SKVTEST_OBJS) $(CLUSTER_OBJS) $(TEST_SUPPORT) $(call obj,test/kv/labcheck.c) \
		$(LINK_LINCHECK) $(LINK_CLERK) $(LINK_STORAGE) $(LINK_ECHO) \
		| $(BIN)/shardctrld $(BIN)/shardkvd
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$+) $(SYSLIBS) $(CHECKLIBS)

