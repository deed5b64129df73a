//! The `sesame` binary: the command line of `../shared/CONTRACT.md` (serve, account,
//! template) and the wiring of every part into one process. Logs go to stderr; commands
//! that print data print exactly that on stdout.

mod backup;
mod cli;
mod ip;
mod serve;
mod task;
mod user;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("sesame: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sesame: {e:#}");
            ExitCode::FAILURE
        }
    }
}
