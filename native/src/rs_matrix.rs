//! Reed-Solomon for small `k` as a direct matrix product, learned from `reed-solomon-simd`.
//!
//! Who calls it: [`crate::rs`], for codes and reconstructions whose `k` is at most
//! [`MAX_K`] (the thresholds and how they were chosen are documented there).
//!
//! The library's FFT-based code costs about `log2(2 * next_pow2(n))` butterflies per
//! element whatever `k`, and a decode also evaluates an erasure locator over the whole
//! field (about a millisecond per call). For a handful of source shards a plain product
//! with the code's matrix is cheaper, as ISA-L did over GF(2^8): each output shard is a
//! sum over the `k` input shards of one coefficient times that input.
//!
//! **The matrix is learned from the library, so the format stays the library's.** Its
//! GF(2^16) elements live in its own basis and shard layout (64-byte chunks: the low bytes
//! of 32 elements, then their high bytes; a short last chunk keeps its low half at the
//! start and its high half 32 bytes in), but any Reed-Solomon map is linear over GF(2) and
//! acts the same way at every element position. So each (output, input) coefficient is a
//! 16 x 16 bit matrix, and all of them come out of ONE call of the library: input `t` gets
//! a shard whose chunk `t` holds the unit element `1 << b` at element position `b`
//! (`b = 0..15`) and zeros elsewhere; output `o`'s chunk `t`, position `b`, is then
//! column `b` of coefficient `(o, t)`.
//!
//! **Applying a coefficient** to a 16-bit element is a GF(2) matrix-vector product; three
//! backends do it, chosen at run time:
//! * GFNI with AVX-512: one 64-byte chunk per register; `gf2p8affineqb` applies an 8 x 8
//!   bit matrix per byte, with a different matrix in each 256-bit half, so one coefficient
//!   is two instructions per chunk (the chunk, and the chunk with its halves swapped).
//! * AVX2: the element's four nibbles index eight 16-byte tables (`pshufb`), the low and
//!   the high byte of the image of each nibble.
//! * portable: two 256-entry tables of images (low byte, high byte) per coefficient.
//!
//! Outputs accumulate with XOR. On GFNI, calls whose outputs do not fit in the caches
//! write them with non-temporal stores, realigned to cache lines ([`gfni512_streamed`]).
//! Tests compare every backend with the library on random data, shard lengths (with and
//! without a short last chunk) and erasure patterns.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use reed_solomon_simd::{ReedSolomonDecoder, ReedSolomonEncoder};

/// Largest `k` (input shards) the matrix path takes: per chunk the AVX2 backend keeps the
/// nibbles of all `k` inputs on the stack, and beyond this the FFT is faster anyway (see
/// [`crate::rs`] for the measured thresholds).
pub(crate) const MAX_K: usize = 32;

/// Learned decode matrices kept per (k, n, shards present, shards wanted); when full, the
/// cache is emptied (an erasure pattern is usually reused for a whole blob, and learning
/// one costs a single decode call).
pub(crate) const DECODE_CACHE_ENTRIES: usize = 64;

/// Learned encode matrices kept per (k, n): every code of a deployment, many times over.
pub(crate) const ENCODE_CACHE_ENTRIES: usize = 64;

/// The instruction set the product runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `gf2p8affineqb` on 512-bit registers (`gfni`, `avx512f`, `avx512bw`).
    Gfni512,
    /// `pshufb` nibble tables on 256-bit registers (`avx2`).
    Avx2,
    /// Byte tables, one element at a time.
    Portable,
}

impl Backend {
    /// The fastest backend this CPU runs.
    pub fn detect() -> Backend {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("gfni")
                && is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
            {
                return Backend::Gfni512;
            }
            if is_x86_feature_detected!("avx2") {
                return Backend::Avx2;
            }
        }
        Backend::Portable
    }

    /// Whether this CPU runs `self`.
    #[cfg(test)]
    pub fn available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Backend::Gfni512 => {
                is_x86_feature_detected!("gfni")
                    && is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
            }
            #[cfg(target_arch = "x86_64")]
            Backend::Avx2 => is_x86_feature_detected!("avx2"),
            #[cfg(not(target_arch = "x86_64"))]
            Backend::Gfni512 | Backend::Avx2 => false,
            Backend::Portable => true,
        }
    }
}

/// One coefficient: the images of the 16 unit elements, i.e. the columns of its 16 x 16
/// bit matrix (bit `i` of `columns[j]` is row `i`, column `j`).
type Columns = [u16; 16];

/// A learned linear map from `ins` shards to `outs` shards.
pub(crate) struct Matrix {
    ins: usize,
    outs: usize,
    /// Coefficient `(o, i)` at `o * ins + i`.
    coef: Vec<Columns>,
}

/// Chunk `c` of a shard in the library's layout: element `e` is `(chunk[e], chunk[32 + e])`.
const CHUNK: usize = 64;

fn unit_shard(t: usize, chunks: usize) -> Vec<u8> {
    let mut shard = vec![0u8; chunks * CHUNK];
    for b in 0..16 {
        let value = 1u16 << b;
        shard[t * CHUNK + b] = value as u8;
        shard[t * CHUNK + 32 + b] = (value >> 8) as u8;
    }
    shard
}

fn read_columns(shard: &[u8], t: usize) -> Columns {
    let mut columns = [0u16; 16];
    for (b, column) in columns.iter_mut().enumerate() {
        *column = u16::from(shard[t * CHUNK + b]) | (u16::from(shard[t * CHUNK + 32 + b]) << 8);
    }
    columns
}

impl Matrix {
    /// The map from the `k` source shards to the `n - k` parity shards of the `(k, n)` code.
    pub(crate) fn learn_encode(k: usize, n: usize) -> Result<Matrix, reed_solomon_simd::Error> {
        let mut encoder = ReedSolomonEncoder::new(k, n - k, k * CHUNK)?;
        for t in 0..k {
            encoder.add_original_shard(unit_shard(t, k))?;
        }
        let result = encoder.encode()?;
        let mut coef = vec![[0u16; 16]; (n - k) * k];
        for (o, parity) in result.recovery_iter().enumerate() {
            for t in 0..k {
                coef[o * k + t] = read_columns(parity, t);
            }
        }
        Ok(Matrix { ins: k, outs: n - k, coef })
    }

    /// The map from shards `have` (`k` of them, in that order) to source shards `want`.
    pub(crate) fn learn_decode(
        k: usize,
        n: usize,
        have: &[usize],
        want: &[usize],
    ) -> Result<Matrix, reed_solomon_simd::Error> {
        let mut decoder = ReedSolomonDecoder::new(k, n - k, k * CHUNK)?;
        for (t, &index) in have.iter().enumerate() {
            let shard = unit_shard(t, k);
            if index < k {
                decoder.add_original_shard(index, shard)?;
            } else {
                decoder.add_recovery_shard(index - k, shard)?;
            }
        }
        let result = decoder.decode()?;
        let mut coef = vec![[0u16; 16]; want.len() * k];
        for (o, &w) in want.iter().enumerate() {
            let restored = result.restored_original(w).ok_or(reed_solomon_simd::Error::NotEnoughShards {
                original_count: k,
                original_received_count: 0,
                recovery_received_count: 0,
            })?;
            for t in 0..k {
                coef[o * k + t] = read_columns(restored, t);
            }
        }
        Ok(Matrix { ins: k, outs: want.len(), coef })
    }
}

/// A matrix prepared for one backend.
pub(crate) enum Kernel {
    /// Per coefficient: images of every low byte and every high byte.
    Portable { ins: usize, outs: usize, tables: Vec<[[u16; 256]; 2]> },
    /// Per coefficient: eight 16-byte tables (nibble `q` of the element, low or high byte
    /// of its image, at `2 * q + byte`).
    Avx2 { ins: usize, outs: usize, tables: Vec<[[u8; 16]; 8]> },
    /// Per coefficient: two 512-bit operands of `gf2p8affineqb`, eight 8 x 8 matrices each
    /// (the first for the chunk, the second for the chunk with its halves swapped).
    Gfni512 { ins: usize, outs: usize, matrices: Vec<[[u64; 8]; 2]> },
}

/// The image of `value` under a coefficient.
fn image(columns: &Columns, value: u16) -> u16 {
    let mut out = 0u16;
    for (b, column) in columns.iter().enumerate() {
        if value >> b & 1 == 1 {
            out ^= column;
        }
    }
    out
}

/// The 8 x 8 bit matrix taking input byte `from` (0 = low, 1 = high) of an element to
/// output byte `to`, as `gf2p8affineqb` reads it: byte `7 - i` of the word is row `i`.
fn affine(columns: &Columns, from: usize, to: usize) -> u64 {
    let mut word = 0u64;
    for i in 0..8 {
        let mut row = 0u8;
        for j in 0..8 {
            if columns[8 * from + j] >> (8 * to + i) & 1 == 1 {
                row |= 1 << j;
            }
        }
        word |= u64::from(row) << (8 * (7 - i));
    }
    word
}

impl Kernel {
    pub(crate) fn new(m: &Matrix, backend: Backend) -> Kernel {
        let (ins, outs) = (m.ins, m.outs);
        match backend {
            Backend::Portable => {
                let tables = m
                    .coef
                    .iter()
                    .map(|c| {
                        let mut t = [[0u16; 256]; 2];
                        for v in 0..256u16 {
                            t[0][v as usize] = image(c, v);
                            t[1][v as usize] = image(c, v << 8);
                        }
                        t
                    })
                    .collect();
                Kernel::Portable { ins, outs, tables }
            }
            Backend::Avx2 => {
                let tables = m
                    .coef
                    .iter()
                    .map(|c| {
                        let mut t = [[0u8; 16]; 8];
                        for q in 0..4 {
                            for v in 0..16u16 {
                                let y = image(c, v << (4 * q));
                                t[2 * q][v as usize] = y as u8;
                                t[2 * q + 1][v as usize] = (y >> 8) as u8;
                            }
                        }
                        t
                    })
                    .collect();
                Kernel::Avx2 { ins, outs, tables }
            }
            Backend::Gfni512 => {
                let matrices = m
                    .coef
                    .iter()
                    .map(|c| {
                        // Straight: low half low -> low, high half high -> high.
                        // Swapped (the chunk's halves exchanged): low half gets high -> low,
                        // high half gets low -> high.
                        let (ll, hh, hl, lh) = (affine(c, 0, 0), affine(c, 1, 1), affine(c, 1, 0), affine(c, 0, 1));
                        [[ll, ll, ll, ll, hh, hh, hh, hh], [hl, hl, hl, hl, lh, lh, lh, lh]]
                    })
                    .collect();
                Kernel::Gfni512 { ins, outs, matrices }
            }
        }
    }

    /// (input shards, output shards).
    pub(crate) fn shape(&self) -> (usize, usize) {
        match self {
            Kernel::Portable { ins, outs, .. } | Kernel::Avx2 { ins, outs, .. } | Kernel::Gfni512 { ins, outs, .. } => {
                (*ins, *outs)
            }
        }
    }

    /// `outs[o] = sum_i coef(o, i) * ins[i]` over `len` bytes (even) of every shard, with
    /// this kernel's backend. Inputs and outputs are addresses of `len`-byte shards; outputs must not
    /// overlap anything. With `stream` (on a CPU with `avx512vbmi`), the GFNI backend writes
    /// the outputs' whole cache lines with non-temporal stores ([`gfni512_streamed`]); the
    /// bytes are the same either way.
    ///
    /// # Safety
    /// Every address must point at `len` readable (inputs) or writable (outputs) bytes for
    /// the whole call, and `backend` must be available on this CPU.
    pub(crate) unsafe fn apply(&self, ins: &[usize], outs: &[usize], len: usize, stream: bool) {
        let (k, m) = self.shape();
        debug_assert!(ins.len() == k && outs.len() == m && len.is_multiple_of(2));
        let chunks = len / CHUNK;
        if chunks > 0 {
            match self {
                #[cfg(target_arch = "x86_64")]
                Kernel::Gfni512 { ins: k, outs: m, matrices } if stream && streams() => unsafe {
                    gfni512_streamed(*k, *m, matrices, ins, outs, chunks)
                },
                _ => unsafe { self.run(ins, outs, 0, chunks) },
            }
        }
        let tail = len % CHUNK;
        if tail > 0 {
            // The library's short last chunk: low bytes at 0.., high bytes at tail/2..;
            // padded to a full chunk, multiplied, and put back.
            let half = tail / 2;
            let start = chunks * CHUNK;
            let mut padded_ins = vec![[0u8; CHUNK]; k];
            for (slot, &addr) in padded_ins.iter_mut().zip(ins) {
                let src = unsafe { std::slice::from_raw_parts((addr + start) as *const u8, tail) };
                slot[..half].copy_from_slice(&src[..half]);
                slot[32..32 + half].copy_from_slice(&src[half..]);
            }
            let mut padded_outs = vec![[0u8; CHUNK]; m];
            let in_addrs: Vec<usize> = padded_ins.iter().map(|s| s.as_ptr() as usize).collect();
            let out_addrs: Vec<usize> = padded_outs.iter_mut().map(|s| s.as_mut_ptr() as usize).collect();
            unsafe { self.run(&in_addrs, &out_addrs, 0, 1) };
            for (slot, &addr) in padded_outs.iter().zip(outs) {
                let dst = unsafe { std::slice::from_raw_parts_mut((addr + start) as *mut u8, tail) };
                dst[..half].copy_from_slice(&slot[..half]);
                dst[half..].copy_from_slice(&slot[32..32 + half]);
            }
        }
    }

    /// Chunks `first..first + count` of every shard.
    ///
    /// # Safety
    /// As [`Matrix::apply`], for whole chunks.
    unsafe fn run(&self, ins: &[usize], outs: &[usize], first: usize, count: usize) {
        match self {
            Kernel::Portable { ins: k, outs: m, tables } => {
                for c in first..first + count {
                    for o in 0..*m {
                        let mut acc = [0u16; 32];
                        for i in 0..*k {
                            let t = &tables[o * k + i];
                            let src = unsafe { std::slice::from_raw_parts((ins[i] + c * CHUNK) as *const u8, CHUNK) };
                            for (e, a) in acc.iter_mut().enumerate() {
                                *a ^= t[0][src[e] as usize] ^ t[1][src[32 + e] as usize];
                            }
                        }
                        let dst = unsafe { std::slice::from_raw_parts_mut((outs[o] + c * CHUNK) as *mut u8, CHUNK) };
                        for (e, a) in acc.iter().enumerate() {
                            dst[e] = *a as u8;
                            dst[32 + e] = (*a >> 8) as u8;
                        }
                    }
                }
            }
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 { ins: k, outs: m, tables } => unsafe { avx2(*k, *m, tables, ins, outs, first, count) },
            #[cfg(target_arch = "x86_64")]
            Kernel::Gfni512 { ins: k, outs: m, matrices } => unsafe {
                gfni512(*k, *m, matrices, ins, outs, first, count)
            },
            #[cfg(not(target_arch = "x86_64"))]
            _ => unreachable!("no vector backend on this architecture"),
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avx2(
    k: usize,
    m: usize,
    tables: &[[[u8; 16]; 8]],
    ins: &[usize],
    outs: &[usize],
    first: usize,
    count: usize,
) {
    let table: Vec<__m256i> = tables
        .iter()
        .flat_map(|t| t.iter().map(|row| unsafe { _mm256_broadcastsi128_si256(_mm_loadu_si128(row.as_ptr().cast())) }))
        .collect();
    let mask = _mm256_set1_epi8(0x0f);
    let mut nibbles = [[_mm256_setzero_si256(); 4]; MAX_K];
    for c in first..first + count {
        for i in 0..k {
            let p = (ins[i] + c * CHUNK) as *const __m256i;
            let lo = unsafe { _mm256_loadu_si256(p) };
            let hi = unsafe { _mm256_loadu_si256(p.add(1)) };
            nibbles[i] = [
                _mm256_and_si256(lo, mask),
                _mm256_and_si256(_mm256_srli_epi16(lo, 4), mask),
                _mm256_and_si256(hi, mask),
                _mm256_and_si256(_mm256_srli_epi16(hi, 4), mask),
            ];
        }
        for o in 0..m {
            let mut acc_lo = _mm256_setzero_si256();
            let mut acc_hi = _mm256_setzero_si256();
            for (i, n) in nibbles.iter().enumerate().take(k) {
                let t = &table[(o * k + i) * 8..(o * k + i) * 8 + 8];
                for q in 0..4 {
                    acc_lo = _mm256_xor_si256(acc_lo, _mm256_shuffle_epi8(t[2 * q], n[q]));
                    acc_hi = _mm256_xor_si256(acc_hi, _mm256_shuffle_epi8(t[2 * q + 1], n[q]));
                }
            }
            let p = (outs[o] + c * CHUNK) as *mut __m256i;
            unsafe {
                _mm256_storeu_si256(p, acc_lo);
                _mm256_storeu_si256(p.add(1), acc_hi);
            }
        }
    }
}

/// Most outputs one pass of the GFNI product accumulates in registers (two chunks' worth
/// each: `2 * GFNI_TILE` accumulators, four input registers and two operands fit the 32
/// vector registers).
#[cfg(target_arch = "x86_64")]
const GFNI_TILE: usize = 8;

/// How far ahead (in chunks) the GFNI product asks for its inputs, into L2 (its loads
/// stall on memory otherwise: the column code at `n = 10`, 64 MiB, reads 96 MB and writes
/// 144 MB). Into L1 instead, the row code got slower; prefetching the outputs' lines for
/// writing as well helped the many-output column code about as much as it slowed the
/// one- and two-output codes of `n = 4` down, so it is not done (BENCHMARKS.md).
#[cfg(target_arch = "x86_64")]
const PREFETCH_CHUNKS: usize = 32;

/// The GFNI product: outputs in tiles of up to [`GFNI_TILE`], two chunks per step. Each
/// input chunk is loaded once per tile and step, each coefficient's two operands once per
/// two chunks, and the accumulators never leave their registers (the tile and the step are
/// constants of [`gfni512_tile`], so the loops over them unroll).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "gfni,avx512f,avx512bw")]
unsafe fn gfni512(
    k: usize,
    m: usize,
    matrices: &[[[u64; 8]; 2]],
    ins: &[usize],
    outs: &[usize],
    first: usize,
    count: usize,
) {
    debug_assert!(matrices.len() == k * m && ins.len() == k && outs.len() == m);
    let ops = matrices.as_ptr().cast::<__m512i>();
    let mut o = 0;
    while o < m {
        let tile = (m - o).min(GFNI_TILE);
        let (tile_ops, tile_outs) = (unsafe { ops.add(2 * o * k) }, &outs[o..o + tile]);
        // SAFETY: as the caller's; `tile_ops` holds `2 * k * tile` operands.
        unsafe {
            match tile {
                1 => gfni512_tile::<1>(k, tile_ops, ins, tile_outs, first, count),
                2 => gfni512_tile::<2>(k, tile_ops, ins, tile_outs, first, count),
                3 => gfni512_tile::<3>(k, tile_ops, ins, tile_outs, first, count),
                4 => gfni512_tile::<4>(k, tile_ops, ins, tile_outs, first, count),
                5 => gfni512_tile::<5>(k, tile_ops, ins, tile_outs, first, count),
                6 => gfni512_tile::<6>(k, tile_ops, ins, tile_outs, first, count),
                7 => gfni512_tile::<7>(k, tile_ops, ins, tile_outs, first, count),
                _ => gfni512_tile::<8>(k, tile_ops, ins, tile_outs, first, count),
            }
        }
        o += tile;
    }
}

/// `T` outputs of the GFNI product over chunks `first..first + count`; operand pair
/// `(t, i)` (output `t` of the tile, input `i`) at `ops + 2 * (t * k + i)`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "gfni,avx512f,avx512bw")]
#[inline]
unsafe fn gfni512_tile<const T: usize>(
    k: usize,
    ops: *const __m512i,
    ins: &[usize],
    outs: &[usize],
    first: usize,
    count: usize,
) {
    let mut c = first;
    let end = first + count;
    while c + 2 <= end {
        let mut acc0 = [_mm512_setzero_si512(); T];
        let mut acc1 = [_mm512_setzero_si512(); T];
        for (i, &input) in ins.iter().enumerate() {
            let p = (input + c * CHUNK) as *const __m512i;
            unsafe {
                _mm_prefetch::<_MM_HINT_T1>(p.add(PREFETCH_CHUNKS).cast());
                _mm_prefetch::<_MM_HINT_T1>(p.add(PREFETCH_CHUNKS + 1).cast());
            }
            let (x0, x1) = unsafe { (_mm512_loadu_si512(p), _mm512_loadu_si512(p.add(1))) };
            // The two 256-bit halves exchanged: the high bytes where the low ones were.
            let s0 = _mm512_shuffle_i64x2::<0b01_00_11_10>(x0, x0);
            let s1 = _mm512_shuffle_i64x2::<0b01_00_11_10>(x1, x1);
            for t in 0..T {
                let op = unsafe { ops.add(2 * (t * k + i)) };
                let (straight, swapped) = unsafe { (_mm512_loadu_si512(op), _mm512_loadu_si512(op.add(1))) };
                acc0[t] = _mm512_ternarylogic_epi64::<0x96>(
                    acc0[t],
                    _mm512_gf2p8affine_epi64_epi8::<0>(x0, straight),
                    _mm512_gf2p8affine_epi64_epi8::<0>(s0, swapped),
                );
                acc1[t] = _mm512_ternarylogic_epi64::<0x96>(
                    acc1[t],
                    _mm512_gf2p8affine_epi64_epi8::<0>(x1, straight),
                    _mm512_gf2p8affine_epi64_epi8::<0>(s1, swapped),
                );
            }
        }
        for t in 0..T {
            let p = (outs[t] + c * CHUNK) as *mut __m512i;
            unsafe {
                _mm512_storeu_si512(p, acc0[t]);
                _mm512_storeu_si512(p.add(1), acc1[t]);
            }
        }
        c += 2;
    }
    if c < end {
        let mut acc = [_mm512_setzero_si512(); T];
        for (i, &input) in ins.iter().enumerate() {
            let x = unsafe { _mm512_loadu_si512((input + c * CHUNK) as *const __m512i) };
            let s = _mm512_shuffle_i64x2::<0b01_00_11_10>(x, x);
            for (t, a) in acc.iter_mut().enumerate() {
                let op = unsafe { ops.add(2 * (t * k + i)) };
                let (straight, swapped) = unsafe { (_mm512_loadu_si512(op), _mm512_loadu_si512(op.add(1))) };
                *a = _mm512_ternarylogic_epi64::<0x96>(
                    *a,
                    _mm512_gf2p8affine_epi64_epi8::<0>(x, straight),
                    _mm512_gf2p8affine_epi64_epi8::<0>(s, swapped),
                );
            }
        }
        for (t, a) in acc.iter().enumerate() {
            unsafe { _mm512_storeu_si512((outs[t] + c * CHUNK) as *mut __m512i, *a) };
        }
    }
}

/// Whether this CPU runs the streamed GFNI product (it also needs `avx512vbmi`, for the
/// byte permute that realigns each output's chunks to cache lines).
pub(crate) fn streams() -> bool {
    static STREAMS: OnceLock<bool> = OnceLock::new();
    *STREAMS.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            backend() == Backend::Gfni512 && is_x86_feature_detected!("avx512vbmi")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// The GFNI product over chunks `0..count`, writing the outputs' whole cache lines with
/// non-temporal stores.
///
/// A product whose outputs do not fit in the caches (the column code of a 64 MiB blob at
/// `n = 10` writes 144 MB) otherwise reads every output line from memory before
/// overwriting it (a read for ownership), a third more traffic for a kernel that waits on
/// memory. An output's address is wherever its symbol lies (symbols are not aligned to
/// lines), and the chunk layout is the library's, relative to the shard, so each line of
/// the destination is the end of one computed chunk and the start of the next: one
/// two-source byte permute (`vpermt2b`) per chunk puts them together, and the line is
/// stored whole. The partial line at either end of the call is written with a masked
/// ordinary store (a neighbouring piece, possibly on another thread, writes the rest of
/// it). A fence at the end orders the streamed stores before whatever tells another
/// thread the work is done.
///
/// # Safety
/// As [`Kernel::apply`], for whole chunks; [`streams`] must hold.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "gfni,avx512f,avx512bw,avx512vbmi")]
unsafe fn gfni512_streamed(k: usize, m: usize, matrices: &[[[u64; 8]; 2]], ins: &[usize], outs: &[usize], count: usize) {
    debug_assert!(matrices.len() == k * m && ins.len() == k && outs.len() == m);
    let ops = matrices.as_ptr().cast::<__m512i>();
    let mut o = 0;
    while o < m {
        let tile = (m - o).min(GFNI_TILE);
        let (tile_ops, tile_outs) = (unsafe { ops.add(2 * o * k) }, &outs[o..o + tile]);
        // SAFETY: as the caller's; `tile_ops` holds `2 * k * tile` operands.
        unsafe {
            match tile {
                1 => gfni512_tile_streamed::<1>(k, tile_ops, ins, tile_outs, count),
                2 => gfni512_tile_streamed::<2>(k, tile_ops, ins, tile_outs, count),
                3 => gfni512_tile_streamed::<3>(k, tile_ops, ins, tile_outs, count),
                4 => gfni512_tile_streamed::<4>(k, tile_ops, ins, tile_outs, count),
                5 => gfni512_tile_streamed::<5>(k, tile_ops, ins, tile_outs, count),
                6 => gfni512_tile_streamed::<6>(k, tile_ops, ins, tile_outs, count),
                7 => gfni512_tile_streamed::<7>(k, tile_ops, ins, tile_outs, count),
                _ => gfni512_tile_streamed::<8>(k, tile_ops, ins, tile_outs, count),
            }
        }
        o += tile;
    }
    _mm_sfence();
}

/// One output's realignment: `shift` = its address modulo 64, and the permute indices
/// that take the last `shift` bytes of one chunk and the first `64 - shift` of the next.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Realign {
    shift: usize,
    index: __m512i,
}

///
/// # Safety
/// The CPU has `avx512f`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn realign(addr: usize) -> Realign {
    let shift = addr % CHUNK;
    let mut index = [0u8; CHUNK];
    for (j, x) in index.iter_mut().enumerate() {
        // Below `shift`: byte `64 - shift + j` of the first source (the earlier chunk);
        // from `shift` on: byte `j - shift` of the second (bit 6 picks the source).
        *x = if j < shift { (CHUNK - shift + j) as u8 } else { (CHUNK + j - shift) as u8 };
    }
    // SAFETY: `index` is 64 readable bytes.
    Realign { shift, index: unsafe { _mm512_loadu_si512(index.as_ptr().cast()) } }
}

/// Store the destination line that ends inside chunk `c` of an output at `base`: the last
/// `shift` bytes of `prev` (chunk `c - 1`) and the first `64 - shift` of `cur` (chunk `c`).
/// For `c = 0` only the bytes of the output are written (masked, ordinary store).
///
/// # Safety
/// Chunks `0..=c` of the output are writable.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
#[inline]
unsafe fn put_line(base: usize, r: Realign, c: usize, prev: __m512i, cur: __m512i) {
    let line = _mm512_permutex2var_epi8(prev, r.index, cur);
    let at = (base + c * CHUNK - r.shift) as *mut __m512i;
    unsafe {
        if c == 0 {
            _mm512_mask_storeu_epi8(at.cast(), !0u64 << r.shift, line);
        } else {
            _mm512_stream_si512(at.cast(), line);
        }
    }
}

/// [`gfni512_tile`] over chunks `0..count`, its lines stored by [`put_line`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "gfni,avx512f,avx512bw,avx512vbmi")]
#[inline]
unsafe fn gfni512_tile_streamed<const T: usize>(k: usize, ops: *const __m512i, ins: &[usize], outs: &[usize], count: usize) {
    // SAFETY: the CPU has avx512f (this function's features).
    let r: [Realign; T] = std::array::from_fn(|t| unsafe { realign(outs[t]) });
    let mut carry = [_mm512_setzero_si512(); T];
    let mut c = 0;
    while c + 2 <= count {
        let mut acc0 = [_mm512_setzero_si512(); T];
        let mut acc1 = [_mm512_setzero_si512(); T];
        for (i, &input) in ins.iter().enumerate() {
            let p = (input + c * CHUNK) as *const __m512i;
            unsafe {
                _mm_prefetch::<_MM_HINT_T1>(p.add(PREFETCH_CHUNKS).cast());
                _mm_prefetch::<_MM_HINT_T1>(p.add(PREFETCH_CHUNKS + 1).cast());
            }
            let (x0, x1) = unsafe { (_mm512_loadu_si512(p), _mm512_loadu_si512(p.add(1))) };
            let s0 = _mm512_shuffle_i64x2::<0b01_00_11_10>(x0, x0);
            let s1 = _mm512_shuffle_i64x2::<0b01_00_11_10>(x1, x1);
            for t in 0..T {
                let op = unsafe { ops.add(2 * (t * k + i)) };
                let (straight, swapped) = unsafe { (_mm512_loadu_si512(op), _mm512_loadu_si512(op.add(1))) };
                acc0[t] = _mm512_ternarylogic_epi64::<0x96>(
                    acc0[t],
                    _mm512_gf2p8affine_epi64_epi8::<0>(x0, straight),
                    _mm512_gf2p8affine_epi64_epi8::<0>(s0, swapped),
                );
                acc1[t] = _mm512_ternarylogic_epi64::<0x96>(
                    acc1[t],
                    _mm512_gf2p8affine_epi64_epi8::<0>(x1, straight),
                    _mm512_gf2p8affine_epi64_epi8::<0>(s1, swapped),
                );
            }
        }
        for t in 0..T {
            // SAFETY: chunks c and c + 1 are within the output.
            unsafe {
                put_line(outs[t], r[t], c, carry[t], acc0[t]);
                put_line(outs[t], r[t], c + 1, acc0[t], acc1[t]);
            }
            carry[t] = acc1[t];
        }
        c += 2;
    }
    if c < count {
        let mut acc = [_mm512_setzero_si512(); T];
        for (i, &input) in ins.iter().enumerate() {
            let x = unsafe { _mm512_loadu_si512((input + c * CHUNK) as *const __m512i) };
            let s = _mm512_shuffle_i64x2::<0b01_00_11_10>(x, x);
            for (t, a) in acc.iter_mut().enumerate() {
                let op = unsafe { ops.add(2 * (t * k + i)) };
                let (straight, swapped) = unsafe { (_mm512_loadu_si512(op), _mm512_loadu_si512(op.add(1))) };
                *a = _mm512_ternarylogic_epi64::<0x96>(
                    *a,
                    _mm512_gf2p8affine_epi64_epi8::<0>(x, straight),
                    _mm512_gf2p8affine_epi64_epi8::<0>(s, swapped),
                );
            }
        }
        for t in 0..T {
            // SAFETY: chunk c is within the output.
            unsafe { put_line(outs[t], r[t], c, carry[t], acc[t]) };
            carry[t] = acc[t];
        }
        c += 1;
    }
    // The last `shift` bytes of the last chunk: the start of a line, the rest of which is
    // not this output's.
    for t in 0..T {
        if r[t].shift > 0 {
            let line = _mm512_permutex2var_epi8(carry[t], r[t].index, carry[t]);
            let at = (outs[t] + c * CHUNK - r[t].shift) as *mut u8;
            // SAFETY: the masked bytes are the last `shift` bytes of chunk `c - 1`.
            unsafe { _mm512_mask_storeu_epi8(at.cast(), (1u64 << r[t].shift) - 1, line) };
        }
    }
}

type DecodeKey = (usize, usize, Vec<usize>, Vec<usize>);
type Cache<K> = Mutex<Option<HashMap<K, Arc<Kernel>>>>;

static DECODE_CACHE: Cache<DecodeKey> = Mutex::new(None);
static ENCODE_CACHE: Cache<(usize, usize)> = Mutex::new(None);
static BACKEND: OnceLock<Backend> = OnceLock::new();

/// The backend the codec uses ([`Backend::detect`], once).
pub(crate) fn backend() -> Backend {
    *BACKEND.get_or_init(Backend::detect)
}

fn cached<K: std::hash::Hash + Eq>(
    cache: &Cache<K>,
    capacity: usize,
    key: K,
    learn: impl FnOnce() -> Result<Matrix, reed_solomon_simd::Error>,
) -> Result<Arc<Kernel>, reed_solomon_simd::Error> {
    if let Some(kernel) = cache.lock().ok().and_then(|g| g.as_ref().and_then(|c| c.get(&key).cloned())) {
        return Ok(kernel);
    }
    let kernel = Arc::new(Kernel::new(&learn()?, backend()));
    if let Ok(mut guard) = cache.lock() {
        let map = guard.get_or_insert_with(HashMap::new);
        if map.len() >= capacity {
            map.clear();
        }
        map.insert(key, kernel.clone());
    }
    Ok(kernel)
}

/// The encode product of the `(k, n)` code on [`backend`], learned once.
pub(crate) fn encoder(k: usize, n: usize) -> Result<Arc<Kernel>, reed_solomon_simd::Error> {
    cached(&ENCODE_CACHE, ENCODE_CACHE_ENTRIES, (k, n), || Matrix::learn_encode(k, n))
}

/// The decode product from `have` to `want` of the `(k, n)` code on [`backend`], learned
/// once per erasure pattern.
pub(crate) fn decoder(k: usize, n: usize, have: &[usize], want: &[usize]) -> Result<Arc<Kernel>, reed_solomon_simd::Error> {
    cached(&DECODE_CACHE, DECODE_CACHE_ENTRIES, (k, n, have.to_vec(), want.to_vec()), || {
        Matrix::learn_decode(k, n, have, want)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn bytes(&mut self, len: usize) -> Vec<u8> {
            (0..len).map(|_| self.next() as u8).collect()
        }
    }

    const BACKENDS: [Backend; 3] = [Backend::Gfni512, Backend::Avx2, Backend::Portable];

    /// `m` applied on `backend` into `outs` (allocated by the caller, so that a timing
    /// does not count page faults the library, reusing its buffers, does not have).
    fn apply_into(kernel: &Kernel, ins: &[Vec<u8>], outs: &mut [Vec<u8>], len: usize) {
        let in_addrs: Vec<usize> = ins.iter().map(|s| s.as_ptr() as usize).collect();
        let out_addrs: Vec<usize> = outs.iter_mut().map(|s| s.as_mut_ptr() as usize).collect();
        // SAFETY: every shard holds `len` bytes; the backend is checked by the caller.
        unsafe { kernel.apply(&in_addrs, &out_addrs, len, false) };
    }

    fn apply(m: &Matrix, backend: Backend, ins: &[Vec<u8>], len: usize) -> Vec<Vec<u8>> {
        let kernel = Kernel::new(m, backend);
        let mut outs = vec![vec![0xa5u8; len]; m.outs];
        let in_addrs: Vec<usize> = ins.iter().map(|s| s.as_ptr() as usize).collect();
        let out_addrs: Vec<usize> = outs.iter_mut().map(|s| s.as_mut_ptr() as usize).collect();
        // SAFETY: every shard holds `len` bytes; the backend is checked by the caller.
        unsafe { kernel.apply(&in_addrs, &out_addrs, len, false) };
        outs
    }

    /// A random code (k sources of n shards, an even shard length, short ones every third
    /// round): its source shards and the library's parity shards.
    #[allow(clippy::type_complexity)]
    fn random_code(rng: &mut Rng, round: usize) -> (usize, usize, usize, Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let k = 1 + rng.below(20);
        let n = k + 1 + rng.below(24);
        let len = 2 * (1 + rng.below(if round % 3 == 0 { 40 } else { 600 }));
        let sources: Vec<Vec<u8>> = (0..k).map(|_| rng.bytes(len)).collect();
        let mut encoder = ReedSolomonEncoder::new(k, n - k, len).unwrap();
        for s in &sources {
            encoder.add_original_shard(s).unwrap();
        }
        let parity = encoder.encode().unwrap().recovery_iter().map(|p| p.to_vec()).collect();
        (k, n, len, sources, parity)
    }

    #[test]
    fn encode_matches_the_library() {
        let mut rng = Rng(0x9e3779b97f4a7c15);
        for round in 0..60 {
            let (k, n, len, sources, expected) = random_code(&mut rng, round);
            let m = Matrix::learn_encode(k, n).unwrap();
            for backend in BACKENDS.into_iter().filter(|b| b.available()) {
                assert_eq!(apply(&m, backend, &sources, len), expected, "k={k} n={n} len={len} {backend:?}");
            }
        }
    }

    #[test]
    fn decode_matches_the_library() {
        let mut rng = Rng(0x2545f4914f6cdd1d);
        for round in 0..60 {
            let (k, n, len, sources, parity) = random_code(&mut rng, round);
            // A random k-subset of the n shards, in a random order.
            let mut indices: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                indices.swap(i, rng.below(i + 1));
            }
            let have: Vec<usize> = indices[..k].to_vec();
            let want: Vec<usize> = (0..k).filter(|i| !have.contains(i)).collect();
            if want.is_empty() {
                continue;
            }
            let given: Vec<Vec<u8>> =
                have.iter().map(|&i| if i < k { sources[i].clone() } else { parity[i - k].clone() }).collect();
            let expected: Vec<Vec<u8>> = want.iter().map(|&w| sources[w].clone()).collect();
            let m = Matrix::learn_decode(k, n, &have, &want).unwrap();
            for backend in BACKENDS.into_iter().filter(|b| b.available()) {
                assert_eq!(apply(&m, backend, &given, len), expected, "k={k} n={n} len={len} {backend:?}");
            }
        }
    }

    /// Every tile width of the GFNI product (1 to 8 outputs, and several tiles), an odd
    /// and an even number of chunks (one step of two chunks, a last single chunk), and a
    /// short last chunk: equal to the library's bytes.
    #[test]
    fn gfni_tiles_and_chunk_counts_match_the_library() {
        if !Backend::Gfni512.available() {
            return;
        }
        let mut rng = Rng(0x5851f42d4c957f2d);
        for k in [1, 3, 7, 32] {
            for m in 1..=17 {
                let n = k + m;
                let m_learned = Matrix::learn_encode(k, n).unwrap();
                let kernel = Kernel::new(&m_learned, Backend::Gfni512);
                for len in [2, 62, 64, 126, 128, 192, 256, 5 * 64 + 30] {
                    let sources: Vec<Vec<u8>> = (0..k).map(|_| rng.bytes(len)).collect();
                    let mut encoder = ReedSolomonEncoder::new(k, m, len).unwrap();
                    for s in &sources {
                        encoder.add_original_shard(s).unwrap();
                    }
                    let expected: Vec<Vec<u8>> = encoder.encode().unwrap().recovery_iter().map(|p| p.to_vec()).collect();
                    let mut outs = vec![vec![0x5au8; len]; m];
                    apply_into(&kernel, &sources, &mut outs, len);
                    assert_eq!(outs, expected, "k={k} m={m} len={len}");
                }
            }
        }
    }

    /// The GFNI product, with ordinary and with streamed stores, for every shape from 1 to
    /// 32 inputs and 1 to 32 outputs (one to four tiles, full and partial), lengths of one
    /// short chunk, odd and even chunk counts, with and without a short last chunk, and
    /// outputs at every even offset within a cache line: the library's bytes, and not a
    /// byte written outside the outputs.
    #[test]
    fn gfni_every_shape_to_32_matches_the_library() {
        if !Backend::Gfni512.available() {
            return;
        }
        let mut rng = Rng(0x1405_2026_c0de_0011);
        let lens = [2, 64, 62 + 64 * 3, 30 * 64, 32 * 64, 33 * 64 + 2, 65 * 64 + 62, 96 * 64, 101 * 64 + 30];
        const GUARD: u8 = 0xc3;
        for k in 1..=32 {
            for m in 1..=32 {
                let len = lens[(k * 7 + m) % lens.len()];
                let sources: Vec<Vec<u8>> = (0..k).map(|_| rng.bytes(len)).collect();
                let mut encoder = ReedSolomonEncoder::new(k, m, len).unwrap();
                for src in &sources {
                    encoder.add_original_shard(src).unwrap();
                }
                let expected: Vec<Vec<u8>> = encoder.encode().unwrap().recovery_iter().map(|p| p.to_vec()).collect();
                let kernel = Kernel::new(&Matrix::learn_encode(k, k + m).unwrap(), Backend::Gfni512);
                // Output o at an even offset within a line, `stride` apart (no overlaps).
                let stride = len + 64 + 2 * rng.below(40);
                let mut buffer = vec![GUARD; 128 + m * stride];
                let base = buffer.as_mut_ptr() as usize;
                let aligned = base.next_multiple_of(64) - base;
                let starts: Vec<usize> = (0..m).map(|o| aligned + 2 * ((o * 5 + k) % 32) + o * stride).collect();
                let in_addrs: Vec<usize> = sources.iter().map(|src| src.as_ptr() as usize).collect();
                let out_addrs: Vec<usize> = starts.iter().map(|&at| base + at).collect();
                for stream in [false, true] {
                    buffer.iter_mut().for_each(|b| *b = GUARD);
                    // SAFETY: each output lies in `buffer` and holds `len` bytes, disjoint
                    // from the others; the backend is available.
                    unsafe { kernel.apply(&in_addrs, &out_addrs, len, stream) };
                    let mut written = vec![false; buffer.len()];
                    for (o, &at) in starts.iter().enumerate() {
                        assert_eq!(&buffer[at..at + len], &expected[o][..], "k={k} m={m} len={len} {stream} output {o}");
                        written[at..at + len].iter_mut().for_each(|w| *w = true);
                    }
                    assert!(
                        buffer.iter().zip(&written).all(|(&b, &w)| w || b == GUARD),
                        "k={k} m={m} len={len} {stream}: a byte outside the outputs was written"
                    );
                }
            }
        }
    }

    /// Matrix product against the library, one thread: `cargo test --release
    /// rs_matrix_speed -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn rs_matrix_speed() {
        let len = 1 << 20;
        let mut rng = Rng(7);
        for &(k, n) in &[(2, 4), (4, 10), (7, 10), (5, 13), (9, 13), (6, 16), (11, 16), (7, 19), (13, 19), (9, 25), (17, 25), (11, 31), (21, 31), (16, 49), (32, 49), (32, 64), (12, 36), (24, 72), (32, 96)] {
            let sources: Vec<Vec<u8>> = (0..k).map(|_| rng.bytes(len)).collect();
            let time = |f: &mut dyn FnMut()| {
                let mut best = f64::MAX;
                for _ in 0..15 {
                    let t = std::time::Instant::now();
                    f();
                    best = best.min(t.elapsed().as_secs_f64());
                }
                (k * len) as f64 / best / 1e6
            };
            let mut encoder = ReedSolomonEncoder::new(k, n - k, len).unwrap();
            let fft_enc = time(&mut || {
                encoder.reset(k, n - k, len).unwrap();
                for s in &sources {
                    encoder.add_original_shard(s).unwrap();
                }
                let _ = encoder.encode().unwrap();
            });
            let parity: Vec<Vec<u8>> = {
                encoder.reset(k, n - k, len).unwrap();
                for s in &sources {
                    encoder.add_original_shard(s).unwrap();
                }
                encoder.encode().unwrap().recovery_iter().map(|p| p.to_vec()).collect()
            };
            let m = Matrix::learn_encode(k, n).unwrap();
            let mat_enc: Vec<f64> = BACKENDS
                .into_iter()
                .filter(|b| b.available())
                .map(|b| {
                    let kernel = Kernel::new(&m, b);
                    let mut outs = vec![vec![0u8; len]; n - k];
                    time(&mut || apply_into(&kernel, &sources, &mut outs, len))
                })
                .collect();
            // Decode: the first min(k, n - k) sources lost, rebuilt from parity.
            let lost = k.min(n - k);
            let have: Vec<usize> = (lost..k).chain(k..k + lost).collect();
            let want: Vec<usize> = (0..lost).collect();
            let given: Vec<Vec<u8>> =
                have.iter().map(|&i| if i < k { sources[i].clone() } else { parity[i - k].clone() }).collect();
            let mut decoder = ReedSolomonDecoder::new(k, n - k, len).unwrap();
            let fft_dec = time(&mut || {
                decoder.reset(k, n - k, len).unwrap();
                for (t, &i) in have.iter().enumerate() {
                    if i < k {
                        decoder.add_original_shard(i, &given[t]).unwrap();
                    } else {
                        decoder.add_recovery_shard(i - k, &given[t]).unwrap();
                    }
                }
                let _ = decoder.decode().unwrap();
            });
            let d = Matrix::learn_decode(k, n, &have, &want).unwrap();
            let mat_dec: Vec<f64> = BACKENDS
                .into_iter()
                .filter(|b| b.available())
                .map(|b| {
                    let kernel = Kernel::new(&d, b);
                    let mut outs = vec![vec![0u8; len]; lost];
                    time(&mut || apply_into(&kernel, &given, &mut outs, len))
                })
                .collect();
            println!(
                "k={k:2} n={n:3} lost={lost:2}  encode MB/s: fft {fft_enc:6.0} matrix {mat_enc:?}  decode MB/s: fft {fft_dec:6.0} matrix {mat_dec:?}"
            );
        }
    }
}
