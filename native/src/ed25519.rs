//! Ed25519 signature verification: `ed25519-dalek`'s `verify_strict` plus a canonical
//! public key encoding, so that the signatures a node accepts are exactly those every
//! other node accepts.
//!
//! The rule (docs/security.md, "Signatures"): RFC 8032's cofactorless equation
//! `[S]B = R + [k]A`, `k = SHA-512(R || A || M) mod L`, where
//!
//! * S must be canonical (`S < L`), so `(R, S + L)` is not a second signature;
//! * A and R must both be canonical encodings (`y < p`; R is compared byte for byte with
//!   the canonical encoding of the point the equation yields);
//! * neither A nor R may be a point of small order (one of the eight points of the
//!   torsion subgroup), so that no key "signs" every message (with A the identity, the
//!   equation holds for any message when `R = [S]B`);
//! * A and R must decode to curve points, and every input must have its exact length.
//!
//! These are the checks libsodium's `crypto_sign_verify_detached` makes. Hostile input
//! never raises: it is answered `false`.

use ed25519_dalek::{Signature, VerifyingKey, PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH};
use pyo3::prelude::*;

/// p = 2^255 - 19 as 32 little-endian bytes.
const FIELD_PRIME: [u8; 32] = {
    let mut p = [0xff; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    p
};

/// Whether the y coordinate of a point encoding (its low 255 bits) is below p.
fn canonical_y(encoding: &[u8; 32]) -> bool {
    let mut y = *encoding;
    y[31] &= 0x7f;
    // Little-endian comparison from the most significant byte down.
    for i in (0..32).rev() {
        if y[i] != FIELD_PRIME[i] {
            return y[i] < FIELD_PRIME[i];
        }
    }
    false
}

/// Whether `signature` is `public_key`'s signature of `message` under the rule above.
pub(crate) fn verify(public_key: &[u8], signature: &[u8], message: &[u8]) -> bool {
    let Ok(key) = <&[u8; PUBLIC_KEY_LENGTH]>::try_from(public_key) else {
        return false;
    };
    let Ok(sig) = <&[u8; SIGNATURE_LENGTH]>::try_from(signature) else {
        return false;
    };
    if !canonical_y(key) {
        return false;
    }
    let Ok(key) = VerifyingKey::from_bytes(key) else {
        return false;
    };
    key.verify_strict(message, &Signature::from_bytes(sig)).is_ok()
}

/// `verify_ed25519(public_key, signature, message) -> bool`.
///
/// The GIL stays held: a verification takes about 40 us, releasing and retaking the GIL
/// costs about 0.6 us of that, and the callers verify on the event loop, where handing
/// the GIL to another thread can keep the loop waiting for a whole switch interval.
#[pyfunction]
fn verify_ed25519(public_key: &[u8], signature: &[u8], message: &[u8]) -> bool {
    verify(public_key, signature, message)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(verify_ed25519, m)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn le(n: u64, top: u8) -> [u8; 32] {
        let mut out = [0u8; 32];
        out[..8].copy_from_slice(&n.to_le_bytes());
        out[31] |= top;
        out
    }

    #[test]
    fn canonical_y_is_exactly_below_the_prime() {
        let mut p_minus_1 = FIELD_PRIME;
        p_minus_1[0] -= 1;
        let mut p_plus_1 = FIELD_PRIME;
        p_plus_1[0] += 1;
        assert!(canonical_y(&p_minus_1));
        assert!(!canonical_y(&FIELD_PRIME));
        assert!(!canonical_y(&p_plus_1));
        assert!(!canonical_y(&[0xff; 32]));
        assert!(canonical_y(&le(0, 0)));
        assert!(canonical_y(&le(1, 0)));
        // The sign bit is not part of y.
        assert!(canonical_y(&le(1, 0x80)));
        let mut p_with_sign = FIELD_PRIME;
        p_with_sign[31] |= 0x80;
        assert!(!canonical_y(&p_with_sign));
    }

    #[test]
    fn signatures_verify_and_changes_do_not() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let public = key.verifying_key().to_bytes();
        let sig = key.sign(b"message").to_bytes();
        assert!(verify(&public, &sig, b"message"));
        assert!(!verify(&public, &sig, b"messagf"));
        for i in 0..64 {
            let mut bad = sig;
            bad[i] ^= 1;
            assert!(!verify(&public, &bad, b"message"), "bit flip at byte {i}");
        }
        assert!(!verify(&public[..31], &sig, b"message"));
        assert!(!verify(&public, &sig[..63], b"message"));
    }
}
