//! Wire contracts (filled in by the process-runtime work).
