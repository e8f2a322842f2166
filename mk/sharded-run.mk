# The README's sharded run command: a local 3-node shardctrld and three groups of 3 shardkvd
# (gids 100, 101, 102) in the background, data and logs under run/sharded, controller ports
# 7501-7503 and group ports 7511-7533 (apart from `make run`'s 7101-7103), the groups joined;
# it returns once every shard is served. Metrics, /healthz and /readyz: the controller's nodes
# on 127.0.0.1:9501-9503, the groups' on 9511-9533 (their client ports, 7 -> 9). `make stop`
# (mk/kv.mk) stops it too: stop-sharded is one of its prerequisites.
# `make run-sharded TLS=1`: with TLS (the certificates of `make certs`, docs/TLS.md).
.PHONY: run-sharded stop-sharded
run-sharded: $(BIN)/shardctrld $(BIN)/shardkvd $(BIN)/kvcli
	@BIN=$(BIN) METRICS_BASE=9500 TLS_CERTS=$(TLS_RUN_CERTS) scripts/sharded-cluster.sh start run/sharded 7500 60
	@KV_CTRLERS=$$(cat run/sharded/ctrlers) $(BIN)/kvcli $$(cat run/sharded/ctrl/tls-client 2>/dev/null) shard status
	@echo "sharded cluster running$(if $(TLS_RUN_CERTS), with TLS,) (logs: run/sharded/*/node-*.log); try: $(TLS_RUN_HINT)KV_CTRLERS=$$(cat run/sharded/ctrlers) $(BIN)/kvcli put a 1; stop it with: make stop"

# kvcli on that cluster (test/cli/test-kvcli-sharded.sh, over scripts/sharded-cluster.sh in a temp
# dir; it needs bin/shardkvd, which `all` builds).
TEST_PROGRAMS += test/cli/test-kvcli-sharded.sh

stop: stop-sharded
stop-sharded:
	@if compgen -G 'run/sharded/*/node-*.pid' >/dev/null; then \
		BIN=$(BIN) scripts/sharded-cluster.sh stop run/sharded && \
		echo "sharded cluster stopped (data kept in run/sharded)"; fi

# kvcli del and cas on a kvd cluster and on a sharded one (test/cli/test-kvcli-delcas.sh, ~11 s).
TEST_PROGRAMS += test/cli/test-kvcli-delcas.sh
