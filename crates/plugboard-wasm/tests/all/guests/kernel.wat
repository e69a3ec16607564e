;; An Extism-ABI plugin that uses only Extism's kernel, so it runs unchanged under Extism
;; itself and under Plugboard (the conformance test runs it under both).
(module
  (import "extism:host/env" "input_length" (func $input_length (result i64)))
  (import "extism:host/env" "input_load_u8" (func $input_load_u8 (param i64) (result i32)))
  (import "extism:host/env" "input_load_u64" (func $input_load_u64 (param i64) (result i64)))
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "length" (func $length (param i64) (result i64)))
  (import "extism:host/env" "load_u8" (func $load_u8 (param i64) (result i32)))
  (import "extism:host/env" "load_u64" (func $load_u64 (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "store_u64" (func $store_u64 (param i64 i64)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (import "extism:host/env" "error_set" (func $error_set (param i64)))
  (import "extism:host/env" "config_get" (func $config_get (param i64) (result i64)))
  (import "extism:host/env" "var_get" (func $var_get (param i64) (result i64)))
  (import "extism:host/env" "var_set" (func $var_set (param i64 i64)))
  (import "extism:host/env" "log_info" (func $log_info (param i64)))
  (memory (export "memory") 1)
  (data (i32.const 16) "boom: this call fails")       ;; 21 bytes
  (data (i32.const 64) "greeting")                    ;; 8
  (data (i32.const 80) "count")                       ;; 5
  (data (i32.const 96) "hello from the guest log")    ;; 24

  ;; Copies `len` bytes of guest memory at `ptr` into a new kernel block.
  (func $put (param $ptr i32) (param $len i32) (result i64)
    (local $off i64) (local $i i32)
    (local.set $off (call $alloc (i64.extend_i32_u (local.get $len))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
      (call $store_u8 (i64.add (local.get $off) (i64.extend_i32_u (local.get $i)))
                      (i32.load8_u (i32.add (local.get $ptr) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (local.get $off))

  ;; Copies the input into a new kernel block: 8 bytes per call, then the tail.
  (func $input (result i64)
    (local $n i64) (local $off i64) (local $i i64)
    (local.set $n (call $input_length))
    (local.set $off (call $alloc (local.get $n)))
    (block $done (loop $next
      (br_if $done (i64.gt_u (i64.add (local.get $i) (i64.const 8)) (local.get $n)))
      (call $store_u64 (i64.add (local.get $off) (local.get $i)) (call $input_load_u64 (local.get $i)))
      (local.set $i (i64.add (local.get $i) (i64.const 8)))
      (br $next)))
    (block $done (loop $next
      (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
      (call $store_u8 (i64.add (local.get $off) (local.get $i)) (call $input_load_u8 (local.get $i)))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $next)))
    (local.get $off))

  ;; echo: the input, unchanged.
  (func (export "echo") (result i32)
    (local $off i64)
    (local.set $off (call $input))
    (call $output_set (local.get $off) (call $input_length))
    (i32.const 0))

  ;; count_vowels: how many of a, e, i, o, u (either case) the input holds, as a u64 (LE).
  (func (export "count_vowels") (result i32)
    (local $n i64) (local $i i64) (local $c i32) (local $count i64) (local $out i64)
    (local.set $n (call $input_length))
    (block $done (loop $next
      (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
      (local.set $c (i32.or (call $input_load_u8 (local.get $i)) (i32.const 32)))
      (if (i32.or (i32.or (i32.eq (local.get $c) (i32.const 97)) (i32.eq (local.get $c) (i32.const 101)))
                  (i32.or (i32.or (i32.eq (local.get $c) (i32.const 105)) (i32.eq (local.get $c) (i32.const 111)))
                          (i32.eq (local.get $c) (i32.const 117))))
        (then (local.set $count (i64.add (local.get $count) (i64.const 1)))))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $next)))
    (local.set $out (call $alloc (i64.const 8)))
    (call $store_u64 (local.get $out) (local.get $count))
    (call $output_set (local.get $out) (i64.const 8))
    (i32.const 0))

  ;; greet: the configuration value `greeting`, then the input.
  (func (export "greet") (result i32)
    (local $g i64) (local $glen i64) (local $in i64) (local $n i64) (local $out i64) (local $i i64)
    (local.set $g (call $config_get (call $put (i32.const 64) (i32.const 8))))
    (local.set $glen (call $length (local.get $g)))
    (local.set $n (call $input_length))
    (local.set $in (call $input))
    (local.set $out (call $alloc (i64.add (local.get $glen) (local.get $n))))
    (block $done (loop $next
      (br_if $done (i64.ge_u (local.get $i) (local.get $glen)))
      (call $store_u8 (i64.add (local.get $out) (local.get $i)) (call $load_u8 (i64.add (local.get $g) (local.get $i))))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $next)))
    (local.set $i (i64.const 0))
    (block $done (loop $next
      (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
      (call $store_u8 (i64.add (local.get $out) (i64.add (local.get $glen) (local.get $i)))
                      (call $load_u8 (i64.add (local.get $in) (local.get $i))))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $next)))
    (call $log_info (call $put (i32.const 96) (i32.const 24)))
    (call $output_set (local.get $out) (i64.add (local.get $glen) (local.get $n)))
    (i32.const 0))

  ;; counter: increments the variable `count` (a u64) and returns its new value.
  (func (export "counter") (result i32)
    (local $key i64) (local $v i64) (local $n i64) (local $out i64)
    (local.set $key (call $put (i32.const 80) (i32.const 5)))
    (local.set $v (call $var_get (local.get $key)))
    (if (i64.ne (local.get $v) (i64.const 0))
      (then (local.set $n (call $load_u64 (local.get $v)))))
    (local.set $v (call $alloc (i64.const 8)))
    (call $store_u64 (local.get $v) (i64.add (local.get $n) (i64.const 1)))
    (call $var_set (local.get $key) (local.get $v))
    ;; The output is a block of its own: the variable's block is the host's after var_set.
    (local.set $out (call $alloc (i64.const 8)))
    (call $store_u64 (local.get $out) (i64.add (local.get $n) (i64.const 1)))
    (call $output_set (local.get $out) (i64.const 8))
    (i32.const 0))

  ;; fail: sets an error and returns 1.
  (func (export "fail") (result i32)
    (call $error_set (call $put (i32.const 16) (i32.const 21)))
    (i32.const 1))
)
