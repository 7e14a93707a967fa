//! The home of tensorblas' criterion benches (`benches/gemm.rs`): `cargo bench -p
//! tensorblas-criterion -- --quick`. The library itself holds nothing; the benches call the
//! `tensorblas` crate directly. It is a package of its own so that the workspace's tests never
//! build criterion.
