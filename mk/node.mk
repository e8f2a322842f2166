# lib/node: the Raft runtime on libevent; daemons/raftd.
$(eval $(call LIBRARY,node))

$(eval $(call PROGRAM,raftd,$(wildcard daemons/raftd/*.c),$(LINK_NODE)))
# client/raftclerk: raftd's layer on the clerk engine, compiled into its clients.
RAFTCLERK_SRCS := $(wildcard client/raftclerk/*.c)
$(eval $(call PROGRAM,raftcli,$(wildcard client/raftcli/*.c) $(RAFTCLERK_SRCS),$(LINK_CLERK)))
$(eval $(call PROGRAM,raftbench,$(wildcard client/raftbench/*.c) $(RAFTCLERK_SRCS),$(LINK_CLERK)))

.PHONY: bench-raft
bench-raft: $(BIN)/raftd $(BIN)/raftbench
	@BIN=$(BIN) scripts/bench-raft.sh
TEST_PROGRAMS += test/raftd/test-raftd-cli.sh
