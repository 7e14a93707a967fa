//! The safe API's slice checks: an operand whose addressed elements leave its slice is an
//! `InvalidArgument` at that operand's position in the C signature, with the offsets it
//! addresses and the offsets its slice holds; it is reported after every rule of the C contract
//! (so a call with both kinds of fault reports the C rule), only for referenced operands, and
//! nothing is written. Pins the messages of every form (gemm, strided, _ex, pointer arrays, syrk).

use tensorblas::{CpuBackend, Error, Handle, Op, StridedMut, StridedRef, Uplo};

fn handle() -> Handle {
    Handle::with_backend(CpuBackend::Native).unwrap()
}

fn invalid(r: tensorblas::Result<()>) -> (i32, String) {
    match r {
        Err(e @ Error::InvalidArgument { .. }) => (e.position(), e.to_string()),
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

#[test]
fn gemm_and_strided_name_the_short_slice() {
    let h = handle();
    let (a, b) = (vec![1.0f64; 6], vec![1.0f64; 6]);
    let mut c = vec![7.0f64; 3];
    // C is 2x2 with ldc 2: needs offsets 0..=3, the slice holds 0..=2.
    let (p, m) = invalid(h.gemm(Op::N, Op::N, 2, 2, 2, 1.0, &a, 2, &b, 2, 0.0, &mut c, 2));
    assert_eq!(p, 13);
    assert_eq!(
        m,
        "tblas_dgemm: argument 13 (C) addresses elements at offsets 0..=3 from its origin, but its slice holds offsets 0..=2"
    );
    assert_eq!(c, [7.0; 3], "nothing written");
    // A too short (k x m stored for Op::T, lda 3): offsets 0..=4 needed, 0..=3 held.
    let mut c = vec![0.0f64; 4];
    let (p, m) = invalid(h.gemm(Op::T, Op::N, 2, 2, 2, 1.0, &a[..4], 3, &b, 2, 0.0, &mut c, 2));
    assert_eq!(p, 8);
    assert!(
        m.ends_with(
            "argument 8 (A) addresses elements at offsets 0..=4 from its origin, but its slice holds offsets 0..=3"
        ),
        "{m}"
    );
    // Strided: B's second entry leaves the slice (stride 4: offsets 0..=7).
    let mut c = vec![0.0f64; 8];
    let (p, m) = invalid(h.gemm_strided_batched(
        Op::N,
        Op::N,
        2,
        2,
        2,
        1.0,
        &[1.0; 8],
        2,
        4,
        &b,
        2,
        4,
        0.0,
        &mut c,
        2,
        4,
        2,
    ));
    assert_eq!(p, 11);
    assert!(
        m.starts_with("tblas_dgemm_strided_batched: argument 11 (B) addresses elements at offsets 0..=7"),
        "{m}"
    );
    // Unreferenced operands are not checked: alpha = 0 reads neither A nor B.
    let mut c = vec![1.0f64; 4];
    h.gemm(Op::N, Op::N, 2, 2, 2, 0.0, &[], 2, &[], 2, 2.0, &mut c, 2)
        .unwrap();
    assert_eq!(c, [2.0; 4]);
}

#[test]
fn a_c_rule_is_reported_before_a_slice_bound() {
    let h = handle();
    let mut c = vec![0.0f64; 1];
    // ldc = 1 < m = 2 breaks a C rule (position 14) and C's slice is short too: the rule wins.
    let (p, _) = invalid(h.gemm(Op::N, Op::N, 2, 2, 2, 1.0, &[1.0; 4], 2, &[1.0; 4], 2, 0.0, &mut c, 1));
    assert_eq!(p, 14);
}

#[test]
fn ex_views_and_syrk() {
    let h = handle();
    let a = [1.0f32; 4];
    let mut c = [0.0f32; 4];
    // A viewed from offset 2 with rs = -1: addresses offsets -1..=2 relative to the origin; the
    // slice holds -2..=1.
    let (p, m) = invalid(h.gemm_strided_batched_ex(
        Op::N,
        Op::N,
        2,
        2,
        2,
        1.0,
        StridedRef::new(&a, 2, -1, 2, 0),
        StridedRef::new(&a, 0, 1, 2, 0),
        0.0,
        StridedMut::new(&mut c, 0, 1, 2, 0),
        1,
    ));
    assert_eq!(p, 8);
    assert_eq!(
        m,
        "tblas_sgemm_strided_batched_ex: argument 8 (A) addresses elements at offsets -1..=2 from its origin, but its slice holds offsets -2..=1"
    );
    let mut c = [0.0f32; 3];
    let (p, m) = invalid(h.syrk_strided_batched_ex(
        Uplo::Lower,
        Op::N,
        2,
        2,
        1.0,
        StridedRef::new(&a, 0, 1, 2, 0),
        0.0,
        StridedMut::new(&mut c, 0, 1, 2, 0),
        1,
    ));
    assert_eq!(p, 8);
    assert!(
        m.contains("(C) addresses elements at offsets 0..=3 from its origin, but its slice holds offsets 0..=2"),
        "{m}"
    );
}

#[test]
fn pointer_arrays_name_the_entry() {
    let h = handle();
    let full = [1.0f64; 4];
    let short = [1.0f64; 3];
    let a: Vec<&[f64]> = vec![&full, &full, &short];
    let b: Vec<&[f64]> = vec![&full, &short, &full];
    let mut cs = vec![vec![0.0f64; 4]; 3];
    let mut c: Vec<&mut [f64]> = cs.iter_mut().map(|v| &mut v[..]).collect();
    // Entry 1's B is short, before entry 2's A: entries in order, A then B within one.
    let (p, m) = invalid(h.gemm_batched(Op::N, Op::N, 2, 2, 2, 1.0, &a, 2, &b, 2, 0.0, &mut c, 2));
    assert_eq!(p, 10);
    assert_eq!(
        m,
        "tblas_dgemm_batched: argument 10 (B) entry 1: addresses elements at offsets 0..=3 from its origin, but its slice holds offsets 0..=2"
    );
    assert!(cs.iter().all(|v| v == &[0.0; 4]), "nothing written");
}
