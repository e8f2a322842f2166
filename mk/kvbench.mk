# client/kvbench: load for kvd (lib/clerk) and etcd (its v3 JSON gateway); make bench-kv runs
# both side by side (scripts/bench-kv.sh, docs/BENCH-KV.md); `make bench-kv TLS=1` adds a kvd
# cluster with TLS beside the plain one (BENCH_ETCD=0 leaves etcd out).
$(eval $(call PROGRAM,kvbench,$(wildcard client/kvbench/*.c),$(LINK_CLERK)))

.PHONY: bench-kv
bench-kv: $(BIN)/kvd $(BIN)/kvcli $(BIN)/kvbench
	@BIN=$(BIN) BENCH_TLS=$(if $(filter 1,$(TLS)),1,$${BENCH_TLS:-0}) scripts/bench-kv.sh

# The report's numeric comparisons on made-up results (no benchmark run).
TEST_PROGRAMS += test/bench/test-bench-kv-report.sh

# make bench-member: leadership transfers beside etcd's move-leader, and a learner catching up
# with 1 GiB (scripts/bench-member.sh).
.PHONY: bench-member
bench-member: $(BIN)/kvd $(BIN)/kvcli $(BIN)/kvbench
	@BIN=$(BIN) scripts/bench-member.sh
