# Docker: `make image` builds raftkv:latest from the local binaries (no registry needed).
.PHONY: image
image: $(addprefix $(BIN)/,kvd kvcli raftd raftcli mrcoordinator mrworker mrsequential) all
	@BIN=$(BIN) GEN_CORPUS=$(OUT)/test/mr-gen-corpus scripts/build-image.sh
