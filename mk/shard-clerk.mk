# The shard clerk's unit test (test/unit/test_shard_clerk.c): lib/clerk with the controller's
# state machine and codec (lib/shardctrl) answering its Queries, ahead of the generic LINK_ECHO
# (link order: dependants first).
$(OUT)/test/test_shard_clerk: $(call obj,test/unit/test_shard_clerk.c) $(UNIT_MAIN) \
		$(TEST_SUPPORT) $(LINK_CLERK) $(LINK_ECHO)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS) $(CHECKLIBS)
