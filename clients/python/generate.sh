#!/bin/sh
# Regenerates the checked-in Protobuf code of the Python client from proto/:
#   clients/python/generate.sh            writes clients/python/intentlog/v1/*_pb2.py(i)
#   clients/python/generate.sh OUTDIR     writes OUTDIR/intentlog/v1/... (the staleness test)
# Uses Debian's protoc (protobuf-compiler), the version python3-protobuf matches.
set -e
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$here}
mkdir -p "$out/intentlog/v1"
protoc -I "$root/proto" --python_out="$out" --pyi_out="$out" \
  "$root/proto/intentlog/v1/event.proto" "$root/proto/intentlog/v1/stream.proto"
