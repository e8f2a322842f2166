# TLS (issue 18, docs/TLS.md). `make certs`: a local CA and a certificate for every node of
# `make run`, `make run-sharded` and the compose profiles, a client certificate for kvcli and
# raftcli, and the test certificates (another CA's, an expired one), in $(CERTS_DIR)
# (scripts/certs.sh; existing files are kept: CERTS_FORCE=1 makes them anew).
CERTS_DIR ?= certs
.PHONY: certs
certs:
	@scripts/certs.sh $(CERTS_DIR)
