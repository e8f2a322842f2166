# daemons/shardkvd: a shard group's replica (lib/shardkv on a Raft node; LINK_SHARDKVD in the
# Makefile), and its test: flags, then a controller, two groups, a leader killed and a hand-over
# (test/cli/test-shardkvd-cli.sh, with the probe client test/shardkv/skvprobe.c).
$(eval $(call PROGRAM,shardkvd,$(wildcard daemons/shardkvd/*.c),$(LINK_SHARDKVD)))
$(eval $(call PROGRAM,skvprobe,test/shardkv/skvprobe.c,$(LINK_CLERK)))
TEST_PROGRAMS += test/cli/test-shardkvd-cli.sh
