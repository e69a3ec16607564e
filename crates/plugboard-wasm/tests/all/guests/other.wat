;; The core module of a component of some other world: it exports `hello`, nothing Plugboard
;; needs.
(module
  (memory (export "memory") 1)
  (func (export "hello") (result i32) i32.const 42)
)
