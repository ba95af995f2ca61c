//! The `s3logs` command: parse arguments, run the subcommand, map the
//! outcome to an exit code. Everything else lives in the library and in
//! `cli/`.

use std::process::ExitCode;

use clap::Parser;

mod cli;

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
