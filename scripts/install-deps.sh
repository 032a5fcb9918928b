#!/usr/bin/env bash
# Installs intentlog's build and test dependencies from Debian's packages.
# Idempotent: does nothing when everything is present. As an ordinary user it
# prints the exact command to run as root instead.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  postgresql-15 postgresql-server-dev-15 postgresql-contrib
  libpq-dev libpqxx-dev
  libprotobuf-dev protobuf-compiler
  libasio-dev libspdlog-dev libfmt-dev
  libgtest-dev
  postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
  postgresql-15-pgq3
  python3-protobuf python3-pip python3-setuptools python3-wheel python3-venv python3-prometheus-client
  librdkafka-dev kcat python3-confluent-kafka libjemalloc-dev
  clang libclang-rt-14-dev clang-format
  gnuplot-nox
  libssl-dev openssl
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "intentlog: missing Debian packages: ${missing[*]}" >&2
  echo "run as root:  $cmd" >&2
  exit 1
fi
echo "intentlog: installing ${missing[*]}" >&2
# postgresql-common would create and start a 'main' cluster; we run our own.
mkdir -p /etc/postgresql-common/createcluster.d
echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/intentlog.conf
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
