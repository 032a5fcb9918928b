# Kafka helpers for the integration tests (sourced after common.sh): a mock
# Kafka cluster (intentlog-kafka-mock, librdkafka's mock brokers) in its own
# process, its fault commands, and the Python checker that reads the topics
# with confluent_kafka (Debian's python3-confluent-kafka).
MOCK_BIN="$BUILD_DIR/intentlog-kafka-mock"
[ -x "$MOCK_BIN" ] || { echo "FAIL: build intentlog-kafka-mock first" >&2; exit 1; }
REPO_DIR=$(cd "$LIB_DIR/../../.." && pwd)

# start_kafka [--topic NAME:PARTITIONS]...: a 3-broker cluster; sets
# KAFKA_BROKERS (bootstrap servers) and KAFKA_CTL (its command FIFO).
start_kafka() {
  KAFKA_CTL="$SCRATCH/kafka.ctl"
  # Created here: the background job opens it only once it runs, and the
  # loop below may read it first.
  : >"$SCRATCH/kafka.out"
  "$MOCK_BIN" --control "$KAFKA_CTL" "$@" >"$SCRATCH/kafka.out" 2>&1 &
  KAFKA_PID=$!
  PIDS+=("$KAFKA_PID")
  for _ in $(seq 100); do
    KAFKA_BROKERS=$(sed -n 's/^bootstrap=//p' "$SCRATCH/kafka.out")
    [ -n "$KAFKA_BROKERS" ] && [ -p "$KAFKA_CTL" ] && return 0
    kill -0 "$KAFKA_PID" 2>/dev/null || fail "intentlog-kafka-mock exited: $(cat "$SCRATCH/kafka.out")"
    sleep 0.05
  done
  fail "intentlog-kafka-mock did not start"
}

# kafka_ctl COMMAND...: runs a fault command in the mock cluster, waits for its answer.
kafka_ctl() {
  local before
  before=$(grep -c '^ok \|^error ' "$SCRATCH/kafka.out" || true)
  echo "$*" >"$KAFKA_CTL"
  for _ in $(seq 100); do
    [ "$(grep -c '^ok \|^error ' "$SCRATCH/kafka.out" || true)" -gt "$before" ] && break
    sleep 0.02
  done
  grep -qxF "ok $*" "$SCRATCH/kafka.out" || fail "kafka mock command '$*': $(tail -1 "$SCRATCH/kafka.out")"
}

# The generated Python classes of intentlog.v1 for the checker.
mkdir -p "$SCRATCH/py"
protoc --python_out="$SCRATCH/py" -I "$REPO_DIR/proto" "$REPO_DIR"/proto/intentlog/v1/*.proto
kafka_check() { PYTHONPATH="$SCRATCH/py" $PY "$LIB_DIR/kafka_check.py" --brokers "$KAFKA_BROKERS" "$@"; }

# kafka_expect DOMAIN FILE [TIMEOUT_S] [checker options...]: waits until the
# topic of DOMAIN holds every committed intent, then checks it.
kafka_expect() {
  local domain=$1 file=$2 secs=${3:-20}
  shift 3 || shift $#
  expected_intents "$domain" "$file"
  kafka_check --topic "intentlog.$domain" --expected "$file" --timeout "$secs" "$@"
}
