# lib/raft: the pure consensus core; lib/storage: LMDB persistence (and the store interface);
# lib/replica: the I/O-free replica layer on both; test/sim: the simulator.
$(eval $(call LIBRARY,raft))
$(eval $(call LIBRARY,storage))
$(eval $(call LIBRARY,replica))

# The simulator and its suites: test/sim/test_<name>.c -> $(OUT)/test/sim_<name>.
SIM_SRCS := $(filter-out test/sim/test_%.c,$(wildcard test/sim/*.c))
SIM_OBJS := $(call obj,$(SIM_SRCS))
SIM_TESTS := $(patsubst test/sim/test_%.c,$(OUT)/test/sim_%,$(wildcard test/sim/test_*.c))
ALL_OBJS += $(SIM_OBJS) $(call obj,$(wildcard test/sim/test_*.c))

# The service parts (simkv, simctrl, simclerk, kvlab) run kvd's state machine adapter on lib/kv,
# lib/shardctrl through its codec, lib/clerk's kv and controller clerks, and check histories with
# lincheck: every sim test links them (a static library adds only what a test uses).
SIM_KV_OBJS := $(call obj,daemons/kvd/machine.c daemons/shardctrld/machine.c test/kv/labcheck.c)
$(OUT)/test/sim_%: $(call obj,test/sim/test_%.c) $(SIM_OBJS) $(UNIT_MAIN) $(SIM_KV_OBJS) \
		$(LINK_LINCHECK) $(call lib_a,shardkv) $(call lib_a,clerk) $(call lib_a,shardctrl) $(call lib_a,kv) \
		$(call lib_a,session) $(call lib_a,rpc) \
		$(call lib_a,proto) $(LINK_REPLICA)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS) $(CHECKLIBS)

PROGRAMS += $(SIM_TESTS)
TEST_PROGRAMS += $(SIM_TESTS)

# Longer soaks, outside the default test run: 10,000 randomized seeds.
.PHONY: test-long
test-long: all
	@BIN=$(BIN) MODE=$(MODE) RANDOM_SEEDS=10000 test/run-all.sh $(SIM_TESTS)

# test/unit/test_storage.c also links lib/storage and lib/raft, so it has its own rule (replacing the
# generic one). A bare extra prerequisite ($(OUT)/test/test_storage: $(LINK_STORAGE)) would be
# appended after $(LINK_ECHO), and as $^ keeps only the first libbase.a, storage and raft would
# follow the base library they need (linking only while echo_proc.o happens to pull in util.o).
$(OUT)/test/test_storage: $(call obj,test/unit/test_storage.c) $(UNIT_MAIN) $(TEST_SUPPORT) \
		$(filter-out $(call lib_a,base),$(LINK_STORAGE)) $(LINK_ECHO)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS) $(CHECKLIBS)

# test/unit/test_raft_config.c links lib/raft (its own rule, as test_storage's).
$(OUT)/test/test_raft_config: $(call obj,test/unit/test_raft_config.c) $(UNIT_MAIN) \
		$(TEST_SUPPORT) $(filter-out $(call lib_a,base),$(LINK_RAFT)) $(LINK_ECHO)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS) $(CHECKLIBS)
