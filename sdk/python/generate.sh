#!/usr/bin/env bash
# Regenerates plugboard_plugin/_gen/ from the repository's proto/ (needs grpcio-tools:
# `pip install grpcio-tools`). The generated files are checked in, so installing the package
# needs no code generation.
set -euo pipefail
cd "$(dirname "$0")"
out=plugboard_plugin/_gen
rm -rf "$out"
mkdir -p "$out"
python3 -m grpc_tools.protoc -I ../../proto --python_out="$out" --grpc_python_out="$out" \
  plugboard/v1/plugin.proto plugboard/v1/host_api.proto \
  plugin/grpc_broker.proto plugin/grpc_controller.proto plugin/grpc_stdio.proto
find "$out" -type d -exec touch {}/__init__.py \;
