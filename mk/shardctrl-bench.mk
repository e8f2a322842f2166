# test/bench/bench_rebalance.c: the shard controller's state machine at 16,384 shards and 1,000
# groups (Join, Leave, Move, a Query's encoding, the snapshot; medians, figures only).
# `make bench-rebalance` builds and runs it (release build; not part of make test).
BENCH_REBALANCE := $(OUT)/test/bench_rebalance
ALL_OBJS += $(call obj,test/bench/bench_rebalance.c)

$(BENCH_REBALANCE): $(call obj,test/bench/bench_rebalance.c) $(call lib_a,shardctrl) \
		$(call lib_a,session) $(call lib_a,proto) $(call lib_a,base)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS)

.PHONY: bench-rebalance
bench-rebalance: $(BENCH_REBALANCE)
	@$(BENCH_REBALANCE)
