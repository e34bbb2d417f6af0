//! `icbot`: see `icbot --help`. Everything lives in the library; this only parses the command line.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    icbot::crypto::install_crypto_provider();
    // Logging is set up by the command, once it knows where logs go (see `cli::main`).
    let cli = icbot::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("icbot: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(icbot::cli::main(cli));
    // Everything that matters was awaited in `cli::main` (replies in flight drained, state saved). What may
    // be left is the console's stdin reader, a blocking thread stuck in read(2) while stdin stays open after
    // a SIGTERM: waiting for it, as dropping the runtime does, would never exit.
    runtime.shutdown_background();
    code
}
