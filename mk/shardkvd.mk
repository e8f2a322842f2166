# daemons/shardkvd: a shard group's replica (lib/shardkv on a Raft node; LINK_SHARDKVD in the
# Makefile), and its test: flags, then a controller, two groups, a leader killed and a hand-over
# (test/cli/test-shardkvd-cli.sh, with the probe client test/shardkv/skvprobe.c).
$(eval $(call PROGRAM,shardkvd,$(wildcard daemons/shardkvd/*.c),$(LINK_SHARDKVD)))
# The probe is a test tool: built beside the test binaries, not into bin/.
SKVPROBE := $(OUT)/test/skvprobe
$(SKVPROBE): $(call obj,test/shardkv/skvprobe.c) $(LINK_CLERK)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS)
PROGRAMS += $(SKVPROBE)
ALL_OBJS += $(call obj,test/shardkv/skvprobe.c)
TEST_PROGRAMS += test/cli/test-shardkvd-cli.sh
