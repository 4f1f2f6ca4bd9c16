//! BLAKE3 of many short messages of one length, hashed side by side.
//!
//! The codec hashes hundreds of thousands of messages per blob, each a few hundred bytes
//! at most (a leaf is a symbol and a one-byte tag, an inner node two 32-byte children and
//! a tag). BLAKE3 gets its speed on long inputs by compressing many chunks at once in SIMD
//! lanes; a message shorter than one chunk (1024 bytes) is one chunk, so hashed alone it
//! runs the compression function one block at a time with most of the vector unit idle.
//! Here `L` messages of equal length go through the compression function together: the
//! state is transposed (word `w` of every lane in one vector), so every step of a round is
//! one vector instruction over `L` messages. `L` is 16 with AVX-512, 8 with AVX2 and 4
//! otherwise, chosen at run time.
//!
//! The vector code is plain arrays of `u32` with element-wise loops, compiled once per
//! instruction set under `#[target_feature]`: the compiler turns each loop into one vector
//! instruction of that set (AVX-512 has the rotations BLAKE3 needs as single
//! instructions). No API of the `blake3` crate beyond `hash` and `Hasher` is used; tests
//! compare every length from 0 to 1024 bytes, with and without a tail, on every backend
//! this CPU has, with `blake3::hash`.
//!
//! Each output is the BLAKE3-256 hash of `body || tail`: for a message of one chunk that
//! is the chaining value of its last block compressed with the `ROOT` flag. Longer
//! messages are handed to `blake3::Hasher` one at a time.

/// A 32-byte BLAKE3 hash.
pub type Digest = [u8; 32];

/// The longest message hashed in lanes: one BLAKE3 chunk.
pub const CHUNK: usize = 1024;
const BLOCK: usize = 64;

const IV: [u32; 8] = [
    0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
];
const CHUNK_START: u32 = 1;
const CHUNK_END: u32 = 2;
const ROOT: u32 = 8;

/// BLAKE3's message permutation, applied between rounds ([`permute`] spells it out).
#[cfg(test)]
const PERMUTATION: [usize; 16] = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];

/// The instruction set the lanes run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// 16 lanes in 512-bit registers (`avx512f` and `avx512vl`).
    Avx512,
    /// 8 lanes in 256-bit registers (`avx2`).
    Avx2,
    /// 4 lanes in whatever the baseline target has (SSE2 on x86-64).
    Portable,
}

impl Backend {
    /// The widest backend this CPU runs.
    pub fn detect() -> Backend {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vl") {
                return Backend::Avx512;
            }
            if is_x86_feature_detected!("avx2") {
                return Backend::Avx2;
            }
        }
        Backend::Portable
    }

    /// Whether this CPU can run the backend.
    pub fn available(self) -> bool {
        match self {
            Backend::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Backend::Avx2 => is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Backend::Avx512 => is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vl"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }
}

/// `out[i] = BLAKE3(bodies[i] || tail)` for bodies of one length, on the widest backend.
///
/// Panics if the bodies differ in length or `out` is not as long as `bodies`.
pub fn hash_many(bodies: &[&[u8]], tail: &[u8], out: &mut [Digest]) {
    hash_many_on(Backend::detect(), bodies, tail, out)
}

/// [`hash_many`] on a given backend (one [`Backend::available`] says this CPU runs).
pub fn hash_many_on(backend: Backend, bodies: &[&[u8]], tail: &[u8], out: &mut [Digest]) {
    assert_eq!(bodies.len(), out.len(), "one output per message");
    let Some(first) = bodies.first() else { return };
    let body_len = first.len();
    assert!(bodies.iter().all(|b| b.len() == body_len), "messages of one length");
    if body_len + tail.len() > CHUNK {
        for (body, digest) in bodies.iter().zip(out.iter_mut()) {
            let mut hasher = blake3::Hasher::new();
            hasher.update(body);
            hasher.update(tail);
            *digest = *hasher.finalize().as_bytes();
        }
        return;
    }
    assert!(backend.available(), "backend {backend:?} is not available on this CPU");
    match backend {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has the features (asserted above).
        Backend::Avx512 => unsafe { run_avx512(bodies, tail, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Backend::Avx2 => unsafe { run_avx2(bodies, tail, out) },
        _ => run::<Portable>(bodies, tail, out),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl")]
fn run_avx512(bodies: &[&[u8]], tail: &[u8], out: &mut [Digest]) {
    run::<x86::Avx512>(bodies, tail, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn run_avx2(bodies: &[&[u8]], tail: &[u8], out: &mut [Digest]) {
    run::<x86::Avx2>(bodies, tail, out)
}

/// One 32-bit word of `LANES` messages, and the operations BLAKE3 does on it.
///
/// # Safety
///
/// The methods run instructions of one instruction set: call them only from a function
/// compiled for it (`#[target_feature]`) on a CPU that has it.
trait Vector: Copy {
    const LANES: usize;
    unsafe fn splat(x: u32) -> Self;
    /// Word `w` of each lane's block (`blocks.len() == LANES`).
    unsafe fn gather(blocks: &[[u32; 16]], w: usize) -> Self;
    unsafe fn store(self, out: &mut [u32]);
    unsafe fn add(self, other: Self) -> Self;
    unsafe fn xor(self, other: Self) -> Self;
    unsafe fn rot16(self) -> Self;
    unsafe fn rot12(self) -> Self;
    unsafe fn rot8(self) -> Self;
    unsafe fn rot7(self) -> Self;
}

/// Four lanes in plain integers, for CPUs without the vector sets below.
#[derive(Clone, Copy)]
struct Portable([u32; 4]);

impl Portable {
    #[inline(always)]
    fn map(self, f: impl Fn(u32) -> u32) -> Self {
        Portable(self.0.map(f))
    }

    #[inline(always)]
    fn zip(self, other: Self, f: impl Fn(u32, u32) -> u32) -> Self {
        Portable(std::array::from_fn(|i| f(self.0[i], other.0[i])))
    }
}

impl Vector for Portable {
    const LANES: usize = 4;
    #[inline(always)]
    unsafe fn splat(x: u32) -> Self {
        Portable([x; 4])
    }
    #[inline(always)]
    unsafe fn gather(blocks: &[[u32; 16]], w: usize) -> Self {
        Portable(std::array::from_fn(|l| blocks[l][w]))
    }
    #[inline(always)]
    unsafe fn store(self, out: &mut [u32]) {
        out.copy_from_slice(&self.0);
    }
    #[inline(always)]
    unsafe fn add(self, other: Self) -> Self {
        self.zip(other, u32::wrapping_add)
    }
    #[inline(always)]
    unsafe fn xor(self, other: Self) -> Self {
        self.zip(other, |a, b| a ^ b)
    }
    #[inline(always)]
    unsafe fn rot16(self) -> Self {
        self.map(|x| x.rotate_right(16))
    }
    #[inline(always)]
    unsafe fn rot12(self) -> Self {
        self.map(|x| x.rotate_right(12))
    }
    #[inline(always)]
    unsafe fn rot8(self) -> Self {
        self.map(|x| x.rotate_right(8))
    }
    #[inline(always)]
    unsafe fn rot7(self) -> Self {
        self.map(|x| x.rotate_right(7))
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::Vector;

    /// Sixteen lanes in a 512-bit register (AVX-512F; rotations are one instruction).
    #[derive(Clone, Copy)]
    pub(super) struct Avx512(__m512i);

    impl Vector for Avx512 {
        const LANES: usize = 16;
        #[inline(always)]
        unsafe fn splat(x: u32) -> Self {
            Avx512(_mm512_set1_epi32(x as i32))
        }
        #[inline(always)]
        unsafe fn gather(blocks: &[[u32; 16]], w: usize) -> Self {
            debug_assert_eq!(blocks.len(), 16);
            let index = _mm512_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240);
            Avx512(_mm512_i32gather_epi32::<4>(index, blocks.as_ptr().cast::<u32>().add(w).cast()))
        }
        #[inline(always)]
        unsafe fn store(self, out: &mut [u32]) {
            debug_assert_eq!(out.len(), 16);
            _mm512_storeu_si512(out.as_mut_ptr().cast(), self.0)
        }
        #[inline(always)]
        unsafe fn add(self, other: Self) -> Self {
            Avx512(_mm512_add_epi32(self.0, other.0))
        }
        #[inline(always)]
        unsafe fn xor(self, other: Self) -> Self {
            Avx512(_mm512_xor_si512(self.0, other.0))
        }
        #[inline(always)]
        unsafe fn rot16(self) -> Self {
            Avx512(_mm512_ror_epi32::<16>(self.0))
        }
        #[inline(always)]
        unsafe fn rot12(self) -> Self {
            Avx512(_mm512_ror_epi32::<12>(self.0))
        }
        #[inline(always)]
        unsafe fn rot8(self) -> Self {
            Avx512(_mm512_ror_epi32::<8>(self.0))
        }
        #[inline(always)]
        unsafe fn rot7(self) -> Self {
            Avx512(_mm512_ror_epi32::<7>(self.0))
        }
    }

    /// Eight lanes in a 256-bit register (AVX2; byte rotations are shuffles).
    #[derive(Clone, Copy)]
    pub(super) struct Avx2(__m256i);

    impl Vector for Avx2 {
        const LANES: usize = 8;
        #[inline(always)]
        unsafe fn splat(x: u32) -> Self {
            Avx2(_mm256_set1_epi32(x as i32))
        }
        #[inline(always)]
        unsafe fn gather(blocks: &[[u32; 16]], w: usize) -> Self {
            debug_assert_eq!(blocks.len(), 8);
            let index = _mm256_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112);
            Avx2(_mm256_i32gather_epi32::<4>(blocks.as_ptr().cast::<u32>().add(w).cast(), index))
        }
        #[inline(always)]
        unsafe fn store(self, out: &mut [u32]) {
            debug_assert_eq!(out.len(), 8);
            _mm256_storeu_si256(out.as_mut_ptr().cast(), self.0)
        }
        #[inline(always)]
        unsafe fn add(self, other: Self) -> Self {
            Avx2(_mm256_add_epi32(self.0, other.0))
        }
        #[inline(always)]
        unsafe fn xor(self, other: Self) -> Self {
            Avx2(_mm256_xor_si256(self.0, other.0))
        }
        #[inline(always)]
        unsafe fn rot16(self) -> Self {
            let table = _mm256_setr_epi8(
                2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13,
            );
            Avx2(_mm256_shuffle_epi8(self.0, table))
        }
        #[inline(always)]
        unsafe fn rot12(self) -> Self {
            Avx2(_mm256_or_si256(_mm256_srli_epi32::<12>(self.0), _mm256_slli_epi32::<20>(self.0)))
        }
        #[inline(always)]
        unsafe fn rot8(self) -> Self {
            let table = _mm256_setr_epi8(
                1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12, 1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12,
            );
            Avx2(_mm256_shuffle_epi8(self.0, table))
        }
        #[inline(always)]
        unsafe fn rot7(self) -> Self {
            Avx2(_mm256_or_si256(_mm256_srli_epi32::<7>(self.0), _mm256_slli_epi32::<25>(self.0)))
        }
    }
}

#[inline(always)]
fn run<V: Vector>(bodies: &[&[u8]], tail: &[u8], out: &mut [Digest]) {
    for (group, digests) in bodies.chunks(V::LANES).zip(out.chunks_mut(V::LANES)) {
        // SAFETY: `run` is called only from functions compiled for `V`'s instruction set,
        // after the CPU was checked for it (or `V` is `Portable`).
        unsafe { hash_lanes::<V>(group, tail, digests) };
    }
}

/// Block `b` of `body || tail` as little-endian words into `block`; returns how many
/// words hold bytes of the message (the rest of the block is zero padding, and `block`
/// past them is left as it was: callers take those words as zero).
///
/// Words wholly inside the body are read as words; the word or two that straddle the
/// body's end, or hold the tail, are put together byte by byte. Staging every block
/// through a zeroed 64-byte buffer instead (a call to `memcpy` per lane, then wide loads
/// of bytes just stored narrower, which stall) and gathering all sixteen words cost a
/// quarter of the time of the messages the codec hashes most: a leaf of a 6-byte symbol
/// (one block, two words) took 39 ns per message in AVX2 lanes that way and takes 30 ns
/// (`cargo test --release lanes_against_one_at_a_time -- --ignored --nocapture`).
#[inline(always)]
fn block_words(body: &[u8], tail: &[u8], b: usize, block: &mut [u32; 16]) -> usize {
    let start = b * BLOCK;
    if let Some(full) = body.get(start..start + BLOCK) {
        for (word, four) in block.iter_mut().zip(full.chunks_exact(4)) {
            *word = u32::from_le_bytes([four[0], four[1], four[2], four[3]]);
        }
        return 16;
    }
    let len = body.len() + tail.len();
    let used = len.min(start + BLOCK).saturating_sub(start).div_ceil(4);
    // The body's whole words in this block, then the rest byte by byte.
    let whole = body.len().saturating_sub(start) / 4;
    let words = body.get(start..start + 4 * whole).unwrap_or(&[]);
    for (word, four) in block.iter_mut().zip(words.chunks_exact(4)) {
        *word = u32::from_le_bytes([four[0], four[1], four[2], four[3]]);
    }
    for (w, word) in block.iter_mut().enumerate().take(used).skip(whole) {
        let at = start + 4 * w;
        *word = u32::from_le_bytes(std::array::from_fn(|i| {
            let p = at + i;
            match p.checked_sub(body.len()) {
                None => body[p],
                Some(t) => tail.get(t).copied().unwrap_or(0),
            }
        }));
    }
    used
}

/// Up to `V::LANES` messages of one length (at most one chunk) through the lanes; unused
/// lanes hash an empty block and are dropped.
#[inline(always)]
unsafe fn hash_lanes<V: Vector>(bodies: &[&[u8]], tail: &[u8], out: &mut [Digest]) {
    let len = bodies[0].len() + tail.len();
    let blocks = len.div_ceil(BLOCK).max(1);
    let mut cv: [V; 8] = std::array::from_fn(|w| V::splat(IV[w]));
    let mut words = [[0u32; 16]; 16];
    let words = &mut words[..V::LANES];
    let body_len = bodies[0].len();
    for b in 0..blocks {
        let m: [V; 16] = if b * BLOCK >= body_len {
            // The block is all tail (an inner node's tag): the same in every lane.
            let mut shared = [0u32; 16];
            block_words(&[], &tail[b * BLOCK - body_len..], 0, &mut shared);
            std::array::from_fn(|w| V::splat(shared[w]))
        } else {
            // Every lane's message has the same length, so the same words are used; only
            // those are gathered across the lanes (the rest are zero padding).
            let mut used = 0;
            for (body, block) in bodies.iter().zip(words.iter_mut()) {
                used = block_words(body, tail, b, block);
            }
            std::array::from_fn(|w| if w < used { V::gather(words, w) } else { V::splat(0) })
        };
        let last = b + 1 == blocks;
        let block_len = if last { len - b * BLOCK } else { BLOCK };
        let flags = if b == 0 { CHUNK_START } else { 0 } | if last { CHUNK_END | ROOT } else { 0 };
        compress(&mut cv, m, block_len as u32, flags);
    }
    let mut lanes = [[0u32; 16]; 8];
    for (w, word) in cv.iter().enumerate() {
        word.store(&mut lanes[w][..V::LANES]);
    }
    for (l, digest) in out.iter_mut().enumerate() {
        for (w, word) in lanes.iter().enumerate() {
            digest[4 * w..4 * w + 4].copy_from_slice(&word[l].to_le_bytes());
        }
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn g<V: Vector>(v: &mut [V; 16], a: usize, b: usize, c: usize, d: usize, x: V, y: V) {
    v[a] = v[a].add(v[b]).add(x);
    v[d] = v[d].xor(v[a]).rot16();
    v[c] = v[c].add(v[d]);
    v[b] = v[b].xor(v[c]).rot12();
    v[a] = v[a].add(v[b]).add(y);
    v[d] = v[d].xor(v[a]).rot8();
    v[c] = v[c].add(v[d]);
    v[b] = v[b].xor(v[c]).rot7();
}

#[inline(always)]
unsafe fn round<V: Vector>(v: &mut [V; 16], m: &[V; 16]) {
    g(v, 0, 4, 8, 12, m[0], m[1]);
    g(v, 1, 5, 9, 13, m[2], m[3]);
    g(v, 2, 6, 10, 14, m[4], m[5]);
    g(v, 3, 7, 11, 15, m[6], m[7]);
    g(v, 0, 5, 10, 15, m[8], m[9]);
    g(v, 1, 6, 11, 12, m[10], m[11]);
    g(v, 2, 7, 8, 13, m[12], m[13]);
    g(v, 3, 4, 9, 14, m[14], m[15]);
}

/// BLAKE3's message permutation (`m'[i] = m[PERMUTATION[i]]`), written out.
#[inline(always)]
fn permute<T: Copy>(m: &[T; 16]) -> [T; 16] {
    [m[2], m[6], m[3], m[10], m[7], m[0], m[4], m[13], m[1], m[11], m[12], m[5], m[9], m[14], m[15], m[8]]
}

/// The compression function over the lanes; the chaining values are updated in place.
/// Every message here is one chunk, the first, so the counter is 0.
#[inline(always)]
unsafe fn compress<V: Vector>(cv: &mut [V; 8], m: [V; 16], block_len: u32, flags: u32) {
    let zero = V::splat(0);
    let mut v = [
        cv[0],
        cv[1],
        cv[2],
        cv[3],
        cv[4],
        cv[5],
        cv[6],
        cv[7],
        V::splat(IV[0]),
        V::splat(IV[1]),
        V::splat(IV[2]),
        V::splat(IV[3]),
        zero,
        zero,
        V::splat(block_len),
        V::splat(flags),
    ];
    // Seven rounds written out, the message permuted between them, so that every index
    // is a constant and the state stays in registers.
    let mut m = m;
    round(&mut v, &m);
    m = permute(&m);
    round(&mut v, &m);
    m = permute(&m);
    round(&mut v, &m);
    m = permute(&m);
    round(&mut v, &m);
    m = permute(&m);
    round(&mut v, &m);
    m = permute(&m);
    round(&mut v, &m);
    m = permute(&m);
    round(&mut v, &m);
    for w in 0..8 {
        cv[w] = v[w].xor(v[w + 8]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(body: &[u8], tail: &[u8]) -> Digest {
        let mut input = body.to_vec();
        input.extend_from_slice(tail);
        *blake3::hash(&input).as_bytes()
    }

    fn backends() -> Vec<Backend> {
        [Backend::Portable, Backend::Avx2, Backend::Avx512].into_iter().filter(|b| b.available()).collect()
    }

    fn messages(count: usize, len: usize, seed: usize) -> Vec<Vec<u8>> {
        (0..count).map(|i| (0..len).map(|j| ((i * 131 + j * 7 + seed * 17) % 251) as u8).collect()).collect()
    }

    fn check(backend: Backend, count: usize, len: usize, tail: &[u8]) {
        let owned = messages(count, len, len + tail.len());
        let bodies: Vec<&[u8]> = owned.iter().map(|m| m.as_slice()).collect();
        let mut out = vec![[0u8; 32]; count];
        hash_many_on(backend, &bodies, tail, &mut out);
        for (i, digest) in out.iter().enumerate() {
            assert_eq!(*digest, reference(&owned[i], tail), "{backend:?}, {count} messages of {len}, tail {tail:?}, #{i}");
        }
    }

    #[test]
    fn every_length_up_to_a_chunk_equals_blake3() {
        for backend in backends() {
            for len in 0..=CHUNK {
                check(backend, 3, len, &[]);
            }
        }
    }

    #[test]
    fn bodies_with_a_tail_equal_blake3_of_the_concatenation() {
        for backend in backends() {
            for tail in [&[0u8][..], &[1u8][..], &[9u8, 8, 7, 6, 5][..], &[0xAB; 70][..]] {
                for len in 0..=CHUNK - tail.len() {
                    check(backend, 2, len, tail);
                }
            }
        }
    }

    #[test]
    fn every_count_fills_and_splits_the_lanes() {
        for backend in backends() {
            for count in 0..=40 {
                for len in [0, 1, 63, 64, 65, 300, 1023] {
                    check(backend, count, len, &[0]);
                }
            }
        }
    }

    #[test]
    fn messages_longer_than_a_chunk_are_hashed_whole() {
        for backend in backends() {
            for (len, tail) in [(1024, &[0u8][..]), (1023, &[1u8, 2][..]), (5000, &[][..]), (3000, &[0u8][..])] {
                check(backend, 5, len, tail);
            }
        }
    }

    #[test]
    fn the_written_out_permutation_is_blake3s() {
        let m: [usize; 16] = std::array::from_fn(|i| i);
        let p = permute(&m);
        for i in 0..16 {
            assert_eq!(p[i], PERMUTATION[i]);
        }
    }

    #[test]
    fn the_widest_backend_is_detected() {
        let backend = Backend::detect();
        assert!(backend.available());
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vl") {
            assert_eq!(backend, Backend::Avx512);
        }
    }

    #[test]
    #[should_panic(expected = "messages of one length")]
    fn messages_of_different_lengths_are_refused() {
        let mut out = vec![[0u8; 32]; 2];
        hash_many(&[&[1u8, 2][..], &[1u8][..]], &[], &mut out);
    }
}

#[cfg(test)]
mod speed {
    use super::*;
    use std::time::{Duration, Instant};

    /// The fastest of 25 runs of `f` (the least disturbed by other work on the machine).
    fn fastest(mut f: impl FnMut()) -> Duration {
        (0..25)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .min()
            .expect("runs")
    }

    /// `cargo test --release speed -- --ignored --nocapture`: time per message in lanes
    /// against hashing one message at a time with `blake3::Hasher`.
    #[test]
    #[ignore]
    fn lanes_against_one_at_a_time() {
        for (len, tail) in [(6usize, &[0u8][..]), (64, &[1u8][..]), (300, &[0u8][..]), (1000, &[0u8][..])] {
            let count = 10_000;
            let data: Vec<u8> = (0..count * len).map(|i| (i % 251) as u8).collect();
            let bodies: Vec<&[u8]> = data.chunks_exact(len).collect();
            let mut out = vec![[0u8; 32]; count];
            let single = fastest(|| {
                for (b, o) in bodies.iter().zip(out.iter_mut()) {
                    let mut h = blake3::Hasher::new();
                    h.update(b);
                    h.update(tail);
                    *o = *h.finalize().as_bytes();
                }
            });
            let per = |d: Duration| d.as_nanos() as f64 / count as f64;
            let mut line = format!("{len}+{} bytes: one at a time {:.0} ns", tail.len(), per(single));
            for backend in [Backend::Portable, Backend::Avx2, Backend::Avx512].into_iter().filter(|b| b.available()) {
                let t = fastest(|| hash_many_on(backend, &bodies, tail, &mut out));
                line += &format!(", {backend:?} {:.0} ns", per(t));
            }
            println!("{line}");
        }
    }
}
