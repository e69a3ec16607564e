//! A Python plugin on grpcio, served with `sdk/python` (placeholder until the SDK lands).
