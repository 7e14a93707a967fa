//! `tensorblas-bench`: the measurement CLI (sweeps, CSV, plots).
//!
//! Not implemented yet: the sweep tool arrives with the performance issue (#3). Until then this
//! binary says so and exits with status 2; the README's main job is the
//! `strided_batched` example of the core crate.

fn main() {
    eprintln!(
        "tensorblas-bench: the sweep tool is not implemented yet (issue #3).\n\
         For a timed strided-batched GEMM today: cargo run --release --example strided_batched"
    );
    std::process::exit(2);
}
