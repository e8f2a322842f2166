# lib/shardctrl: the shard controller's state machine, rebalancer and codec; daemons/shardctrld.
# (lib/clerk's controller clerk links it: LINK_CLERK in the Makefile.)
$(eval $(call LIBRARY,shardctrl))
