# lib/shardctrl: the shard controller's state machine, rebalancer and codec; daemons/shardctrld.
# (lib/clerk's controller clerk links it: LINK_CLERK in the Makefile.)
$(eval $(call LIBRARY,shardctrl))
$(eval $(call PROGRAM,shardctrld,$(wildcard daemons/shardctrld/*.c),$(LINK_SHARDCTRLD)))

# lib/shardkv: a shard group's state machine, its codec and driver; daemons/shardkvd.
$(eval $(call LIBRARY,shardkv))
