# lib/node: the Raft runtime on libevent; daemons/raftd.
$(eval $(call LIBRARY,node))

$(eval $(call PROGRAM,raftd,$(wildcard daemons/raftd/*.c),$(LINK_NODE)))
$(eval $(call PROGRAM,raftcli,$(wildcard client/raftcli/*.c),$(LINK_RPC)))
$(eval $(call PROGRAM,raftbench,$(wildcard client/raftbench/*.c),$(LINK_RPC)))

.PHONY: bench-raft
bench-raft: $(BIN)/raftd $(BIN)/raftbench
	@BIN=$(BIN) scripts/bench-raft.sh
TEST_PROGRAMS += test/raftd/test-raftd-cli.sh
