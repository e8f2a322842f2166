# Docker: `make image` builds raftkv:latest from the local binaries (no registry needed).
.PHONY: image
# (Paths spelled out: the MapReduce fragment that names them is read after this one.)
IMAGE_INPUTS := $(addprefix $(BIN)/,kvd kvcli raftd raftcli shardctrld shardkvd mrcoordinator mrworker \
	mrsequential) \
	$(patsubst mrapps/%.c,$(BIN)/mrapps/%.so,$(wildcard mrapps/*.c)) $(OUT)/test/mr-gen-corpus
image: $(IMAGE_INPUTS)
	@BIN=$(BIN) GEN_CORPUS=$(OUT)/test/mr-gen-corpus scripts/build-image.sh

# The chaos test's client: a checked history of appends and reads (test/docker/kvload.c).
KVLOAD := $(OUT)/test/kvload
$(KVLOAD): $(call obj,test/docker/kvload.c) $(LINK_LINCHECK) $(LINK_CLERK)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS)
ALL_OBJS += $(call obj,test/docker/kvload.c)
PROGRAMS += $(KVLOAD)

# The chaos test on the compose cluster (skipped with a message when no Docker engine answers).
# `make test` runs it too, so CI runs it wherever an engine is reachable.
.PHONY: test-docker test-docker-sharded docker-image-if-engine
test-docker: image $(KVLOAD) $(BIN)/kvcli
	@BIN=$(BIN) MODE=$(MODE) KVLOAD=$(KVLOAD) test/run-all.sh test/docker/test-docker.sh

# The same on the sharded compose cluster (profile "sharded"), through the shard clerk, with
# group moves (kvcli shard leave / join) among the faults.
test-docker-sharded: image $(KVLOAD) $(BIN)/kvcli
	@BIN=$(BIN) MODE=$(MODE) KVLOAD=$(KVLOAD) test/run-all.sh test/docker/test-docker-sharded.sh

docker-image-if-engine: $(IMAGE_INPUTS)
	@if command -v docker >/dev/null && docker info >/dev/null 2>&1; then \
		BIN=$(BIN) GEN_CORPUS=$(OUT)/test/mr-gen-corpus scripts/build-image.sh; \
	else echo "no Docker engine reachable: the Docker chaos test will be skipped"; fi

test: docker-image-if-engine
TEST_PROGRAMS += test/docker/test-docker.sh test/docker/test-docker-sharded.sh
