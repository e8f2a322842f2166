# Docker: `make image` builds raftkv:latest from the local binaries (no registry needed).
.PHONY: image
image: $(addprefix $(BIN)/,kvd kvcli raftd raftcli mrcoordinator mrworker mrsequential) all
	@BIN=$(BIN) GEN_CORPUS=$(OUT)/test/mr-gen-corpus scripts/build-image.sh

# The chaos test's client: a checked history of appends and reads (test/docker/kvload.c).
KVLOAD := $(OUT)/test/kvload
$(KVLOAD): $(call obj,test/docker/kvload.c) $(LINK_LINCHECK) $(LINK_CLERK)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS)
ALL_OBJS += $(call obj,test/docker/kvload.c)
PROGRAMS += $(KVLOAD)
