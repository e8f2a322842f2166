# lib/metrics (issue 17): the metrics registry, its text exposition, and the evhttp endpoint
# (/metrics, /healthz, /readyz) every daemon serves on --metrics-listen.
$(eval $(call LIBRARY,metrics))

$(OUT)/test/test_metrics: $(call obj,test/unit/test_metrics.c) $(UNIT_MAIN) $(TEST_SUPPORT) \
		$(call lib_a,metrics) $(LINK_ECHO)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS) $(CHECKLIBS)

# lib/node/health.c's rules (pure; its object is all it needs of libnode).
$(OUT)/test/test_node_health: $(call obj,test/unit/test_node_health.c) $(UNIT_MAIN) $(TEST_SUPPORT) \
		$(call lib_a,node) $(LINK_ECHO)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS) $(CHECKLIBS)

# Every daemon's /metrics through promtool, /healthz on a healthy and a cut-off node, and a real
# Prometheus server scraping a local cluster (test/metrics/test-metrics.sh).
TEST_PROGRAMS += test/metrics/test-metrics.sh
