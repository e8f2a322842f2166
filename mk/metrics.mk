# lib/metrics (issue 17): the metrics registry, its text exposition, and the evhttp endpoint
# (/metrics, /healthz, /readyz) every daemon serves on --metrics-listen.
$(eval $(call LIBRARY,metrics))
LINK_METRICS := $(call lib_a,metrics) $(call lib_a,base)

$(OUT)/test/test_metrics: $(call obj,test/unit/test_metrics.c) $(UNIT_MAIN) $(TEST_SUPPORT) \
		$(call lib_a,metrics) $(LINK_ECHO)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS) $(CHECKLIBS)
