# client/kvbench: load for kvd (lib/clerk) and etcd (its v3 JSON gateway); make bench-kv runs
# both side by side (scripts/bench-kv.sh, docs/BENCH-KV.md).
$(eval $(call PROGRAM,kvbench,$(wildcard client/kvbench/*.c),$(LINK_CLERK)))

.PHONY: bench-kv
bench-kv: $(BIN)/kvd $(BIN)/kvcli $(BIN)/kvbench
	@BIN=$(BIN) scripts/bench-kv.sh

# The report's numeric comparisons on made-up results (no benchmark run).
TEST_PROGRAMS += test/bench/test-bench-kv-report.sh

# make bench-member: leadership transfers beside etcd's move-leader, and a learner catching up
# with 1 GiB (scripts/bench-member.sh).
.PHONY: bench-member
bench-member: $(BIN)/kvd $(BIN)/kvcli $(BIN)/kvbench
	@BIN=$(BIN) scripts/bench-member.sh
