# test/bench/bench_rebalance.c: the shard controller's state machine at 16,384 shards and 1,000
# groups (Join, Leave, Move, a Query's encoding, the snapshot; medians, figures only).
# `make bench-rebalance` builds and runs it (release build; not part of make test).
BENCH_REBALANCE := $(OUT)/test/bench_rebalance
BENCH_GROUPS := $(call obj,test/bench/benchgroups.c)
ALL_OBJS += $(call obj,test/bench/bench_rebalance.c) $(BENCH_GROUPS)

$(BENCH_REBALANCE): $(call obj,test/bench/bench_rebalance.c) $(BENCH_GROUPS) $(call lib_a,shardctrl) \
		$(call lib_a,session) $(call lib_a,proto) $(call lib_a,base)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS)

.PHONY: bench-rebalance
bench-rebalance: $(BENCH_REBALANCE)
	@$(BENCH_REBALANCE)

# test/bench/bench_ctrl_join.c: one Join end to end on a running shardctrld (make bench-shard's
# part c; scripts/bench-shard.sh starts the controller).
BENCH_CTRL_JOIN := $(OUT)/test/bench_ctrl_join
ALL_OBJS += $(call obj,test/bench/bench_ctrl_join.c)
$(BENCH_CTRL_JOIN): $(call obj,test/bench/bench_ctrl_join.c) $(BENCH_GROUPS) $(LINK_CLERK)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS)

# make bench-shard: the sharded service beside one kvd group, a migration, the controller's Join
# (scripts/bench-shard.sh, docs/BENCH-SHARD.md; not part of make test).
.PHONY: bench-shard
bench-shard: $(BIN)/kvd $(BIN)/kvcli $(BIN)/kvbench $(BIN)/shardctrld $(BIN)/shardkvd \
		$(BENCH_CTRL_JOIN) $(BENCH_REBALANCE) $(OUT)/test/shardkv_bigmove
	@BIN=$(BIN) OUT=$(OUT) scripts/bench-shard.sh
