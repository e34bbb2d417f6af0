//! The command line: `icbot [run] [--config PATH]`, `icbot stub ...`, `icbot check-config [--config PATH]`,
//! `icbot health [--admin URL]`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use icbot_actors::names::ActorNames;
use tokio::io::BufReader;

use crate::app;
use crate::config::{ChatAdapter, Config, Secrets};
use crate::console::{self, ConsoleChat};
use crate::health;
use crate::slack::{self, SlackChat, SlackMode};
use crate::stub::{Fault, StubData, StubServer};

#[derive(Debug, Parser)]
#[command(
    name = "icbot",
    version,
    about = "Incident-response ChatOps bot: who is on call, page them, watch the system state"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<CliCommand>,
    /// The configuration file (for `run`, the default command).
    #[arg(long, global = true, default_value = "config.toml")]
    pub config: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Run the bot (the default).
    Run,
    /// Check a configuration file and the environment; prints each problem with its key.
    CheckConfig,
    /// Run the bundled PagerDuty + monitoring stub, for demos and chaos drills.
    Stub {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// A JSON data file (default: the embedded demo data).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Fault at start: none, error, unavailable, ratelimit, unauthorized, hang, slow:<ms>, malformed.
        #[arg(long, default_value = "none")]
        fault: Fault,
    },
    /// Ask a running bot's admin server: prints the actor tree, exits 0 when ready, 1 when not, 2 when
    /// unreachable.
    Health {
        /// The admin server, e.g. http://127.0.0.1:9464 (default: `[admin] listen` from --config).
        #[arg(long)]
        admin: Option<String>,
    },
}

pub async fn main(cli: Cli) -> ExitCode {
    let result = match cli.command.unwrap_or(CliCommand::Run) {
        CliCommand::Run => run(&cli.config).await,
        CliCommand::CheckConfig => return check_config(&cli.config),
        CliCommand::Stub {
            listen,
            data,
            fault,
        } => stub(listen, data, fault).await,
        CliCommand::Health { admin } => {
            let url = admin.unwrap_or_else(|| {
                // A missing or broken config is no reason not to ask the default address.
                health::admin_url_from(Config::load(&cli.config).ok().as_ref())
            });
            return health::run(&url).await;
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "icbot failed");
            eprintln!("icbot: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Loads and checks the config; problems are an error listing each.
fn load_checked(path: &Path) -> anyhow::Result<(Config, Secrets)> {
    let config = Config::load(path)?;
    let secrets = Secrets::from_env();
    let problems = config.problems(&secrets);
    if !problems.is_empty() {
        anyhow::bail!(
            "{} is not usable:\n  {}",
            path.display(),
            problems.join("\n  ")
        );
    }
    Ok((config, secrets))
}

fn check_config(path: &Path) -> ExitCode {
    match load_checked(path) {
        Ok(_) => {
            println!("{}: OK", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("{e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(path: &Path) -> anyhow::Result<()> {
    let (config, secrets) = load_checked(path)?;
    match config.chat.adapter {
        ChatAdapter::Console => run_console(&config, &secrets).await,
        ChatAdapter::Slack => run_slack(&config, &secrets).await,
    }
}

/// Slack: the outbound half first (the tree needs it), then the tree, then the inbound half (it needs the
/// gateway). Runs until SIGTERM or Ctrl-C; then inbound stops first and replies in flight still go out.
async fn run_slack(config: &Config, secrets: &Secrets) -> anyhow::Result<()> {
    let slack_secrets = secrets
        .slack(config.slack.mode)
        .map_err(anyhow::Error::msg)?;
    let chat = Arc::new(SlackChat::new(&config.slack, &slack_secrets)?);
    let bot = app::start(config, secrets, chat.clone(), ActorNames::default()).await?;
    let listener = match config.slack.mode {
        SlackMode::Events => Some(
            tokio::net::TcpListener::bind(&config.slack.listen)
                .await
                .with_context(|| {
                    format!("cannot listen on slack.listen = {}", config.slack.listen)
                })?,
        ),
        SlackMode::Socket => None,
    };
    let slack = match slack::start_inbound(
        &config.slack,
        &slack_secrets,
        chat,
        bot.gateway().clone(),
        listener,
    )
    .await
    {
        Ok(slack) => slack,
        Err(e) => {
            bot.shutdown().await;
            return Err(e.context("cannot connect to Slack"));
        }
    };
    tracing::info!(mode = %config.slack.mode, "connected to Slack");
    // Readiness and /actors follow the adapter's connection.
    let (mut connection, published) = (slack.connection(), bot.chat_connection());
    tokio::spawn(async move {
        loop {
            published.send_replace(*connection.borrow_and_update());
            if connection.changed().await.is_err() {
                return;
            }
        }
    });
    shutdown_signal().await;
    tracing::info!("shutdown signal; finishing replies in flight");
    slack.shutdown().await;
    bot.shutdown().await;
    Ok(())
}

async fn run_console(config: &Config, secrets: &Secrets) -> anyhow::Result<()> {
    let bot = app::start(
        config,
        secrets,
        Arc::new(ConsoleChat::stdout()),
        ActorNames::default(),
    )
    .await?;
    let stdin = BufReader::new(tokio::io::stdin());
    tokio::select! {
        () = console::read_lines(stdin, bot.gateway()) => tracing::info!("end of input; finishing replies in flight"),
        () = shutdown_signal() => tracing::info!("shutdown signal; finishing replies in flight"),
    }
    bot.shutdown().await;
    Ok(())
}

async fn stub(listen: SocketAddr, data: Option<PathBuf>, fault: Fault) -> anyhow::Result<()> {
    let data = match data {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            StubData::from_json(&text)
                .with_context(|| format!("{} is not stub data", path.display()))?
        }
        None => StubData::demo(),
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    println!("icbot stub listening on http://{addr} (fault: {fault})");
    StubServer::serve(listener, data, fault, async {
        shutdown_signal().await;
    })
    .await
    .context("stub server failed")
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
