//! `icbot`: see `icbot --help`. Everything lives in the library; this only parses the command line.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    icbot::app::install_crypto_provider();
    icbot::telemetry::init();
    icbot::cli::main(icbot::cli::Cli::parse()).await
}
