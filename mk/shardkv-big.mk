# The large-shard test and migration benchmark (test/shardkv/bigmove.c, docs/SHARDS.md "Large
# shards"): a 3-node controller and two 3-node shardkvd groups started directly (no proxies),
# fsync on; one shard loaded, moved and checked, RSS and the other shards' latencies measured.
#   make test            the 64 MiB case (6,554 keys of 10 KiB)
#   make test-long       also the 1 GiB case (100,000 keys of 10 KiB)
#   make bench-shard-move  part (b) of make bench-shard: a 256 MiB shard, one table
BIGMOVE := $(OUT)/test/shardkv_bigmove
BIGMOVE_OBJS := $(call obj,test/shardkv/bigmove.c test/shardkv/bignodes.c test/shardkv/bigload.c \
	test/cluster/procs.c)
$(BIGMOVE): $(BIGMOVE_OBJS) $(LINK_CLERK) | $(BIN)/shardctrld $(BIN)/shardkvd
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$^) $(SYSLIBS) -lpthread
PROGRAMS += $(BIGMOVE)
ALL_OBJS += $(call obj,test/shardkv/bigmove.c test/shardkv/bignodes.c test/shardkv/bigload.c)
TEST_PROGRAMS += $(BIGMOVE)

.PHONY: test-long-big-shard bench-shard-move
test-long-big-shard: $(BIGMOVE)
	@BIN=$(BIN) timeout --signal=KILL 1800 $(BIGMOVE) --keys 100000
test-long: test-long-big-shard

# BIGMOVE_FLAGS: more flags, e.g. "-- --pull-window 1" (shardkvd's, after --).
bench-shard-move: $(BIGMOVE)
	@BIN=$(BIN) $(BIGMOVE) --bench --keys 26215 $(BIGMOVE_FLAGS)
