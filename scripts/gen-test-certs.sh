#!/usr/bin/env bash
# Creates throwaway TLS material for LOACL's tests (and for trying TLS by hand) in DIR:
#   ca.pem/ca.key                 test CA ("LOACL Test CA")
#   server.pem/server.key         localhost, 127.0.0.1 and ::1 (SAN), signed by the CA
#   server-chain.pem              server.pem followed by ca.pem
#   client.pem/client.key         client certificate for mutual TLS, signed by the CA
#   other-ca.pem/other-ca.key     a second, unrelated CA
#   other-client.pem/.key         client certificate signed by the unrelated CA
#   expired.pem/expired.key       server certificate for localhost that expired in 2020
# Keys are unencrypted EC P-256. Nothing here is secret: never use it outside tests.
set -euo pipefail

DIR="${1:?usage: gen-test-certs.sh DIR}"
mkdir -p "$DIR"
cd "$DIR"
command -v openssl >/dev/null || { echo "openssl CLI not found (apt-get install openssl)" >&2; exit 1; }

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# Extensions for each kind of certificate.
cat > ext.cnf <<'EOF'
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
EOF

ca() { # name subject
    key "$1.key"
    openssl req -new -x509 -key "$1.key" -subj "$2" -days 3650 \
        -config ext.cnf -extensions ca -out "$1.pem" 2>/dev/null
}

leaf() { # name subject extension-section ca-name
    key "$1.key"
    openssl req -new -key "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null
    openssl x509 -req -in "$1.csr" -CA "$4.pem" -CAkey "$4.key" -CAcreateserial -days 825 \
        -extfile ext.cnf -extensions "$3" -out "$1.pem" 2>/dev/null
    rm -f "$1.csr"
}

ca ca "/O=LOACL/CN=LOACL Test CA"
ca other-ca "/O=Elsewhere/CN=Unrelated Test CA"
leaf server "/O=LOACL/CN=localhost" server ca
leaf client "/O=LOACL/CN=loacl-test-client" client ca
leaf other-client "/O=Elsewhere/CN=foreign-client" client other-ca
cat server.pem ca.pem > server-chain.pem

# `openssl x509` cannot back-date, so the expired certificate goes through `openssl ca`.
mkdir -p expired-ca
: > expired-ca/index.txt
echo 1000 > expired-ca/serial
cat > expired-ca/ca.cnf <<EOF
[ca]
default_ca = expired
[expired]
database = expired-ca/index.txt
serial = expired-ca/serial
new_certs_dir = expired-ca
certificate = ca.pem
private_key = ca.key
default_md = sha256
policy = any
copy_extensions = none
unique_subject = no
[any]
organizationName = optional
commonName = supplied
EOF
key expired.key
openssl req -new -key expired.key -subj "/O=LOACL/CN=localhost" -out expired.csr 2>/dev/null
openssl ca -batch -config expired-ca/ca.cnf -in expired.csr -out expired.pem -notext \
    -startdate 20200101000000Z -enddate 20200102000000Z \
    -extfile ext.cnf -extensions server >/dev/null 2>&1
rm -rf expired.csr expired-ca ext.cnf ca.srl other-ca.srl
chmod 600 ./*.key
echo "test certificates written to $DIR"
