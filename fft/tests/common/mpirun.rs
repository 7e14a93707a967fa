//! Finding `mpirun` for the MPI tests of the FFT and of Tucker (each includes this file with
//! `#[path]`): the command with the flags this machine needs, or a visible skip.

use std::process::Command;

/// `mpirun` with the flags this machine needs, or None (skip) when there is none.
pub fn mpirun(test: &str) -> Option<Command> {
    let found = Command::new("mpirun").arg("--version").output().ok();
    let Some(v) = found.filter(|o| o.status.success()) else {
        assert!(
            std::env::var("TBLAS_REQUIRE_MPI").as_deref() != Ok("1"),
            "{test}: TBLAS_REQUIRE_MPI=1 but mpirun was not found"
        );
        eprintln!("skipping {test}: mpirun not found (install an MPI, e.g. Debian's openmpi-bin)");
        return None;
    };
    let mut c = Command::new("mpirun");
    if String::from_utf8_lossy(&v.stdout).contains("Open MPI") {
        // More ranks than cores (CI has 2), and root in containers.
        c.arg("--oversubscribe")
            .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    }
    Some(c)
}
