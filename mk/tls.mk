# TLS (issue 18, docs/TLS.md). `make certs`: a local CA and a certificate for every node of
# `make run`, `make run-sharded` and the compose profiles, a client certificate for kvcli and
# raftcli, and the test certificates (another CA's, an expired one), in $(CERTS_DIR)
# (scripts/certs.sh; existing files are kept: CERTS_FORCE=1 makes them anew).
CERTS_DIR ?= certs
.PHONY: certs
certs:
	@scripts/certs.sh $(CERTS_DIR)

# `make run TLS=1`, `make run-sharded TLS=1` (mk/kv.mk, mk/sharded-run.mk): the certificates
# are made first, the clusters get TLS_CERTS (scripts/local-cluster.sh), and the hint names the
# client's environment. Defined here, read by those recipes when they run.
TLS ?=
TLS_RUN_CERTS = $(if $(filter 1,$(TLS)),$(CERTS_DIR))
TLS_RUN_HINT = $(if $(TLS_RUN_CERTS),export RAFTKV_TLS_CERT=$(CERTS_DIR)/client.pem RAFTKV_TLS_KEY=$(CERTS_DIR)/client-key.pem RAFTKV_TLS_CA=$(CERTS_DIR)/ca.pem; )
ifeq ($(TLS),1)
run run-sharded: certs
endif

# The TLS suite (test/tls/test-tls.sh, about a minute): refusals named, counted and logged once,
# authorized clients served throughout, peers with a wrong certificate kept out.
TEST_PROGRAMS += test/tls/test-tls.sh
