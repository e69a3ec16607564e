;; An Extism-ABI plugin whose `version` export outputs its version, for the hot-reload test and
;; the swap-latency benchmark (which substitute the version string, always five bytes).
(module
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (memory (export "memory") 1)
  (data (i32.const 16) "1.0.0")
  (func (export "version") (result i32)
    (local $off i64) (local $i i32)
    (local.set $off (call $alloc (i64.const 5)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (i32.const 5)))
      (call $store_u8 (i64.add (local.get $off) (i64.extend_i32_u (local.get $i)))
                      (i32.load8_u (i32.add (i32.const 16) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (call $output_set (local.get $off) (i64.const 5))
    (i32.const 0)))
