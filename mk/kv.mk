# lib/session: the at-most-once table; lib/kv: the key/value state machine and its codec;
# daemons/kvd; lib/clerk; client/kvcli.
$(eval $(call LIBRARY,session))
$(eval $(call LIBRARY,kv))
$(eval $(call PROGRAM,kvd,$(wildcard daemons/kvd/*.c),$(LINK_KV)))
$(eval $(call LIBRARY,clerk))
# kvcli's snapshot commands read and write backup files and data directories (lib/node's
# snapfile and restore, lib/kv's codec to check a kvd snapshot).
$(eval $(call PROGRAM,kvcli,$(wildcard client/kvcli/*.c),$(call lib_a,clerk) $(call lib_a,kv) \
	$(call lib_a,shardctrl) $(call lib_a,session) $(LINK_NODE)))

# The README's run command: a local 3-node kvd cluster in the background (data and logs under
# run/kv, client ports 7101-7103, which kvcli uses by default; metrics, /healthz and /readyz on
# 127.0.0.1:9101-9103, conf/prometheus.yml's targets); `make stop` stops it (and the
# sharded cluster of `make run-sharded`: mk/sharded-run.mk adds its stop-sharded to stop).
# `make run TLS=1`: the same with TLS on every connection, the certificates of `make certs`
# (mk/tls.mk: TLS_RUN_CERTS, TLS_RUN_HINT; docs/TLS.md).
.PHONY: run stop
run: $(BIN)/kvd $(BIN)/kvcli
	@BIN=$(BIN) METRICS_BASE=9100 TLS_CERTS=$(TLS_RUN_CERTS) scripts/local-cluster.sh start run/kv 3 7100 kvd --max-raft-state 1MiB
	@BIN=$(BIN) scripts/local-cluster.sh wait run/kv 15
	@$(BIN)/kvcli $$(cat run/kv/tls-client 2>/dev/null) status
	@echo "kvd cluster running$(if $(TLS_RUN_CERTS), with TLS,) (logs: run/kv/node-*.log; metrics: curl -s 127.0.0.1:9101/metrics); try: $(TLS_RUN_HINT)$(BIN)/kvcli put a 1 && $(BIN)/kvcli get a; stop it with: make stop"

stop:
	@BIN=$(BIN) scripts/local-cluster.sh stop run/kv
	@echo "kvd cluster stopped (data kept in run/kv)"

# test_kv and test_session need their libraries before the generic LINK_ECHO (see mk/raft.mk's
# note on link order).
$(OUT)/test/test_kv: $(call obj,test/unit/test_kv.c) $(UNIT_MAIN) $(TEST_SUPPORT) $(call lib_a,kv) \
		$(call lib_a,session) $(LINK_ECHO)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS) $(CHECKLIBS)
$(OUT)/test/test_clerk_engine: $(call obj,test/unit/test_clerk_engine.c) $(UNIT_MAIN) \
		$(TEST_SUPPORT) $(call lib_a,clerk) $(LINK_ECHO)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS) $(CHECKLIBS)
$(OUT)/test/test_session: $(call obj,test/unit/test_session.c) $(UNIT_MAIN) $(TEST_SUPPORT) \
		$(call lib_a,session) $(LINK_ECHO)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS) $(CHECKLIBS)
TEST_PROGRAMS += test/kv/test-kvcli.sh test/kv/test-kv-limits.sh
TEST_PROGRAMS += test/kv/test-kvd-lost-store.sh
TEST_PROGRAMS += test/kv/test-diskfull.sh
