//! `walrus_native`: the codec's hot loops, batched so that Python makes one call per
//! blob or sliver rather than one per symbol, and Ed25519 signature verification.
//!
//! Who calls it: only `walrus_node.codec`, and `walrus_node.protocol.keys` for
//! [`ed25519`] (an import-linter contract keeps it so). The module is sans-I/O like the
//! codec: buffers and sizes in, bytes out.
//!
//! * [`rs`]: systematic Reed-Solomon over GF(2^16) (`reed-solomon-simd`, as Walrus uses):
//!   extending strided groups of symbols in place, and rebuilding lost source symbols.
//! * [`rs_matrix`]: the same code for small `k` as a direct product with a matrix learned
//!   from the library (GFNI or AVX2 table lookups), used by [`rs`] where it is faster.
//! * [`merkle`]: the codec's domain-separated BLAKE3 Merkle trees: leaf hashes of many
//!   symbols, many roots, proofs, and batch proof verification.
//! * [`batch_hash`]: BLAKE3 of many short messages of one length side by side in SIMD
//!   lanes (AVX-512, AVX2 or plain integers, chosen at run time), which every hash of
//!   [`merkle`] goes through.
//! * [`ed25519`]: one signature check under the rule every node applies
//!   (`ed25519-dalek`'s `verify_strict` with canonical keys).
//! * [`threads`]: where a call's work runs: small work on the calling thread, big work
//!   spread over a rayon pool (independent rows, columns, trees, proofs).
//!
//! Every codec function releases the GIL (the signature check keeps it: it takes less
//! time than handing the GIL over). Every offset a caller passes is checked against the
//! buffer it indexes before any byte is touched.

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

mod batch_hash;
mod ed25519;
mod merkle;
mod rs;
mod rs_matrix;
mod threads;

/// A contiguous byte buffer's address and length; `writable` demands a writable export.
pub(crate) struct Raw {
    pub addr: usize,
    pub len: usize,
}

pub(crate) fn raw(buf: &PyBuffer<u8>, what: &str, writable: bool) -> PyResult<Raw> {
    if !buf.is_c_contiguous() {
        return Err(PyValueError::new_err(format!("{what} must be contiguous")));
    }
    if writable && buf.readonly() {
        return Err(PyValueError::new_err(format!("{what} must be writable")));
    }
    Ok(Raw { addr: buf.buf_ptr() as usize, len: buf.len_bytes() })
}

pub(crate) fn value_error(message: String) -> PyErr {
    PyValueError::new_err(message)
}

#[pymodule]
fn walrus_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    threads::register(m)?;
    rs::register(m)?;
    merkle::register(m)?;
    ed25519::register(m)?;
    m.add("DIGEST_SIZE", merkle::DIGEST)?;
    Ok(())
}
