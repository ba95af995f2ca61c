//! The `s3logs` command: parse arguments, run the subcommand, map the
//! outcome to an exit code. Everything else lives in the library and in
//! `cli/`.

use std::process::ExitCode;

use clap::Parser;

mod cli;

/// mimalloc, not the system allocator. A run allocates and frees each
/// batch's column buffers (hundreds of kilobytes apiece) thousands of times,
/// and glibc's malloc hands such blocks back to the kernel and faults them
/// in again: parsing into Arrow ran 25% slower on it (`make bench`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            if cli::is_broken_pipe(&err) {
                // `s3logs … | head` closed the pipe: not an error.
                return ExitCode::SUCCESS;
            }
            eprintln!("s3logs: error: {}", cli::error_chain(&err));
            ExitCode::from(2)
        }
    }
}
