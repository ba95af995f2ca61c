//! Build script: link the `s3logs` binary as a position-dependent
//! executable on glibc Linux.
//!
//! A position-independent executable (the toolchain's default) carries a
//! relocation for every pointer in its read-only data: about 269,000 in
//! this binary (6.4 MB of `.rela.dyn`), which the dynamic loader applies
//! at every start, faulting in and copying the 4.3 MB of `.data.rel.ro`
//! they point into. That was about 5.5 ms of each process (8.3 ms for
//! `s3logs --version` against 2.7 ms linked with `-no-pie`), and every
//! `s3logs query` is a process of its own. Linked with `-no-pie`, the
//! linker resolves those pointers once, and the loader has nothing to do
//! but the shared libraries' few hundred.
//!
//! The price is that the binary's own code and data load at a fixed
//! address (shared libraries, heap and stack are still randomised). Set
//! `S3LOGS_PIE=1` when building to keep the toolchain's default.

fn main() {
    println!("cargo:rerun-if-changed=src/build.rs");
    println!("cargo:rerun-if-env-changed=S3LOGS_PIE");
    // glibc Linux only: a musl target links a static PIE of its own.
    let target = |key: &str, want: &str| std::env::var(key).is_ok_and(|v| v == want);
    let linux = target("CARGO_CFG_TARGET_OS", "linux") && target("CARGO_CFG_TARGET_ENV", "gnu");
    let keep_pie = std::env::var_os("S3LOGS_PIE").is_some_and(|v| !v.is_empty() && v != "0");
    if linux && !keep_pie {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
