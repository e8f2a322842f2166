# The shard controller's unit tests (test/unit/test_rebalance.c, test_shardctrl.c): picked up by
# UNIT_BINS like every test/unit/test_*.c, linked here with lib/shardctrl, lib/session and the
# helpers they share (test/unit/shardctrl_testlib.c), ahead of the generic LINK_ECHO (link order:
# dependants first).
SC_UNIT_BINS := $(OUT)/test/test_rebalance $(OUT)/test/test_shardctrl
SC_TESTLIB := $(call obj,test/unit/shardctrl_testlib.c)
ALL_OBJS += $(SC_TESTLIB)

$(SC_UNIT_BINS): $(OUT)/test/%: $(OUT)/obj/test/unit/%.o $(SC_TESTLIB) $(UNIT_MAIN) $(TEST_SUPPORT) \
		$(call lib_a,shardctrl) $(call lib_a,session) $(LINK_ECHO)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS) $(CHECKLIBS)
