# kvcli's shard commands against a real 3-node shardctrld, and shardctrld's flags
# (test/cli/test-kvcli-shard.sh; it needs bin/shardctrld and bin/kvcli, which `all` builds).
TEST_PROGRAMS += test/cli/test-kvcli-shard.sh
