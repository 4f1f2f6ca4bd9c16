//! Domain-separated BLAKE3-256 Merkle trees, many at a time.
//!
//! `leaf = H(symbol || 0x00)`, `inner = H(left || right || 0x01)`; a level of odd size is
//! padded with the all-zero node; a proof is the sibling path from the leaf up. Those
//! are the rules of `walrus_node.codec.merkle`, which documents why.

use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use rayon::prelude::*;

use crate::{pool, raw, value_error};

pub(crate) const DIGEST: usize = 32;
type Node = [u8; DIGEST];
const EMPTY: Node = [0u8; DIGEST];

// The BLAKE3 compression function, called directly for the two shapes this module
// hashes most: symbols shorter than one 64-byte block (one compression, no hasher state)
// and inner nodes (their first block is two children, compressed many at a time with
// SIMD by `hash_many`; the one-byte tag is a second, short block). `blake3::platform` is
// public but hidden from the docs; Cargo.lock pins the crate, and tests compare every
// path with plain `blake3::hash`.
use blake3::platform::Platform;
use blake3::IncrementCounter;

const IV: [u32; 8] = [
    0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
];
const CHUNK_START: u8 = 1;
const CHUNK_END: u8 = 2;
const ROOT: u8 = 8;
const BLOCK: usize = 64;

fn platform() -> Platform {
    Platform::detect()
}

fn words_to_node(cv: &[u32; 8]) -> Node {
    let mut out = [0u8; DIGEST];
    for (i, word) in cv.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&word.to_le_bytes());
    }
    out
}

fn node_to_words(node: &[u8]) -> [u32; 8] {
    let mut cv = [0u32; 8];
    for (i, word) in cv.iter_mut().enumerate() {
        *word = u32::from_le_bytes(node[4 * i..4 * i + 4].try_into().expect("4 bytes"));
    }
    cv
}

fn leaf_with(platform: Platform, symbol: &[u8]) -> Node {
    if symbol.len() < BLOCK {
        let mut block = [0u8; BLOCK];
        block[..symbol.len()].copy_from_slice(symbol);
        let mut cv = IV;
        platform.compress_in_place(&mut cv, &block, (symbol.len() + 1) as u8, 0, CHUNK_START | CHUNK_END | ROOT);
        return words_to_node(&cv);
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update(symbol);
    hasher.update(&[0u8]);
    *hasher.finalize().as_bytes()
}

fn leaf(symbol: &[u8]) -> Node {
    leaf_with(platform(), symbol)
}

/// Inner nodes over consecutive pairs of `children` (even length).
fn parents(platform: Platform, children: &[Node]) -> Vec<Node> {
    let pairs: Vec<&[u8; BLOCK]> = children
        .chunks_exact(2)
        .map(|pair| {
            // SAFETY: two adjacent [u8; 32] in a slice are 64 contiguous bytes.
            unsafe { &*(pair.as_ptr() as *const [u8; BLOCK]) }
        })
        .collect();
    let mut cvs = vec![0u8; pairs.len() * DIGEST];
    platform.hash_many(&pairs, &IV, 0, IncrementCounter::No, 0, CHUNK_START, 0, &mut cvs);
    let mut tag = [0u8; BLOCK];
    tag[0] = 1;
    cvs.chunks_exact(DIGEST)
        .map(|first| {
            let mut cv = node_to_words(first);
            platform.compress_in_place(&mut cv, &tag, 1, 0, CHUNK_END | ROOT);
            words_to_node(&cv)
        })
        .collect()
}

fn inner(left: &Node, right: &Node) -> Node {
    parents(platform(), &[*left, *right])[0]
}

/// Root over a level of leaves (consumed as scratch); EMPTY for none.
fn root_of(mut level: Vec<Node>) -> Node {
    if level.is_empty() {
        return EMPTY;
    }
    let platform = platform();
    while level.len() > 1 {
        if level.len() % 2 == 1 {
            level.push(EMPTY);
        }
        level = parents(platform, &level);
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
        let next = parents(platform(), level);
        levels.push(next);
    }
    levels
}

fn as_nodes(data: &[u8]) -> PyResult<Vec<Node>> {
    if data.len() % DIGEST != 0 {
        return Err(value_error(format!("{} bytes is not a whole number of nodes", data.len())));
    }
    Ok(data.chunks_exact(DIGEST).map(|c| c.try_into().expect("32 bytes")).collect())
}

fn flat(nodes: &[Node]) -> Vec<u8> {
    nodes.iter().flat_map(|n| n.iter().copied()).collect()
}

/// Leaf hashes of symbols at `base + c * stride` (`count` of `s` bytes), in parallel.
fn leaves_at(addr: usize, s: usize, count: usize, stride: usize) -> Vec<Node> {
    let platform = platform();
    (0..count)
        .into_par_iter()
        .map(|c| {
            // SAFETY: callers check `(count - 1) * stride + s` against the buffer.
            let symbol = unsafe { std::slice::from_raw_parts((addr + c * stride) as *const u8, s) };
            leaf_with(platform, symbol)
        })
        .collect()
}

/// Roots of `trees` trees of `width` leaves each, tree `t`'s leaf `w` being
/// `leaves[t * tree_stride + w * leaf_stride]`.
fn roots_of(leaves: &[Node], trees: usize, width: usize, tree_stride: usize, leaf_stride: usize) -> Vec<Node> {
    (0..trees)
        .into_par_iter()
        .map(|t| root_of((0..width).map(|w| leaves[t * tree_stride + w * leaf_stride]).collect()))
        .collect()
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
    let pool = pool()?;
    let nodes = py.allow_threads(|| pool.install(|| leaves_at(r.addr + offset, s, count, stride)));
    Ok(PyBytes::new(py, &flat(&nodes)))
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
    let nodes = as_nodes(leaves)?;
    if trees > 0 && width > 0 && (trees - 1) * tree_stride + (width - 1) * leaf_stride >= nodes.len() {
        return Err(value_error("trees reach past the last leaf".into()));
    }
    let pool = pool()?;
    let roots = py.allow_threads(|| pool.install(|| roots_of(&nodes, trees, width, tree_stride, leaf_stride)));
    Ok(PyBytes::new(py, &flat(&roots)))
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
    let pool = pool()?;
    let (primary, secondary) = py.allow_threads(|| {
        pool.install(|| {
            let leaves = leaves_at(r.addr, s, n * n, s);
            (roots_of(&leaves, n, n, n, 1), roots_of(&leaves, n, n, 1, n))
        })
    });
    Ok((PyBytes::new(py, &flat(&primary)), PyBytes::new(py, &flat(&secondary))))
}

/// The root of a sliver's `k` source symbols at `addr` extended to `n`: the source is
/// hashed where it lies, only the `n - k` parity symbols are computed (into a buffer of
/// their own, so no copy of the sliver is made).
fn sliver_root(addr: usize, k: usize, n: usize, s: usize) -> PyResult<Node> {
    let mut leaves = leaves_at(addr, s, k, s);
    if n > k {
        let mut parity = vec![0u8; (n - k) * s];
        let src = crate::rs::Layout { base: addr, group_stride: 0, shard_stride: s };
        let dst = crate::rs::Layout { base: parity.as_mut_ptr() as usize, group_stride: 0, shard_stride: s };
        crate::rs::encode_at(src, dst, k, n, s, 1)?;
        leaves.extend(leaves_at(parity.as_ptr() as usize, s, n - k, s));
    }
    Ok(root_of(leaves))
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
    crate::rs::check_code(k, n, s)?;
    let mut addrs = Vec::with_capacity(slivers.len());
    for sliver in &slivers {
        let r = raw(sliver, "sliver", false)?;
        if r.len != k * s {
            return Err(value_error(format!("sliver has {} bytes, expected {}", r.len, k * s)));
        }
        addrs.push(r.addr);
    }
    let pool = pool()?;
    let roots: PyResult<Vec<Node>> = py.allow_threads(|| {
        pool.install(|| {
            addrs
                .par_iter()
                .map(|&addr| {
                    // Length checked above; buffers exported for the call.
                    sliver_root(addr, k, n, s)
                })
                .collect()
        })
    });
    Ok(roots?.iter().map(|root| PyBytes::new(py, root)).collect())
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

fn verify_one(root: &[u8], data: &[u8], index: usize, proof: &[u8]) -> bool {
    if root.len() != DIGEST || proof.len() % DIGEST != 0 {
        return false;
    }
    let mut node = leaf(data);
    let mut i = index;
    for sibling in proof.chunks_exact(DIGEST) {
        let sibling: &Node = sibling.try_into().expect("32 bytes");
        node = if i % 2 == 0 { inner(&node, sibling) } else { inner(sibling, &node) };
        i /= 2;
    }
    i == 0 && node == root
}

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
    let pool = pool()?;
    Ok(py.allow_threads(|| {
        pool.install(|| {
            (0..count)
                .into_par_iter()
                .map(|i| {
                    // SAFETY: exported buffers, valid for the call.
                    let data = unsafe { std::slice::from_raw_parts(spans[i].0 as *const u8, spans[i].1) };
                    verify_one(&roots[i], data, indices[i], &proofs[i])
                })
                .collect()
        })
    }))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(hash, m)?)?;
    m.add_function(wrap_pyfunction!(leaf_hashes, m)?)?;
    m.add_function(wrap_pyfunction!(merkle_roots, m)?)?;
    m.add_function(wrap_pyfunction!(matrix_roots, m)?)?;
    m.add_function(wrap_pyfunction!(sliver_roots, m)?)?;
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
        let got = parents(platform(), &nodes[..36]);
        for (i, node) in got.iter().enumerate() {
            let mut input = nodes[2 * i].to_vec();
            input.extend_from_slice(&nodes[2 * i + 1]);
            input.push(1);
            assert_eq!(*node, *blake3::hash(&input).as_bytes());
        }
    }
}
