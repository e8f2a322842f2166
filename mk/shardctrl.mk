# lib/shardctrl: the shard controller's state machine, rebalancer and codec; daemons/shardctrld.
# (lib/clerk's controller clerk links it: LINK_CLERK in the Makefile.)
$(eval $(call LIBRARY,shardctrl))
$(eval $(call PROGRAM,shardctrld,$(wildcard daemons/shardctrld/*.c),$(LINK_SHARDCTRLD)))

# lib/shardkv: a shard group's state machine, its codec and driver; daemons/shardkvd.
$(eval $(call LIBRARY,shardkv))

# test_shardkv and test_shardkv_driver need lib/shardkv and what it stands on, ahead of the
# generic LINK_ECHO.
$(OUT)/test/test_shardkv $(OUT)/test/test_shardkv_driver: $(OUT)/test/%: $(call obj,test/unit/%.c) \
		$(UNIT_MAIN) $(TEST_SUPPORT) \
		$(call lib_a,shardkv) $(call lib_a,clerk) $(call lib_a,kv) $(call lib_a,shardctrl) \
		$(call lib_a,session) $(LINK_ECHO)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS) $(CHECKLIBS)
