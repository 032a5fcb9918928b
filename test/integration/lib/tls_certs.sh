# make_certs DIR: a test PKI made with the openssl CLI (sourced, not run).
#   ca.pem            the CA the worker's certificate and good client certificates are signed by
#   other-ca.pem      an unrelated CA (its client certificate: other-client.pem/.key)
#   server.pem/.key   the worker: localhost, 127.0.0.1; valid now
#   expired.pem/.key  the worker, valid 2020-01-01 to 2021-01-01
#   client.pem/.key   a consumer, valid now; client-expired.*, client-future.* (valid from 2099)
make_certs() {
  local d=$1
  mkdir -p "$d"
  cat >"$d/ca.cnf" <<CNF
[ ca ]
default_ca = test_ca
[ test_ca ]
dir = $d
database = \$dir/index.txt
new_certs_dir = \$dir
serial = \$dir/serial
default_md = sha256
policy = anything
copy_extensions = copy
unique_subject = no
[ anything ]
commonName = supplied
[ server_ext ]
basicConstraints = CA:FALSE
subjectAltName = DNS:localhost,IP:127.0.0.1
extendedKeyUsage = serverAuth
[ client_ext ]
basicConstraints = CA:FALSE
extendedKeyUsage = clientAuth
CNF
  : >"$d/index.txt"
  echo 1000 >"$d/serial"
  local ca
  for ca in ca other-ca; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$d/$ca.key" -out "$d/$ca.pem" -days 2 \
      -subj "/CN=intentlog test $ca" 2>/dev/null
  done
  # sign NAME CA EXT START END
  sign() {
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$d/$1.key" -out "$d/$1.csr" -subj "/CN=$1" 2>/dev/null
    openssl ca -batch -config "$d/ca.cnf" -cert "$d/$2.pem" -keyfile "$d/$2.key" -extensions "$3" \
      -startdate "$4" -enddate "$5" -in "$d/$1.csr" -out "$d/$1.pem" -notext 2>/dev/null
  }
  local now later
  now=$(date -u -d '-1 hour' +%Y%m%d%H%M%SZ)
  later=$(date -u -d '+1 day' +%Y%m%d%H%M%SZ)
  sign server ca server_ext "$now" "$later"
  sign expired ca server_ext 20200101000000Z 20210101000000Z
  sign client ca client_ext "$now" "$later"
  sign client-expired ca client_ext 20200101000000Z 20210101000000Z
  sign client-future ca client_ext 20990101000000Z 20991231000000Z
  sign other-client other-ca client_ext "$now" "$later"
}
