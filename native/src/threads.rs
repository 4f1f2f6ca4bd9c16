//! Where a call's work runs: on the calling thread, or spread over the codec's rayon pool.
//!
//! Every entry point of the module that splits its work into tasks (all but `hash`,
//! `hash_batch`, `merkle_proofs` and `rs_supports`, which always ran on the calling
//! thread) hands it to [`run`] with an estimate of its size ([`Work`]), and [`run`]
//! releases the GIL on either path. Big work goes to the pool (`pool.install`), whose
//! threads split it; small work runs on the calling thread, one task after another,
//! without touching the pool at all. The hand-off is not free: `install` queues the work,
//! wakes a worker, blocks the caller on a latch, and when the work is done every idle
//! worker spins (rayon's `wait_until_cold`, ~32 rounds of `sched_yield` each) before it
//! sleeps. On a node that was ~120 `sched_yield`s per 1 MiB store, and two sliver checks
//! of 0.25 ms of hashing cost 0.44-0.56 ms of CPU when they came one call at a time
//! (BENCHMARKS.md, "Per-call costs of a 1 MiB store"). Below the limits here that
//! overhead is more than the second core gives back.
//!
//! The loops of the other modules go through the helpers below ([`map`],
//! [`for_each_chunk_mut`], [`try_for_each_init`]), which fan out over the pool only when
//! they run on one of its threads, that is inside [`run`]'s parallel path; on any other
//! thread they loop in order. So one body serves both paths, nested helpers (a sliver's
//! encode inside its check) follow the path their caller took, and nothing ever reaches
//! rayon's global pool. The outputs are the same bytes on both paths: every task writes
//! its own part of the output whatever thread runs it (tests in this module and
//! `tests/unit/codec/test_inline.py` compare the two paths at the limits).
//!
//! [`set_threads`] sizes the pool, so it bounds the threads of big calls only: small
//! calls made from several Python threads at once run side by side, one on each.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use rayon::prelude::*;
use rayon::ThreadPool;

/// Bytes hashed below which a call runs on the calling thread (see [`Work`]).
///
/// Measured with `native/inline_costs.py` (BENCHMARKS.md, "Small calls on the caller's
/// thread"): one call every 2 ms as in a store, two threads, two runs at load 6-8 on two
/// cores. On the pool every call cost 60-240 µs more CPU (the hand-off, the wake-up, the
/// workers' spinning) whatever its size. Leaf hashes of 512 KiB took 148 µs of wall time
/// on the calling thread against 188 on the pool, 1 MiB 259 against 209, 4 MiB 931
/// against 835; a sliver check (code and hashes, n = 7) was slower on the pool up to
/// 1 MiB in both runs (238 against 252 µs, 233 against 322), faster at 2 MiB in one. So
/// below 1 MiB the calling thread was faster as well as cheaper; above it the pool saves
/// wall time when a second core is free.
pub(crate) const INLINE_HASH_BYTES: usize = 1 << 20;

/// Bytes of shards coded (read and written by Reed-Solomon) below which a call runs on the
/// calling thread (see [`Work`]). Measured as [`INLINE_HASH_BYTES`]: an extension of 5 to
/// 7 shards by the library's FFT took 134 µs at 1 MiB on the calling thread against 244
/// on the pool, 188 against 181 at 2 MiB, 526 against 521 at 4 MiB (the matrix product,
/// about 3 times faster per byte here, was faster on the calling thread up to 4 MiB: 154
/// against 189 µs); the pool's CPU was 100-240 µs more per call. One limit serves both codes, set
/// where the slower one stops gaining from the calling thread.
pub(crate) const INLINE_CODE_BYTES: usize = 1 << 20;

static POOL: Mutex<Option<Arc<ThreadPool>>> = Mutex::new(None);
static HASH_LIMIT: AtomicUsize = AtomicUsize::new(INLINE_HASH_BYTES);
static CODE_LIMIT: AtomicUsize = AtomicUsize::new(INLINE_CODE_BYTES);
static INLINE_CALLS: AtomicU64 = AtomicU64::new(0);
static POOLED_CALLS: AtomicU64 = AtomicU64::new(0);

fn build_pool(threads: usize) -> PyResult<Arc<ThreadPool>> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("walrus-codec-{i}"))
        .build()
        .map(Arc::new)
        .map_err(|e| PyValueError::new_err(format!("cannot start codec threads: {e}")))
}

/// The codec's thread pool (all cores unless [`set_threads`] said otherwise).
pub(crate) fn pool() -> PyResult<Arc<ThreadPool>> {
    let mut guard = POOL
        .lock()
        .map_err(|_| PyValueError::new_err("codec pool poisoned"))?;
    if let Some(pool) = guard.as_ref() {
        return Ok(pool.clone());
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pool = build_pool(threads)?;
    *guard = Some(pool.clone());
    Ok(pool)
}

/// Use `threads` worker threads from now on (at least 1).
#[pyfunction]
fn set_threads(threads: usize) -> PyResult<()> {
    if threads == 0 {
        return Err(PyValueError::new_err("threads must be at least 1"));
    }
    let pool = build_pool(threads)?;
    *POOL
        .lock()
        .map_err(|_| PyValueError::new_err("codec pool poisoned"))? = Some(pool);
    Ok(())
}

/// Worker threads in use.
#[pyfunction]
fn threads() -> PyResult<usize> {
    Ok(pool()?.current_num_threads())
}

/// Run calls whose work is below `hash_bytes` hashed and `code_bytes` coded on the calling
/// thread from now on (0 and 0: every call on the pool). The defaults are
/// [`INLINE_HASH_BYTES`] and [`INLINE_CODE_BYTES`].
#[pyfunction]
fn set_inline_limits(hash_bytes: usize, code_bytes: usize) {
    HASH_LIMIT.store(hash_bytes, Ordering::Relaxed);
    CODE_LIMIT.store(code_bytes, Ordering::Relaxed);
}

/// The limits in use: `(hash_bytes, code_bytes)`.
#[pyfunction]
fn inline_limits() -> (usize, usize) {
    (
        HASH_LIMIT.load(Ordering::Relaxed),
        CODE_LIMIT.load(Ordering::Relaxed),
    )
}

/// Calls through [`run`] so far that ran on the calling thread and on the pool:
/// `(inline, pooled)`.
#[pyfunction]
fn calls() -> (u64, u64) {
    (
        INLINE_CALLS.load(Ordering::Relaxed),
        POOLED_CALLS.load(Ordering::Relaxed),
    )
}

/// The size of a call's work: bytes it hashes and bytes of shards it codes.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Work {
    pub hashed: usize,
    pub coded: usize,
}

impl Work {
    pub(crate) fn hashing(bytes: usize) -> Work {
        Work {
            hashed: bytes,
            coded: 0,
        }
    }

    pub(crate) fn coding(bytes: usize) -> Work {
        Work {
            hashed: 0,
            coded: bytes,
        }
    }

    /// Whether the work is below the limits: `hashed / hash_limit + coded / code_limit < 1`
    /// (a call that both codes and hashes counts both as a share of its own limit).
    fn small(self, (hash_limit, code_limit): (usize, usize)) -> bool {
        let (h, c) = (hash_limit as u128, code_limit as u128);
        // Each product fits in 128 bits; a sum that does not is above `h * c`.
        ((self.hashed as u128) * c)
            .checked_add((self.coded as u128) * h)
            .is_some_and(|w| w < h * c)
    }
}

/// `f`, with the GIL released: on the calling thread if `work` is small, else on the pool.
pub(crate) fn run<T: Send>(
    py: Python<'_>,
    work: Work,
    f: impl FnOnce() -> T + Send,
) -> PyResult<T> {
    if work.small(inline_limits()) {
        INLINE_CALLS.fetch_add(1, Ordering::Relaxed);
        return Ok(py.allow_threads(f));
    }
    let pool = pool()?;
    POOLED_CALLS.fetch_add(1, Ordering::Relaxed);
    Ok(py.allow_threads(|| pool.install(f)))
}

/// Whether loops fan out: only on one of the pool's threads (inside [`run`]'s parallel
/// path; rayon's global pool is never used).
fn fanned() -> bool {
    rayon::current_thread_index().is_some()
}

/// `[f(0), .., f(count - 1)]`.
pub(crate) fn map<T: Send>(count: usize, f: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
    if fanned() {
        (0..count).into_par_iter().map(f).collect()
    } else {
        (0..count).map(f).collect()
    }
}

/// `f(i, chunk)` for each chunk `i` of `out` cut into `size` items.
pub(crate) fn for_each_chunk_mut<T: Send>(
    out: &mut [T],
    size: usize,
    f: impl Fn(usize, &mut [T]) + Sync + Send,
) {
    if fanned() {
        out.par_chunks_mut(size)
            .enumerate()
            .for_each(|(i, chunk)| f(i, chunk));
    } else {
        out.chunks_mut(size)
            .enumerate()
            .for_each(|(i, chunk)| f(i, chunk));
    }
}

/// `f(state, i)` for `i` in `0..count`, stopping at the first error; each thread (one on
/// the calling thread) makes its `state` with `init`; a thread takes at least `min_len`
/// items at a time.
pub(crate) fn try_for_each_init<S, E: Send>(
    count: usize,
    min_len: usize,
    init: impl Fn() -> S + Sync + Send,
    f: impl Fn(&mut S, usize) -> Result<(), E> + Sync + Send,
) -> Result<(), E> {
    if fanned() {
        (0..count)
            .into_par_iter()
            .with_min_len(min_len.max(1))
            .try_for_each_init(init, f)
    } else {
        let mut state = init();
        (0..count).try_for_each(|i| f(&mut state, i))
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(set_threads, m)?)?;
    m.add_function(wrap_pyfunction!(threads, m)?)?;
    m.add_function(wrap_pyfunction!(set_inline_limits, m)?)?;
    m.add_function(wrap_pyfunction!(inline_limits, m)?)?;
    m.add_function(wrap_pyfunction!(calls, m)?)?;
    m.add("INLINE_HASH_BYTES", INLINE_HASH_BYTES)?;
    m.add("INLINE_CODE_BYTES", INLINE_CODE_BYTES)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_threads() -> ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap()
    }

    #[test]
    fn helpers_loop_in_order_off_the_pool_and_fan_out_on_it() {
        assert!(!fanned());
        let off = map(1000, |i| (i, fanned(), rayon::current_thread_index()));
        assert!(off
            .iter()
            .enumerate()
            .all(|(i, &(j, f, t))| i == j && !f && t.is_none()));
        let on = two_threads().install(|| map(1000, |i| (i, fanned())));
        assert!(on.iter().enumerate().all(|(i, &(j, f))| i == j && f));
    }

    #[test]
    fn every_helper_gives_the_same_result_on_both_paths() {
        let chunks = |out: &mut Vec<u64>| {
            for_each_chunk_mut(out, 7, |i, c| {
                c.iter_mut()
                    .enumerate()
                    .for_each(|(j, x)| *x = (i * 7 + j) as u64 * 3)
            })
        };
        let mut a = vec![0u64; 1001];
        let mut b = vec![0u64; 1001];
        chunks(&mut a);
        two_threads().install(|| chunks(&mut b));
        assert_eq!(a, b);
        assert_eq!(a[1000], 3000);

        // Each item writes its own slot; a state counts the items its thread did.
        let each = |min_len: usize| {
            let slots: Vec<AtomicUsize> = (0..500).map(|_| AtomicUsize::new(0)).collect();
            let done = AtomicUsize::new(0);
            let r: Result<(), usize> = try_for_each_init(
                500,
                min_len,
                || 0usize,
                |seen, i| {
                    *seen += 1;
                    slots[i].store(i * i + 1, Ordering::Relaxed);
                    done.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                },
            );
            (
                r,
                slots
                    .iter()
                    .map(|s| s.load(Ordering::Relaxed))
                    .collect::<Vec<_>>(),
                done.into_inner(),
            )
        };
        assert_eq!(each(1), two_threads().install(|| each(16)));
        let fail =
            || try_for_each_init(500, 1, || (), |_, i| if i == 250 { Err(i) } else { Ok(()) });
        assert_eq!(fail(), Err(250));
        assert_eq!(two_threads().install(fail), Err(250));
    }

    #[test]
    fn work_is_small_below_its_share_of_the_limits() {
        let limits = (1000, 4000);
        assert!(Work::hashing(999).small(limits));
        assert!(!Work::hashing(1000).small(limits));
        assert!(Work::coding(3999).small(limits));
        assert!(!Work::coding(4000).small(limits));
        assert!(Work {
            hashed: 499,
            coded: 2000
        }
        .small(limits));
        assert!(!Work {
            hashed: 500,
            coded: 2000
        }
        .small(limits));
        assert!(!Work::default().small((0, 0)));
        assert!(!Work::default().small((0, 4000)));
        assert!(!Work {
            hashed: usize::MAX - 1,
            coded: usize::MAX - 1
        }
        .small((usize::MAX, usize::MAX)));
        assert!(Work {
            hashed: usize::MAX / 4,
            coded: usize::MAX / 4
        }
        .small((usize::MAX, usize::MAX)));
    }
}
