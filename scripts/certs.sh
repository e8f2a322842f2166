#!/usr/bin/env bash
# make certs: a local certificate authority and the certificates of every node the project's
# clusters run (docs/TLS.md), with the openssl command-line tool.
#   scripts/certs.sh [--force] [DIR]     (default DIR: $CERTS_DIR, else certs)
# Made in DIR, each NAME.pem with its key NAME-key.pem (EC P-256, PEM, the keys mode 600):
#  - ca.pem, ca-key.pem: the CA every node and client trusts (--tls-ca);
#  - one certificate per node: kv1-kv5 (make run's nodes 1-3, the compose kvd services and
#    members), raft1-raft3 (raftd), ctrl1-ctrl3 (shardctrld) and g100-1 ... g102-3 (shardkvd)
#    of make run-sharded and the compose profiles, mr-coordinator and mr-worker; each is a TLS
#    server and client certificate (a node dials its peers) whose subjectAltName holds
#    IP:127.0.0.1, DNS:localhost and DNS:<its name> (the compose service name), since a client
#    checks the server's SAN against the host it dials;
#  - client.pem: kvcli's and raftcli's (a TLS client certificate, CN kvcli);
#  - for tests: other-ca.pem (a second CA) and other.pem, a node certificate that CA signed
#    (a stranger); expired.pem, signed by ca.pem and valid only in 2020.
# Files that exist are kept (a run makes only what is missing); --force (or CERTS_FORCE=1)
# makes everything anew. A new CA (ca.pem missing) remakes every certificate it signs.
set -euo pipefail
force=${CERTS_FORCE:-0}
if [ "${1:-}" = --force ]; then force=1; shift; fi
dir=${1:-${CERTS_DIR:-certs}}
command -v openssl >/dev/null || { echo "certs.sh: openssl is not installed (scripts/deps.sh build)" >&2; exit 1; }
mkdir -p "$dir"
[ "$force" = 1 ] && rm -f "$dir"/*.pem
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

NODES="kv1 kv2 kv3 kv4 kv5 raft1 raft2 raft3 ctrl1 ctrl2 ctrl3
  g100-1 g100-2 g100-3 g101-1 g101-2 g101-3 g102-1 g102-2 g102-3 mr-coordinator mr-worker"
made=()

# key NAME: a new EC P-256 key in DIR/NAME-key.pem, readable by its owner only.
key() {
  (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/$1-key.pem" 2>/dev/null)
}

# ca NAME CN: a self-signed CA (10 years).
ca() {
  [ -s "$dir/$1.pem" ] && [ -s "$dir/$1-key.pem" ] && return 0
  key "$1"
  openssl req -x509 -new -key "$dir/$1-key.pem" -out "$dir/$1.pem" -days 3650 -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  # Every certificate this CA signed before belongs to another key: make them again.
  rm -f "${signed_by[@]/#/$dir/}"
  made+=("$1")
}

# extensions NAME USAGE: the extensions of a leaf (USAGE: node or client).
extensions() {
  echo "basicConstraints=critical,CA:FALSE"
  echo "keyUsage=critical,digitalSignature"
  if [ "$2" = node ]; then
    echo "extendedKeyUsage=serverAuth,clientAuth"
    echo "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:$1"
  else
    echo "extendedKeyUsage=clientAuth"
  fi
}

# leaf NAME USAGE CA: a certificate for NAME signed by CA (825 days, the most browsers accept).
leaf() {
  [ -s "$dir/$1.pem" ] && [ -s "$dir/$1-key.pem" ] && return 0
  key "$1"
  extensions "$1" "$2" >"$tmp/$1.ext"
  openssl req -new -key "$dir/$1-key.pem" -subj "/CN=$1" -out "$tmp/$1.csr" 2>/dev/null
  openssl x509 -req -in "$tmp/$1.csr" -CA "$dir/$3.pem" -CAkey "$dir/$3-key.pem" \
    -set_serial "0x$(openssl rand -hex 16)" -days 825 -extfile "$tmp/$1.ext" -out "$dir/$1.pem" 2>/dev/null
  made+=("$1")
}

# expired NAME: a node certificate signed by ca.pem, valid from 2020-01-01 to 2020-12-31.
# openssl 3.0's x509 -req has no start date: `openssl ca` with a throw-away database has.
expired() {
  [ -s "$dir/$1.pem" ] && [ -s "$dir/$1-key.pem" ] && return 0
  key "$1"
  openssl req -new -key "$dir/$1-key.pem" -subj "/CN=$1" -out "$tmp/$1.csr" 2>/dev/null
  : >"$tmp/index.txt"
  openssl rand -hex 16 >"$tmp/serial"
  cat >"$tmp/ca.cnf" <<EOF
[ca]
default_ca = expired_ca
[expired_ca]
database = $tmp/index.txt
serial = $tmp/serial
new_certs_dir = $tmp
certificate = $dir/ca.pem
private_key = $dir/ca-key.pem
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
[leaf]
$(extensions "$1" node)
EOF
  openssl ca -batch -notext -config "$tmp/ca.cnf" -extensions leaf -in "$tmp/$1.csr" \
    -out "$dir/$1.pem" -startdate 20200101000000Z -enddate 20201231000000Z 2>/dev/null
  made+=("$1")
}

signed_by=()
for n in $NODES client expired; do signed_by+=("$n.pem"); done
ca ca "raftkv local CA"
for n in $NODES; do leaf "$n" node ca; done
leaf client client ca
expired expired
signed_by=(other.pem)
ca other-ca "raftkv other CA (tests)"
leaf other node other-ca

for n in "${made[@]}"; do
  openssl verify -CAfile "$dir/ca.pem" "$dir/$n.pem" >/dev/null 2>&1 ||
    openssl verify -CAfile "$dir/other-ca.pem" "$dir/$n.pem" >/dev/null 2>&1 ||
    [ "$n" = expired ] || { echo "certs.sh: $dir/$n.pem does not verify" >&2; exit 1; }
done
if [ ${#made[@]} = 0 ]; then
  echo "certificates in $dir are up to date (scripts/certs.sh --force remakes them)"
else
  echo "made in $dir: ${made[*]}"
fi
