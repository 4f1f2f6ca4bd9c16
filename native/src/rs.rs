//! Systematic Reed-Solomon over GF(2^16) through `reed-solomon-simd`.
//!
//! A *group* is `n` shards of `s` bytes (one row or one column of the expanded matrix,
//! or one sliver's symbols); the first `k` are the source, the rest parity. Shard `i` of
//! group `g` lies at `offset + g * group_stride + i * shard_stride`, so rows (contiguous
//! symbols) and columns (symbols a row apart) are both extended in place. The code acts
//! on each `s`-byte shard as one vector of GF(2^16) elements, so extending rows and then
//! columns gives the same matrix as the other order (each is linear over the same field
//! on the same element layout), which is what lets a parity row verify as a sliver.

use std::collections::HashSet;

use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use reed_solomon_simd::{ReedSolomonDecoder, ReedSolomonEncoder};

use crate::rs_matrix::{self, Backend, Kernel};
use crate::threads::{self, Work};
use crate::{raw, value_error};

fn rs_error(e: reed_solomon_simd::Error) -> PyErr {
    value_error(format!("reed-solomon: {e}"))
}

pub(crate) fn check_code(k: usize, n: usize, s: usize) -> PyResult<()> {
    if k == 0 || k > n {
        return Err(value_error(format!("need 1 <= k <= n, got k={k}, n={n}")));
    }
    if s == 0 || !s.is_multiple_of(2) {
        return Err(value_error(format!("shard size must be even and positive, got {s}")));
    }
    if n > k && !ReedSolomonEncoder::supports(k, n - k) {
        return Err(value_error(format!("unsupported code: k={k}, n={n}")));
    }
    Ok(())
}

/// Compute the `n - k` parity shards of every group in place.
#[pyfunction]
#[pyo3(signature = (buf, k, n, s, groups, group_stride, shard_stride, offset = 0, matrix = None))]
#[allow(clippy::too_many_arguments)]
fn rs_extend(
    py: Python<'_>,
    buf: PyBuffer<u8>,
    k: usize,
    n: usize,
    s: usize,
    groups: usize,
    group_stride: usize,
    shard_stride: usize,
    offset: usize,
    matrix: Option<bool>,
) -> PyResult<()> {
    check_code(k, n, s)?;
    let target = raw(&buf, "buffer", true)?;
    if groups == 0 || n == k {
        return Ok(());
    }
    let end = (groups - 1)
        .checked_mul(group_stride)
        .and_then(|a| (n - 1).checked_mul(shard_stride).and_then(|b| a.checked_add(b)))
        .and_then(|a| a.checked_add(offset))
        .and_then(|a| a.checked_add(s));
    if end.is_none_or(|end| end > target.len) {
        return Err(value_error("groups reach past the end of the buffer".into()));
    }
    if shard_stride < s && n > 1 {
        return Err(value_error("shards overlap".into()));
    }
    let base = target.addr + offset;
    let matrix = choose(matrix, matrix_encode(k, n), k)?;
    let src = Layout { base, group_stride, shard_stride };
    let dst = Layout { base: base + k * shard_stride, group_stride, shard_stride };
    let work = Work::coding(groups.saturating_mul(n).saturating_mul(s));
    threads::run(py, work, || encode_by(src, dst, k, n, s, groups, matrix))?
}

/// Bytes per piece of a shard. The code acts on each 64-byte block of a shard alone, so a
/// shard cut at multiples of 64 bytes encodes to the same bytes piece by piece (a test
/// checks it); pieces keep the library's work buffer (about `2 * next_pow2(n)` shards)
/// near 1 MiB, in cache, and give the threads work when there are few large symbols.
fn piece_len(n: usize, s: usize) -> usize {
    let work = 2 * n.next_power_of_two();
    let piece = ((1usize << 20) / work).max(4096) & !63;
    s.min(piece)
}

/// Bytes per piece of a shard when decoding. A decode call costs about a millisecond
/// whatever the shard size (it evaluates the erasure locator over the whole field), so
/// decode pieces are longer than encode pieces: up to [`DECODE_WORK_BYTES`] of work buffer
/// per thread rather than about 1 MiB. At `n = 10` a 2.4 MB symbol is then 5 decodes,
/// not 75.
fn decode_piece_len(n: usize, s: usize) -> usize {
    let work = 2 * n.next_power_of_two();
    let piece = (DECODE_WORK_BYTES / work) & !63;
    s.min(piece.max(piece_len(n, s)))
}

/// Work buffer one decoding thread may fill (see [`decode_piece_len`]).
const DECODE_WORK_BYTES: usize = 16 << 20;

/// Whether an encode of `k` sources to `n - k` parity shards goes through the product with
/// a learned matrix ([`rs_matrix`]) rather than the library's FFT.
///
/// Measured with `cargo test --release rs_matrix_speed -- --ignored --nocapture` (one
/// thread, 1 MiB shards, outputs into buffers allocated once; BENCHMARKS.md, "Small n:
/// Reed-Solomon as a matrix product" and "Small n against ISA-L, back to back"), and in
/// the codec's own layout with `walrus-bench codec --baseline isal`. The product's cost
/// per source byte grows with the number of parity shards; the FFT's with `log n`, and
/// more when there are more parity shards than sources. Since the GFNI product works in
/// register tiles ([`rs_matrix`]), it was ahead of the FFT in every code measured up to
/// `k (n - k)` = 768 coefficients, by 1.5-4x (4 -> 10: 14.3 against 6.9 GB/s;
/// 12 -> 36: 3.6 against 2.0; 32 -> 49: 4.2 against 2.8), and also at 24 -> 72 (1152:
/// 1.8 against 1.3); at 32 -> 64 (1024) one run of two put the FFT ahead (2.3 against
/// 1.9), and at 32 -> 96 (2048) the FFT was (1.4 against 0.54). With AVX2 `pshufb` tables
/// (four times the instructions) it was not clearly ahead, so encodes keep the FFT there.
/// In the codec this takes the row code (`n - f` sources) up to `n = 47` and the column
/// code (`n - 2f` sources) up to `n = 58`, and nothing at `n = 1000`.
fn matrix_encode(k: usize, n: usize) -> bool {
    let parity = n.saturating_sub(k);
    rs_matrix::backend() == Backend::Gfni512
        && parity > 0
        && k <= rs_matrix::MAX_K
        && k * parity <= MATRIX_ENCODE_MAX_COEFFICIENTS
}

/// Most coefficients (`k * (n - k)`) an encode applies as a matrix product (on GFNI).
const MATRIX_ENCODE_MAX_COEFFICIENTS: usize = 768;

/// The path a call takes: `choice` if the caller made one (tests compare the two paths),
/// else `auto` (the measured thresholds).
fn choose(choice: Option<bool>, auto: bool, k: usize) -> PyResult<bool> {
    match choice {
        Some(true) if k > rs_matrix::MAX_K => {
            Err(value_error(format!("the matrix product takes k <= {}, got k={k}", rs_matrix::MAX_K)))
        }
        Some(c) => Ok(c),
        None => Ok(auto),
    }
}

/// Whether rebuilding `wanted` sources from `k` shards goes through the product with a
/// learned matrix. A decode by FFT costs an erasure locator over the whole field (about a
/// millisecond per call) and two transforms of `2 * next_pow2(n)` shards; the product costs
/// `k * wanted` coefficients per element. Measured as for [`matrix_encode`]: with AVX2 the
/// product was ahead in every case up to `k * wanted` = 544 (k = 4, n = 10, 4 wanted: 5.8
/// GB/s against 1.1; k = 32, n = 49, 17 wanted: 1.0 against 0.8), and at 1024 (k = 32,
/// n = 64, 32 wanted) it fell behind (0.1-0.3 against 0.3-0.4). With GFNI, in tiles, it
/// was ahead in every case up to `k = 32` with 32 wanted, by 2.6-38x (k = 32, n = 64:
/// 1.8 against 0.7; n = 96: 1.9 against 0.3), so GFNI takes every `k <= 32`. The portable
/// backend was never ahead.
fn matrix_decode(k: usize, wanted: usize) -> bool {
    match rs_matrix::backend() {
        Backend::Gfni512 => k <= rs_matrix::MAX_K,
        Backend::Avx2 => k <= rs_matrix::MAX_K && k * wanted <= MATRIX_DECODE_MAX_COEFFICIENTS,
        Backend::Portable => false,
    }
}

/// Most coefficients (`k * wanted`) a reconstruction applies as a matrix product on AVX2.
const MATRIX_DECODE_MAX_COEFFICIENTS: usize = 512;

/// Bytes of each shard one task of the matrix product handles (a multiple of 64, so that
/// only a shard's last piece can hold the library's short last chunk).
const MATRIX_PIECE: usize = 64 << 10;

/// Output bytes of one call of the matrix product from which its outputs are written with
/// non-temporal stores (`rs_matrix::gfni512_streamed`): half the L3 cache of the machines
/// measured (32 MiB). Below it the outputs are likely still in cache when the caller
/// hashes them, and streaming them past the cache would cost that; above it they are not,
/// and an ordinary store first reads each output line from memory.
const STREAM_MIN_OUTPUT_BYTES: usize = 16 << 20;

/// `kernel` applied to every group: input `i` of group `g` at `input(g, i)`, output `o` at
/// `output(g, o)`, `s` bytes each, split into [`MATRIX_PIECE`]s (spread over the pool on
/// its threads).
fn product(
    kernel: &Kernel,
    s: usize,
    groups: usize,
    input: impl Fn(usize, usize) -> usize + Sync,
    output: impl Fn(usize, usize) -> usize + Sync,
) {
    let (k, m) = kernel.shape();
    let stream = groups.saturating_mul(m).saturating_mul(s) >= STREAM_MIN_OUTPUT_BYTES;
    let piece = s.min(MATRIX_PIECE);
    let pieces = s.div_ceil(piece);
    let done: Result<(), std::convert::Infallible> = threads::try_for_each_init(
        groups * pieces,
        MATRIX_PIECE / piece,
        || (Vec::with_capacity(k), Vec::with_capacity(m)),
        |(ins, outs), item| {
            let (g, p) = (item / pieces, item % pieces);
            let len = piece.min(s - p * piece);
            ins.clear();
            ins.extend((0..k).map(|i| input(g, i) + p * piece));
            outs.clear();
            outs.extend((0..m).map(|o| output(g, o) + p * piece));
            // SAFETY: the callers check that every shard lies within its buffer, which is
            // exported for the whole call; outputs are disjoint from each other and from
            // the inputs; the kernel's backend is the detected one.
            unsafe { kernel.apply(ins, outs, len, stream) };
            Ok(())
        },
    );
    let Ok(()) = done;
}

/// Where shard `i` of group `g` lies: `base + g * group_stride + i * shard_stride`.
#[derive(Clone, Copy)]
pub(crate) struct Layout {
    pub base: usize,
    pub group_stride: usize,
    pub shard_stride: usize,
}

/// The `n - k` parity shards of every group: sources read through `src`, parity shard
/// `j` written as shard `j` of `dst`. No checks: callers check both layouts.
pub(crate) fn encode_at(src: Layout, dst: Layout, k: usize, n: usize, s: usize, groups: usize) -> PyResult<()> {
    encode_by(src, dst, k, n, s, groups, matrix_encode(k, n))
}

/// [`encode_at`] through the matrix product (`matrix`) or the library's FFT.
fn encode_by(src: Layout, dst: Layout, k: usize, n: usize, s: usize, groups: usize, matrix: bool) -> PyResult<()> {
    if matrix {
        let kernel = rs_matrix::encoder(k, n).map_err(rs_error)?;
        product(
            &kernel,
            s,
            groups,
            |g, i| src.base + g * src.group_stride + i * src.shard_stride,
            |g, o| dst.base + g * dst.group_stride + o * dst.shard_stride,
        );
        return Ok(());
    }
    let piece = piece_len(n, s);
    let pieces = s.div_ceil(piece);
    threads::try_for_each_init(
        groups * pieces,
        1,
        || None::<ReedSolomonEncoder>,
        |encoder, item| -> PyResult<()> {
            let (g, p) = (item / pieces, item % pieces);
            let len = piece.min(s - p * piece);
            let encoder = match encoder {
                Some(e) => {
                    e.reset(k, n - k, len).map_err(rs_error)?;
                    e
                }
                None => encoder.insert(ReedSolomonEncoder::new(k, n - k, len).map_err(rs_error)?),
            };
            let from = src.base + g * src.group_stride + p * piece;
            for i in 0..k {
                // SAFETY: within the buffer (checked by the caller); the buffer is exported
                // for the whole call.
                let shard = unsafe { std::slice::from_raw_parts((from + i * src.shard_stride) as *const u8, len) };
                encoder.add_original_shard(shard).map_err(rs_error)?;
            }
            let result = encoder.encode().map_err(rs_error)?;
            let to = dst.base + g * dst.group_stride + p * piece;
            for (j, parity) in result.recovery_iter().enumerate() {
                // SAFETY: as above; items write disjoint parity pieces.
                unsafe { std::ptr::copy_nonoverlapping(parity.as_ptr(), (to + j * dst.shard_stride) as *mut u8, len) };
            }
            Ok(())
        },
    )
}

/// Rebuild source shards `want` of every group from the `k` shards `have`.
///
/// Group `g` of source `t` (the shard with index `have[t]`) is `sources[t][g*s..(g+1)*s]`;
/// rebuilt shard `want[w]` of group `g` goes to
/// `out[g * out_group_stride + want[w] * out_index_stride..][..s]`.
#[pyfunction]
#[pyo3(signature = (k, n, s, groups, have, sources, want, out, out_group_stride, out_index_stride, matrix = None))]
#[allow(clippy::too_many_arguments)]
fn rs_reconstruct(
    py: Python<'_>,
    k: usize,
    n: usize,
    s: usize,
    groups: usize,
    have: Vec<usize>,
    sources: Vec<PyBuffer<u8>>,
    want: Vec<usize>,
    out: PyBuffer<u8>,
    out_group_stride: usize,
    out_index_stride: usize,
    matrix: Option<bool>,
) -> PyResult<()> {
    check_code(k, n, s)?;
    if have.len() != k || sources.len() != k {
        return Err(value_error(format!(
            "reconstruction takes exactly k={k} shards, got {} indices and {} buffers",
            have.len(),
            sources.len()
        )));
    }
    let distinct: HashSet<usize> = have.iter().copied().collect();
    if distinct.len() != k || have.iter().any(|&i| i >= n) {
        return Err(value_error("shard indices must be distinct and below n".into()));
    }
    if want.iter().any(|&w| w >= k || distinct.contains(&w)) {
        return Err(value_error("wanted shards must be missing source shards".into()));
    }
    let target = raw(&out, "out", true)?;
    if want.is_empty() || groups == 0 {
        return Ok(());
    }
    let mut addrs = Vec::with_capacity(k);
    for source in &sources {
        let r = raw(source, "source", false)?;
        if r.len < groups * s {
            return Err(value_error(format!("a source has {} bytes, need {}", r.len, groups * s)));
        }
        // The rebuild reads the sources while it writes `out` (the matrix product directly,
        // from several threads), so the two must not share a byte.
        if r.addr < target.addr + target.len && target.addr < r.addr + r.len {
            return Err(value_error("out overlaps a source".into()));
        }
        addrs.push(r.addr);
    }
    let max_want = *want.iter().max().unwrap_or(&0);
    let end = (groups - 1)
        .checked_mul(out_group_stride)
        .and_then(|a| max_want.checked_mul(out_index_stride).and_then(|b| a.checked_add(b)))
        .and_then(|a| a.checked_add(s));
    if end.is_none_or(|end| end > target.len) {
        return Err(value_error("rebuilt shards reach past the end of out".into()));
    }
    // The shards read and written.
    let work = Work::coding(groups.saturating_mul(k + want.len()).saturating_mul(s));
    if choose(matrix, matrix_decode(k, want.len()), k)? {
        let kernel = rs_matrix::decoder(k, n, &have, &want).map_err(rs_error)?;
        let out = target.addr;
        return threads::run(py, work, || {
            product(
                &kernel,
                s,
                groups,
                |g, t| addrs[t] + g * s,
                |g, o| out + g * out_group_stride + want[o] * out_index_stride,
            )
        });
    }
    if groups > 1 && s < SMALL_SYMBOL {
        return threads::run(py, work, || {
            let batch = Batch { k, n, s, groups, have: &have, addrs: &addrs, want: &want };
            batch.decode(target.addr, out_group_stride, out_index_stride)
        })?;
    }
    let piece = decode_piece_len(n, s);
    let pieces = s.div_ceil(piece);
    threads::run(py, work, || {
        threads::try_for_each_init(
            groups * pieces,
            1,
            || None::<ReedSolomonDecoder>,
            |decoder, item| -> PyResult<()> {
                let (g, p) = (item / pieces, item % pieces);
                let len = piece.min(s - p * piece);
                let decoder = match decoder {
                    Some(d) => {
                        d.reset(k, n - k, len).map_err(rs_error)?;
                        d
                    }
                    None => decoder.insert(ReedSolomonDecoder::new(k, n - k, len).map_err(rs_error)?),
                };
                for (t, &index) in have.iter().enumerate() {
                    // SAFETY: every source holds at least `groups * s` bytes (checked).
                    let shard = unsafe {
                        std::slice::from_raw_parts((addrs[t] + g * s + p * piece) as *const u8, len)
                    };
                    if index < k {
                        decoder.add_original_shard(index, shard).map_err(rs_error)?;
                    } else {
                        decoder.add_recovery_shard(index - k, shard).map_err(rs_error)?;
                    }
                }
                let result = decoder.decode().map_err(rs_error)?;
                for &w in &want {
                    let restored = result
                        .restored_original(w)
                        .ok_or_else(|| value_error(format!("shard {w} was not restored")))?;
                    let dst = (target.addr + g * out_group_stride + w * out_index_stride + p * piece) as *mut u8;
                    // SAFETY: within out (checked above).
                    unsafe { std::ptr::copy_nonoverlapping(restored.as_ptr(), dst, len) };
                }
                Ok(())
            },
        )
    })?
}

/// Below this symbol size, a reconstruction of many groups is done as one decode (see
/// [`Batch`]): each decode call costs about a millisecond whatever the shard size (it
/// evaluates the erasure locator over the whole field), which at `n = 1000` and small
/// blobs was hundreds of calls per read.
const SMALL_SYMBOL: usize = 4096;

/// A reconstruction of many groups that share their erasure pattern, done as one decode
/// of long shards: group `g`'s symbol of each shard is placed at `g * S` (`S` = the
/// symbol rounded up to 64 bytes) in the library's own layout for a short last block
/// (a tail of `t` bytes keeps its low half at the block's start and its high half 32
/// bytes in), so that every group decodes to the same bytes as it would alone (a test
/// checks this through the Python API).
struct Batch<'a> {
    k: usize,
    n: usize,
    s: usize,
    groups: usize,
    have: &'a [usize],
    addrs: &'a [usize],
    want: &'a [usize],
}

fn padded(s: usize) -> usize {
    s.div_ceil(64) * 64
}

/// Copy a symbol into its padded slot (the slot is zeroed already).
fn pad_into(slot: &mut [u8], symbol: &[u8]) {
    let s = symbol.len();
    let full = s - s % 64;
    let half = (s % 64) / 2;
    slot[..full].copy_from_slice(&symbol[..full]);
    if half > 0 {
        slot[full..full + half].copy_from_slice(&symbol[full..full + half]);
        slot[full + 32..full + 32 + half].copy_from_slice(&symbol[full + half..]);
    }
}

/// The inverse of [`pad_into`].
fn unpad_from(symbol: &mut [u8], slot: &[u8]) {
    let s = symbol.len();
    let full = s - s % 64;
    let half = (s % 64) / 2;
    symbol[..full].copy_from_slice(&slot[..full]);
    if half > 0 {
        symbol[full..full + half].copy_from_slice(&slot[full..full + half]);
        symbol[full + half..].copy_from_slice(&slot[full + 32..full + 32 + half]);
    }
}

impl Batch<'_> {
    fn decode(&self, out: usize, out_group_stride: usize, out_index_stride: usize) -> PyResult<()> {
        let (k, n, s, groups) = (self.k, self.n, self.s, self.groups);
        let slot = padded(s);
        let long = groups * slot;
        // The k long source shards, built in tasks.
        let sources: Vec<Vec<u8>> = threads::map(self.addrs.len(), |t| {
            let addr = self.addrs[t];
            let mut shard = vec![0u8; long];
            for g in 0..groups {
                // SAFETY: every source holds at least `groups * s` bytes (checked).
                let symbol = unsafe { std::slice::from_raw_parts((addr + g * s) as *const u8, s) };
                pad_into(&mut shard[g * slot..(g + 1) * slot], symbol);
            }
            shard
        });
        // Whole slots per piece (slots are multiples of 64 bytes, so pieces stay aligned).
        let piece = ((decode_piece_len(n, long) / slot).max(1) * slot).min(long);
        let pieces = long.div_ceil(piece);
        threads::try_for_each_init(
            pieces,
            1,
            || None::<ReedSolomonDecoder>,
            |decoder, p| -> PyResult<()> {
                let start = p * piece;
                let len = piece.min(long - start);
                let decoder = match decoder {
                    Some(d) => {
                        d.reset(k, n - k, len).map_err(rs_error)?;
                        d
                    }
                    None => decoder.insert(ReedSolomonDecoder::new(k, n - k, len).map_err(rs_error)?),
                };
                for (t, &index) in self.have.iter().enumerate() {
                    let shard = &sources[t][start..start + len];
                    if index < k {
                        decoder.add_original_shard(index, shard).map_err(rs_error)?;
                    } else {
                        decoder.add_recovery_shard(index - k, shard).map_err(rs_error)?;
                    }
                }
                let result = decoder.decode().map_err(rs_error)?;
                for &w in self.want {
                    let restored = result
                        .restored_original(w)
                        .ok_or_else(|| value_error(format!("shard {w} was not restored")))?;
                    let first = start / slot;
                    let last = (start + len).div_ceil(slot);
                    for g in first..last {
                        let (a, b) = (g * slot, (g + 1) * slot);
                        if a < start || b > start + len {
                            return Err(value_error("internal: a slot straddles two pieces".into()));
                        }
                        let dst = out + g * out_group_stride + w * out_index_stride;
                        // SAFETY: within out (checked by the caller); slots are disjoint.
                        let symbol = unsafe { std::slice::from_raw_parts_mut(dst as *mut u8, s) };
                        unpad_from(symbol, &restored[a - start..b - start]);
                    }
                }
                Ok(())
            },
        )
    }
}

/// Whether `reed-solomon-simd` supports `k` source shards extended to `n`.
#[pyfunction]
fn rs_supports(k: usize, n: usize) -> bool {
    k >= 1 && k <= n && (k == n || ReedSolomonEncoder::supports(k, n - k))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(rs_extend, m)?)?;
    m.add_function(wrap_pyfunction!(rs_reconstruct, m)?)?;
    m.add_function(wrap_pyfunction!(rs_supports, m)?)?;
    Ok(())
}
