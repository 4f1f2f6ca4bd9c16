//! Domain-separated BLAKE3-256 Merkle trees, many at a time.
//!
//! `leaf = H(symbol || 0x00)`, `inner = H(left || right || 0x01)`; a level of odd size is
//! padded with the all-zero node; a proof is the sibling path from the leaf up. Those
//! are the rules of `walrus_node.codec.merkle`, which documents why.

use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use crate::threads::{self, Work};
use crate::{raw, value_error};

pub(crate) const DIGEST: usize = 32;
type Node = [u8; DIGEST];
const EMPTY: Node = [0u8; DIGEST];

// Every hash goes through `batch_hash`: leaves and inner nodes are many messages of one
// length, hashed side by side in SIMD lanes.
use crate::batch_hash::hash_many;

const LEAF_TAG: [u8; 1] = [0];
const INNER_TAG: [u8; 1] = [1];

/// Bytes of symbols one thread hashes per task: large enough to fill the lanes many
/// times over, small enough to spread a sliver's symbols over the threads.
const TASK_BYTES: usize = 64 << 10;

/// Symbols per task for symbols of `s` bytes (at least one).
fn task_len(s: usize) -> usize {
    (TASK_BYTES / s.max(1)).clamp(1, 1024)
}

/// The leaf hash of one symbol.
#[cfg(test)]
fn leaf(symbol: &[u8]) -> Node {
    let mut out = [EMPTY];
    hash_many(&[symbol], &LEAF_TAG, &mut out);
    out[0]
}

/// Inner nodes over consecutive pairs of `children` (even length).
fn parents(children: &[Node]) -> Vec<Node> {
    let pairs: Vec<&[u8]> = children.chunks_exact(2).map(|pair| pair.as_flattened()).collect();
    let mut out = vec![EMPTY; pairs.len()];
    hash_many(&pairs, &INNER_TAG, &mut out);
    out
}

/// Root over a level of leaves (consumed as scratch); EMPTY for none.
fn root_of(mut level: Vec<Node>) -> Node {
    if level.is_empty() {
        return EMPTY;
    }
    while level.len() > 1 {
        if level.len() % 2 == 1 {
            level.push(EMPTY);
        }
        level = parents(&level);
    }
    level[0]
}

/// Every level of a tree, leaves first (odd levels padded), for proofs.
fn levels_of(leaves: Vec<Node>) -> Vec<Vec<Node>> {
    let mut levels = vec![leaves];
    while levels.last().is_some_and(|l| l.len() > 1) {
        let level = levels.last_mut().expect("non-empty");
        if level.len() % 2 == 1 {
            level.push(EMPTY);
        }
        let next = parents(level);
        levels.push(next);
    }
    levels
}

fn as_nodes(data: &[u8]) -> PyResult<Vec<Node>> {
    if !data.len().is_multiple_of(DIGEST) {
        return Err(value_error(format!("{} bytes is not a whole number of nodes", data.len())));
    }
    Ok(data.chunks_exact(DIGEST).map(|c| c.try_into().expect("32 bytes")).collect())
}

/// Nodes as one byte string, without a copy.
fn flat(nodes: &[Node]) -> &[u8] {
    nodes.as_flattened()
}

/// Leaf hashes of symbols at `addr + c * stride` (`count` of `s` bytes), in tasks.
fn leaves_at(addr: usize, s: usize, count: usize, stride: usize) -> Vec<Node> {
    let mut out = vec![EMPTY; count];
    let per_task = task_len(s);
    threads::for_each_chunk_mut(&mut out, per_task, |t, chunk| {
        let first = addr + t * per_task * stride;
        let symbols: Vec<&[u8]> = (0..chunk.len())
            // SAFETY: callers check `(count - 1) * stride + s` against the buffer.
            .map(|c| unsafe { std::slice::from_raw_parts((first + c * stride) as *const u8, s) })
            .collect();
        hash_many(&symbols, &LEAF_TAG, chunk);
    });
    out
}

/// Roots of `trees` trees of `width` leaves each, tree `t`'s leaf `w` being
/// `leaves[t * tree_stride + w * leaf_stride]`.
fn roots_of(leaves: &[Node], trees: usize, width: usize, tree_stride: usize, leaf_stride: usize) -> Vec<Node> {
    threads::map(trees, |t| root_of((0..width).map(|w| leaves[t * tree_stride + w * leaf_stride]).collect()))
}

/// Plain BLAKE3-256 of `data`.
#[pyfunction]
fn hash<'py>(py: Python<'py>, data: PyBuffer<u8>) -> PyResult<Bound<'py, PyBytes>> {
    let r = raw(&data, "data", false)?;
    // SAFETY: the exported buffer is valid for the call.
    let slice = unsafe { std::slice::from_raw_parts(r.addr as *const u8, r.len) };
    let digest = py.allow_threads(|| *blake3::hash(slice).as_bytes());
    Ok(PyBytes::new(py, &digest))
}

/// BLAKE3-256 of each of `count` messages of `length` bytes in `data`, each followed by
/// `tail`, concatenated: the batched hasher every tree uses, exposed for tests.
#[pyfunction]
fn hash_batch<'py>(
    py: Python<'py>,
    data: PyBuffer<u8>,
    length: usize,
    count: usize,
    tail: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    let r = raw(&data, "data", false)?;
    if length.checked_mul(count) != Some(r.len) {
        return Err(value_error(format!("data has {} bytes, expected {count} of {length}", r.len)));
    }
    // SAFETY: the exported buffer is valid for the call.
    let slice = unsafe { std::slice::from_raw_parts(r.addr as *const u8, r.len) };
    let messages: Vec<&[u8]> = (0..count).map(|i| &slice[i * length..(i + 1) * length]).collect();
    let mut out = vec![EMPTY; count];
    py.allow_threads(|| hash_many(&messages, tail, &mut out));
    Ok(PyBytes::new(py, flat(&out)))
}

/// Leaf hashes of `count` symbols of `s` bytes, symbol `c` at `offset + c * stride`
/// (`stride` defaults to `s`), concatenated.
#[pyfunction]
#[pyo3(signature = (buf, s, count, offset = 0, stride = None))]
fn leaf_hashes<'py>(
    py: Python<'py>,
    buf: PyBuffer<u8>,
    s: usize,
    count: usize,
    offset: usize,
    stride: Option<usize>,
) -> PyResult<Bound<'py, PyBytes>> {
    let r = raw(&buf, "buffer", false)?;
    let stride = stride.unwrap_or(s);
    if count > 0 {
        let end = (count - 1).checked_mul(stride).and_then(|a| a.checked_add(offset + s));
        if end.is_none_or(|end| end > r.len) {
            return Err(value_error("symbols reach past the end of the buffer".into()));
        }
    }
    let work = Work::hashing(count.saturating_mul(s));
    let nodes = threads::run(py, work, || leaves_at(r.addr + offset, s, count, stride))?;
    Ok(PyBytes::new(py, flat(&nodes)))
}

/// Roots of many trees over already-hashed leaves (see `roots_of`), concatenated.
#[pyfunction]
fn merkle_roots<'py>(
    py: Python<'py>,
    leaves: &[u8],
    trees: usize,
    width: usize,
    tree_stride: usize,
    leaf_stride: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    let (nodes, rest) = leaves.as_chunks::<DIGEST>();
    if !rest.is_empty() {
        return Err(value_error(format!("{} bytes is not a whole number of nodes", leaves.len())));
    }
    if trees > 0 && width > 0 && (trees - 1) * tree_stride + (width - 1) * leaf_stride >= nodes.len() {
        return Err(value_error("trees reach past the last leaf".into()));
    }
    // About one inner node of two children per leaf.
    let work = Work::hashing(trees.saturating_mul(width).saturating_mul(2 * DIGEST));
    let roots = threads::run(py, work, || roots_of(nodes, trees, width, tree_stride, leaf_stride))?;
    Ok(PyBytes::new(py, flat(&roots)))
}

/// The commitments of a whole `(n, n * s)` expanded matrix: the roots of its `n` rows
/// (primary slivers) and of its `n` columns (secondary slivers), each concatenated.
#[pyfunction]
fn matrix_roots<'py>(
    py: Python<'py>,
    buf: PyBuffer<u8>,
    n: usize,
    s: usize,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
    let r = raw(&buf, "matrix", false)?;
    if n.checked_mul(n).and_then(|a| a.checked_mul(s)) != Some(r.len) {
        return Err(value_error(format!("matrix has {} bytes, expected n*n*s", r.len)));
    }
    // The symbols, and about one inner node per leaf in each of the two directions.
    let work = Work::hashing(r.len + n * n * 4 * DIGEST);
    let (primary, secondary) = threads::run(py, work, || {
        let leaves = leaves_at(r.addr, s, n * n, s);
        (roots_of(&leaves, n, n, n, 1), roots_of(&leaves, n, n, 1, n))
    })?;
    Ok((PyBytes::new(py, flat(&primary)), PyBytes::new(py, flat(&secondary))))
}

/// The leaves of a sliver's `k` source symbols at `addr` extended to `n`: the source is
/// hashed where it lies, only the `n - k` parity symbols are computed (into a buffer of
/// their own, so no copy of the sliver is made).
fn sliver_leaves_at(addr: usize, k: usize, n: usize, s: usize) -> PyResult<Vec<Node>> {
    let mut leaves = leaves_at(addr, s, k, s);
    if n > k {
        let mut parity = vec![0u8; (n - k) * s];
        let src = crate::rs::Layout { base: addr, group_stride: 0, shard_stride: s };
        let dst = crate::rs::Layout { base: parity.as_mut_ptr() as usize, group_stride: 0, shard_stride: s };
        crate::rs::encode_at(src, dst, k, n, s, 1)?;
        leaves.extend(leaves_at(parity.as_ptr() as usize, s, n - k, s));
    }
    Ok(leaves)
}

/// The root of a sliver's `k` source symbols at `addr` extended to `n` (`sliver_leaves_at`).
fn sliver_root(addr: usize, k: usize, n: usize, s: usize) -> PyResult<Node> {
    Ok(root_of(sliver_leaves_at(addr, k, n, s)?))
}

/// The work of checking `count` slivers of `k` symbols of `s` bytes extended to `n`: the
/// `n - k` parity symbols coded (the code reads and writes all `n`), the `n` symbols and
/// about as many inner nodes hashed.
fn sliver_work(k: usize, n: usize, s: usize, count: usize) -> Work {
    let symbols = count.saturating_mul(n);
    Work { hashed: symbols.saturating_mul(s + 2 * DIGEST), coded: if n > k { symbols.saturating_mul(s) } else { 0 } }
}

/// The `n` leaf hashes of one sliver's `k` symbols of `s` bytes extended to `n`,
/// concatenated: what `sliver_roots` reduces to a root, for callers that keep the tree.
#[pyfunction]
fn sliver_leaves<'py>(
    py: Python<'py>,
    sliver: PyBuffer<u8>,
    k: usize,
    n: usize,
    s: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    crate::rs::check_code(k, n, s)?;
    let r = raw(&sliver, "sliver", false)?;
    if r.len != k * s {
        return Err(value_error(format!("sliver has {} bytes, expected {}", r.len, k * s)));
    }
    // Length checked above; the buffer is exported for the call.
    let leaves = threads::run(py, sliver_work(k, n, s, 1), || sliver_leaves_at(r.addr, k, n, s))??;
    Ok(PyBytes::new(py, flat(&leaves)))
}

/// [`sliver_leaves`] of many slivers of one shape in one call (spread over the pool
/// when the work is big enough): one `n * 32`-byte string of leaves per sliver, in order.
#[pyfunction]
fn sliver_leaves_many<'py>(
    py: Python<'py>,
    slivers: Vec<PyBuffer<u8>>,
    k: usize,
    n: usize,
    s: usize,
) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    let leaves = each_sliver(py, &slivers, k, n, s, |addr| sliver_leaves_at(addr, k, n, s))?;
    Ok(leaves.iter().map(|one| PyBytes::new(py, flat(one))).collect())
}

/// Commitments of slivers: each of `k` symbols of `s` bytes is extended to `n` symbols,
/// leaf-hashed and reduced to its root. One root per sliver, in order.
#[pyfunction]
fn sliver_roots<'py>(
    py: Python<'py>,
    slivers: Vec<PyBuffer<u8>>,
    k: usize,
    n: usize,
    s: usize,
) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    let roots = each_sliver(py, &slivers, k, n, s, |addr| sliver_root(addr, k, n, s))?;
    Ok(roots.iter().map(|root| PyBytes::new(py, root)).collect())
}

/// `f(address)` of each of `slivers`, `k` symbols of `s` bytes extended to `n`, once the
/// code and every length are checked; in one call, spread over the pool when the work
/// of checking them all is big enough.
fn each_sliver<T: Send>(
    py: Python<'_>,
    slivers: &[PyBuffer<u8>],
    k: usize,
    n: usize,
    s: usize,
    f: impl Fn(usize) -> PyResult<T> + Sync + Send,
) -> PyResult<Vec<T>> {
    crate::rs::check_code(k, n, s)?;
    let mut addrs = Vec::with_capacity(slivers.len());
    for sliver in slivers {
        let r = raw(sliver, "sliver", false)?;
        if r.len != k * s {
            return Err(value_error(format!("sliver has {} bytes, expected {}", r.len, k * s)));
        }
        addrs.push(r.addr);
    }
    // Lengths checked above; buffers exported for the call.
    threads::run(py, sliver_work(k, n, s, addrs.len()), || {
        threads::map(addrs.len(), |i| f(addrs[i])).into_iter().collect()
    })?
}

/// Proofs (sibling paths, concatenated) of leaves `indices` of the tree over `leaves`.
#[pyfunction]
fn merkle_proofs<'py>(py: Python<'py>, leaves: &[u8], indices: Vec<usize>) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    let nodes = as_nodes(leaves)?;
    let size = nodes.len();
    if let Some(&bad) = indices.iter().find(|&&i| i >= size) {
        return Err(value_error(format!("leaf {bad} out of range 0..{}", size.saturating_sub(1))));
    }
    let levels = py.allow_threads(|| levels_of(nodes));
    Ok(indices
        .iter()
        .map(|&index| {
            let mut path = Vec::with_capacity(levels.len() * DIGEST);
            let mut i = index;
            for level in &levels[..levels.len() - 1] {
                path.extend_from_slice(&level[i ^ 1]);
                i /= 2;
            }
            PyBytes::new(py, &path)
        })
        .collect())
}

/// Whether each `proofs[i]` proves `leaf(datas[i])` sits at `indices[i]` under `roots[i]`,
/// on one thread: leaves of one length are hashed together, then every path climbs one
/// level at a time, all the paths' inner nodes of that level hashed together.
fn verify_batch(roots: &[Vec<u8>], datas: &[&[u8]], indices: &[usize], proofs: &[Vec<u8>]) -> Vec<bool> {
    let count = datas.len();
    let mut nodes = vec![EMPTY; count];
    let mut by_length: Vec<usize> = (0..count).collect();
    by_length.sort_by_key(|&i| datas[i].len());
    for run in by_length.chunk_by(|&a, &b| datas[a].len() == datas[b].len()) {
        let symbols: Vec<&[u8]> = run.iter().map(|&i| datas[i]).collect();
        let mut out = vec![EMPTY; run.len()];
        hash_many(&symbols, &LEAF_TAG, &mut out);
        for (&i, node) in run.iter().zip(out) {
            nodes[i] = node;
        }
    }
    let well_formed: Vec<bool> =
        (0..count).map(|i| roots[i].len() == DIGEST && proofs[i].len().is_multiple_of(DIGEST)).collect();
    let depth = |i: usize| if well_formed[i] { proofs[i].len() / DIGEST } else { 0 };
    let max_depth = (0..count).map(depth).max().unwrap_or(0);
    for d in 0..max_depth {
        let climbing: Vec<usize> = (0..count).filter(|&i| depth(i) > d).collect();
        let pairs: Vec<[u8; 2 * DIGEST]> = climbing
            .iter()
            .map(|&i| {
                let sibling = &proofs[i][d * DIGEST..(d + 1) * DIGEST];
                let mut pair = [0u8; 2 * DIGEST];
                let (left, right) = pair.split_at_mut(DIGEST);
                if indices[i].checked_shr(d as u32).unwrap_or(0).is_multiple_of(2) {
                    left.copy_from_slice(&nodes[i]);
                    right.copy_from_slice(sibling);
                } else {
                    left.copy_from_slice(sibling);
                    right.copy_from_slice(&nodes[i]);
                }
                pair
            })
            .collect();
        let messages: Vec<&[u8]> = pairs.iter().map(|p| p.as_slice()).collect();
        let mut out = vec![EMPTY; climbing.len()];
        hash_many(&messages, &INNER_TAG, &mut out);
        for (&i, node) in climbing.iter().zip(out) {
            nodes[i] = node;
        }
    }
    (0..count)
        .map(|i| {
            let d = depth(i);
            well_formed[i] && indices[i].checked_shr(d as u32).unwrap_or(0) == 0 && nodes[i] == roots[i][..]
        })
        .collect()
}

/// Proofs one thread checks per task.
const PROOFS_PER_TASK: usize = 256;

/// Whether each `proofs[i]` proves `leaf(datas[i])` sits at `indices[i]` under `roots[i]`.
#[pyfunction]
fn verify_proofs(
    py: Python<'_>,
    roots: Vec<Vec<u8>>,
    datas: Vec<PyBuffer<u8>>,
    indices: Vec<usize>,
    proofs: Vec<Vec<u8>>,
) -> PyResult<Vec<bool>> {
    let count = roots.len();
    if datas.len() != count || indices.len() != count || proofs.len() != count {
        return Err(value_error("roots, datas, indices and proofs differ in length".into()));
    }
    let mut spans = Vec::with_capacity(count);
    for data in &datas {
        let r = raw(data, "data", false)?;
        spans.push((r.addr, r.len));
    }
    // Each symbol, and each level of each proof (a 32-byte sibling, a 64-byte message).
    let hashed = spans.iter().map(|&(_, len)| len).sum::<usize>() + proofs.iter().map(|p| 2 * p.len()).sum::<usize>();
    threads::run(py, Work::hashing(hashed), || {
        // SAFETY: exported buffers, valid for the call.
        let datas: Vec<&[u8]> =
            spans.iter().map(|&(addr, len)| unsafe { std::slice::from_raw_parts(addr as *const u8, len) }).collect();
        let verdicts: Vec<Vec<bool>> = threads::map(count.div_ceil(PROOFS_PER_TASK), |t| {
            let (a, b) = (t * PROOFS_PER_TASK, ((t + 1) * PROOFS_PER_TASK).min(count));
            verify_batch(&roots[a..b], &datas[a..b], &indices[a..b], &proofs[a..b])
        });
        verdicts.concat()
    })
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(hash, m)?)?;
    m.add_function(wrap_pyfunction!(hash_batch, m)?)?;
    m.add_function(wrap_pyfunction!(leaf_hashes, m)?)?;
    m.add_function(wrap_pyfunction!(merkle_roots, m)?)?;
    m.add_function(wrap_pyfunction!(matrix_roots, m)?)?;
    m.add_function(wrap_pyfunction!(sliver_roots, m)?)?;
    m.add_function(wrap_pyfunction!(sliver_leaves, m)?)?;
    m.add_function(wrap_pyfunction!(sliver_leaves_many, m)?)?;
    m.add_function(wrap_pyfunction!(merkle_proofs, m)?)?;
    m.add_function(wrap_pyfunction!(verify_proofs, m)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference_leaf(data: &[u8]) -> Node {
        let mut input = data.to_vec();
        input.push(0);
        *blake3::hash(&input).as_bytes()
    }

    #[test]
    fn leaves_equal_plain_blake3_of_symbol_and_tag() {
        for len in [0, 1, 2, 62, 63, 64, 65, 1023, 1024, 5000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            assert_eq!(leaf(&data), reference_leaf(&data), "length {len}");
        }
    }

    #[test]
    fn inner_nodes_equal_plain_blake3_of_children_and_tag() {
        let nodes: Vec<Node> = (0..37u8).map(|i| reference_leaf(&[i])).collect();
        let got = parents(&nodes[..36]);
        for (i, node) in got.iter().enumerate() {
            let mut input = nodes[2 * i].to_vec();
            input.extend_from_slice(&nodes[2 * i + 1]);
            input.push(1);
            assert_eq!(*node, *blake3::hash(&input).as_bytes());
        }
    }

    /// Leaves of `count` symbols of `len` bytes, the symbols and the tree's levels.
    fn tree(count: usize, len: usize, seed: u8) -> (Vec<Vec<u8>>, Vec<Vec<Node>>) {
        let symbols: Vec<Vec<u8>> =
            (0..count).map(|i| (0..len).map(|j| (i * 31 + j * 7) as u8 ^ seed).collect()).collect();
        let leaves = symbols.iter().map(|s| reference_leaf(s)).collect();
        (symbols, levels_of(leaves))
    }

    fn proof(levels: &[Vec<Node>], index: usize) -> Vec<u8> {
        let mut path = Vec::new();
        let mut i = index;
        for level in &levels[..levels.len() - 1] {
            path.extend_from_slice(&level[i ^ 1]);
            i /= 2;
        }
        path
    }

    #[test]
    fn batched_verification_accepts_true_proofs_of_mixed_sizes_and_rejects_the_rest() {
        let (small, small_levels) = tree(37, 5, 1);
        let (large, large_levels) = tree(600, 301, 2);
        let mut roots = Vec::new();
        let mut datas: Vec<&[u8]> = Vec::new();
        let mut indices = Vec::new();
        let mut proofs = Vec::new();
        let mut expected = Vec::new();
        for (i, symbol) in small.iter().enumerate() {
            roots.push(small_levels.last().unwrap()[0].to_vec());
            datas.push(symbol);
            indices.push(i);
            proofs.push(proof(&small_levels, i));
            expected.push(true);
        }
        for i in (0..600).step_by(7) {
            roots.push(large_levels.last().unwrap()[0].to_vec());
            datas.push(&large[i]);
            indices.push(i);
            proofs.push(proof(&large_levels, i));
            expected.push(true);
        }
        let good = verify_batch(&roots, &datas, &indices, &proofs);
        assert_eq!(good, expected);

        // A wrong sibling, a wrong index, an index past the tree, a proof cut short, a
        // proof of ragged length, a short root and another symbol: each fails alone.
        let last = roots.len() - 1;
        let mut bad_sibling = proofs.clone();
        bad_sibling[3][40] ^= 1;
        let mut bad_index = indices.clone();
        bad_index[40] ^= 1;
        let mut past = indices.clone();
        past[5] += 64;
        let mut short = proofs.clone();
        short[last].truncate(DIGEST * 2);
        let mut ragged = proofs.clone();
        ragged[0].push(0);
        let mut bad_root = roots.clone();
        bad_root[7].pop();
        let mut other = datas.clone();
        other[9] = &small[10];
        for (case, (r, d, i, p), culprit) in [
            ("sibling", (&roots, &datas, &indices, &bad_sibling), 3),
            ("index", (&roots, &datas, &bad_index, &proofs), 40),
            ("past", (&roots, &datas, &past, &proofs), 5),
            ("short", (&roots, &datas, &indices, &short), last),
            ("ragged", (&roots, &datas, &indices, &ragged), 0),
            ("root", (&bad_root, &datas, &indices, &proofs), 7),
            ("symbol", (&roots, &other, &indices, &proofs), 9),
        ] {
            let got = verify_batch(r, d, i, p);
            let mut want = expected.clone();
            want[culprit] = false;
            assert_eq!(got, want, "{case}");
        }
    }
}
