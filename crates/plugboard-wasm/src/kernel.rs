//! Extism's kernel, on the host side: the memory blocks through which an Extism-ABI guest
//! exchanges its input, output, errors, configuration values and variables with the host.
//!
//! Extism links a kernel written in WebAssembly into every plugin; here the same contract is
//! served by the host, which keeps the blocks in one buffer per instance. Offsets are what the
//! guest sees (`0` is "no block"). The buffer is emptied at the start of every call, as
//! Extism resets its kernel memory; variables outlive calls and are shared by the plugin's
//! instances.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

/// The first offset handed out, so that `0` never names a block.
const BASE: u64 = 8;

/// Variables (`var_get`/`var_set`), shared by all instances of one plugin.
pub(crate) type Vars = Arc<Mutex<HashMap<Vec<u8>, Vec<u8>>>>;

/// Why a kernel operation failed; it traps the guest.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KernelError {
    #[error("the plugin read or wrote {len} byte(s) at kernel offset {offset}, outside the {size} bytes it allocated")]
    OutOfBounds { offset: u64, len: u64, size: u64 },
    #[error("the plugin allocated {wanted} bytes of kernel memory, past its limit of {limit} bytes (`wasm.memory_max`)")]
    OutOfMemory { wanted: u64, limit: u64 },
}

/// One instance's kernel memory.
#[derive(Debug)]
pub(crate) struct Kernel {
    mem: Vec<u8>,
    blocks: HashMap<u64, u64>,
    input: (u64, u64),
    pub(crate) output: (u64, u64),
    pub(crate) error: u64,
    pub(crate) vars: Vars,
    pub(crate) http_status: i32,
    limit: u64,
}

impl Kernel {
    pub(crate) fn new(vars: Vars, limit: u64) -> Self {
        Self {
            mem: vec![0; BASE as usize],
            blocks: HashMap::new(),
            input: (0, 0),
            output: (0, 0),
            error: 0,
            vars,
            http_status: 0,
            limit,
        }
    }

    /// Empties the memory and places `input` in it, for a new call.
    pub(crate) fn begin(&mut self, input: &[u8]) -> Result<(), KernelError> {
        self.mem.truncate(BASE as usize);
        self.blocks.clear();
        self.output = (0, 0);
        self.error = 0;
        let off = self.alloc_bytes(input)?;
        self.input = (off, input.len() as u64);
        Ok(())
    }

    pub(crate) fn alloc(&mut self, n: u64) -> Result<u64, KernelError> {
        if n == 0 {
            return Ok(0);
        }
        let off = self.mem.len() as u64;
        let end = off.saturating_add(n);
        if end > self.limit {
            return Err(KernelError::OutOfMemory {
                wanted: n,
                limit: self.limit,
            });
        }
        self.mem.resize(end as usize, 0);
        self.blocks.insert(off, n);
        Ok(off)
    }

    /// Allocates a block holding `bytes` (`0` for no bytes).
    pub(crate) fn alloc_bytes(&mut self, bytes: &[u8]) -> Result<u64, KernelError> {
        let off = self.alloc(bytes.len() as u64)?;
        if off != 0 {
            self.mem[off as usize..off as usize + bytes.len()].copy_from_slice(bytes);
        }
        Ok(off)
    }

    pub(crate) fn free(&mut self, off: u64) {
        if let Some(len) = self.blocks.remove(&off) {
            if off + len == self.mem.len() as u64 {
                self.mem.truncate(off as usize);
            }
        }
    }

    pub(crate) fn length(&self, off: u64) -> u64 {
        self.blocks.get(&off).copied().unwrap_or(0)
    }

    fn range(&self, off: u64, len: u64) -> Result<std::ops::Range<usize>, KernelError> {
        let size = self.mem.len() as u64;
        match off.checked_add(len) {
            Some(end) if off >= BASE && end <= size => Ok(off as usize..end as usize),
            _ => Err(KernelError::OutOfBounds {
                offset: off,
                len,
                size,
            }),
        }
    }

    /// The bytes of the block at `off` (empty for `0`).
    pub(crate) fn block(&self, off: u64) -> Result<&[u8], KernelError> {
        if off == 0 {
            return Ok(&[]);
        }
        let len = self.length(off);
        Ok(&self.mem[self.range(off, len)?])
    }

    /// `len` bytes at `off`, for `output_set`, which may name part of a block.
    pub(crate) fn slice(&self, off: u64, len: u64) -> Result<&[u8], KernelError> {
        if len == 0 {
            return Ok(&[]);
        }
        Ok(&self.mem[self.range(off, len)?])
    }

    pub(crate) fn load_u8(&self, off: u64) -> Result<u32, KernelError> {
        let r = self.range(off, 1)?;
        Ok(u32::from(self.mem[r.start]))
    }

    pub(crate) fn load_u64(&self, off: u64) -> Result<u64, KernelError> {
        let r = self.range(off, 8)?;
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.mem[r]);
        Ok(u64::from_le_bytes(b))
    }

    pub(crate) fn store_u8(&mut self, off: u64, v: u32) -> Result<(), KernelError> {
        let r = self.range(off, 1)?;
        self.mem[r.start] = v as u8;
        Ok(())
    }

    pub(crate) fn store_u64(&mut self, off: u64, v: u64) -> Result<(), KernelError> {
        let r = self.range(off, 8)?;
        self.mem[r].copy_from_slice(&v.to_le_bytes());
        Ok(())
    }

    pub(crate) fn input_offset(&self) -> u64 {
        self.input.0
    }

    pub(crate) fn input_length(&self) -> u64 {
        self.input.1
    }

    pub(crate) fn input_load_u8(&self, i: u64) -> Result<u32, KernelError> {
        if i >= self.input.1 {
            return Err(KernelError::OutOfBounds {
                offset: i,
                len: 1,
                size: self.input.1,
            });
        }
        self.load_u8(self.input.0 + i)
    }

    pub(crate) fn input_load_u64(&self, i: u64) -> Result<u64, KernelError> {
        if i.saturating_add(8) > self.input.1 {
            return Err(KernelError::OutOfBounds {
                offset: i,
                len: 8,
                size: self.input.1,
            });
        }
        self.load_u64(self.input.0 + i)
    }

    /// The output the guest set, copied out.
    pub(crate) fn output_bytes(&self) -> Result<Vec<u8>, KernelError> {
        self.slice(self.output.0, self.output.1).map(<[u8]>::to_vec)
    }

    /// The error message the guest set, if any.
    pub(crate) fn error_text(&self) -> Option<String> {
        if self.error == 0 {
            return None;
        }
        self.block(self.error)
            .ok()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    pub(crate) fn memory_bytes(&self) -> u64 {
        self.mem.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel() -> Kernel {
        Kernel::new(Vars::default(), 1 << 20)
    }

    #[test]
    fn blocks_round_trip_and_zero_is_no_block() {
        let mut k = kernel();
        k.begin(b"hello world!").unwrap();
        assert_eq!(k.input_length(), 12);
        assert_eq!(
            k.input_load_u64(0).unwrap(),
            u64::from_le_bytes(*b"hello wo")
        );
        assert_eq!(k.input_load_u8(11).unwrap(), u32::from(b'!'));
        assert!(k.input_load_u64(5).is_err(), "reads past the input fail");
        let off = k.alloc(16).unwrap();
        assert_eq!(k.length(off), 16);
        k.store_u64(off + 8, 42).unwrap();
        assert_eq!(k.load_u64(off + 8).unwrap(), 42);
        assert_eq!(k.length(0), 0);
        assert_eq!(k.alloc(0).unwrap(), 0);
        assert!(k.load_u8(0).is_err(), "offset 0 is never readable");
        k.free(off);
        assert_eq!(k.length(off), 0);
    }

    #[test]
    fn allocation_past_the_limit_fails_and_begin_resets() {
        let mut k = Kernel::new(Vars::default(), 64);
        assert!(matches!(k.alloc(100), Err(KernelError::OutOfMemory { .. })));
        let a = k.alloc(32).unwrap();
        k.output = (a, 4);
        k.begin(b"").unwrap();
        assert_eq!(k.output, (0, 0));
        assert_eq!(
            k.memory_bytes(),
            BASE,
            "a new call starts from empty memory"
        );
    }
}
