//! The command line: `icbot [run] [--config PATH]`, `icbot stub ...`, `icbot check-config [--config PATH]`,
//! `icbot health [--admin URL] [--pid PID] [--live]`. Logging is set up here, once the command (and for
//! `run`, the config) says where logs go.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use std::io::IsTerminal;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use icbot_actors::ports::UserGroupsApi;
use icbot_actors::supervision::names::ActorNames;
use tokio::io::BufReader;

use crate::app;
use crate::config::{self, ChatAdapter, Config, Problem, Secrets};
use crate::console::{self, ConsoleChat, ConsoleStyle};
use crate::ha::slack_events::SharedSlackEvents;
use crate::health;
use crate::slack::{self, SlackChat, SlackMode};
use crate::stub::{Fault, StubData, StubServer};
use crate::telemetry::{self, Logs};

#[derive(Debug, Parser)]
#[command(
    name = "icbot",
    version,
    about = "Incident-response ChatOps bot: who is on call, page them, watch the system state"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<CliCommand>,
    /// The configuration file [default: config.toml].
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// `--config PATH`, on the commands that read a configuration.
#[derive(Debug, Clone, Args)]
pub struct ConfigArg {
    /// The configuration file [default: config.toml].
    #[arg(long = "config", value_name = "PATH")]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Run the bot (the default).
    Run {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Check a configuration file and the environment; prints every problem with its key.
    CheckConfig {
        #[command(flatten)]
        config: ConfigArg,
    },
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
    /// unreachable or not the bot expected.
    Health {
        /// The admin server, e.g. http://127.0.0.1:9464 or 127.0.0.1:9464 (default: `[admin] listen` from
        /// the config).
        #[arg(long)]
        admin: Option<String>,
        /// The bot's process id; the admin server must answer for it (default: the pid in the state dir's
        /// lock file, when there is one).
        #[arg(long)]
        pid: Option<u32>,
        /// Liveness only (`GET /healthz`): exit 0 while the process answers, ready or not.
        #[arg(long)]
        live: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// The config path: the subcommand's `--config`, else the one before it, else `config.toml`.
fn config_path(top: &Option<PathBuf>, sub: Option<&ConfigArg>) -> PathBuf {
    sub.and_then(|c| c.path.clone())
        .or_else(|| top.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG))
}

/// The configuration read when no `--config` is given.
pub const DEFAULT_CONFIG: &str = "config.toml";

pub async fn main(cli: Cli) -> ExitCode {
    let command = cli.command.unwrap_or(CliCommand::Run {
        config: ConfigArg { path: None },
    });
    let result = match command {
        CliCommand::Run { config } => return run(&config_path(&cli.config, Some(&config))).await,
        CliCommand::CheckConfig { config } => {
            return check_config(&config_path(&cli.config, Some(&config)))
        }
        CliCommand::Stub {
            listen,
            data,
            fault,
        } => {
            telemetry::init();
            stub(listen, data, fault).await
        }
        CliCommand::Health {
            admin,
            pid,
            live,
            config,
        } => {
            telemetry::init();
            let path = config_path(&cli.config, Some(&config));
            // A missing or broken config is no reason not to ask the default address.
            let loaded = Config::load(&path).ok();
            // The lock file says which bot the config's admin address belongs to; a given --admin may be
            // any bot's, so only --pid says what to expect there.
            let expect = match (pid, &admin) {
                (Some(pid), _) => Some(health::Expect::pid(pid)),
                (None, None) => loaded
                    .as_ref()
                    .and_then(|c| health::Expect::from_lock_file(&c.state.dir)),
                (None, Some(_)) => None,
            };
            let url = admin.unwrap_or_else(|| health::admin_url_from(loaded.as_ref()));
            return health::run(&url, expect, live).await;
        }
    };
    finish(result)
}

/// One line on stderr for a failure: logs and the message would say the same thing twice.
fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("icbot: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Reads and checks the config: every problem, each with its key, is one error listing them all.
fn load_checked(path: &Path) -> anyhow::Result<(Config, Secrets, Vec<Problem>)> {
    let secrets = Secrets::from_env();
    let report = Config::check_file(path, &secrets)?;
    match report.usable() {
        Ok((config, warnings)) => Ok((config, secrets, warnings)),
        Err(problems) => anyhow::bail!(
            "{} is not usable ({} problem{}):\n{}",
            path.display(),
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            config::list(&problems)
        ),
    }
}

fn check_config(path: &Path) -> ExitCode {
    let secrets = Secrets::from_env();
    let report = match Config::check_file(path, &secrets) {
        Ok(report) => report,
        Err(e) => {
            println!("{e:#}");
            return ExitCode::from(2);
        }
    };
    for warning in &report.warnings {
        println!("warning: {warning}");
    }
    match report.usable() {
        Ok(_) => {
            println!("{}: OK", path.display());
            ExitCode::SUCCESS
        }
        Err(problems) => {
            println!(
                "{} is not usable ({} problem{}):\n{}",
                path.display(),
                problems.len(),
                if problems.len() == 1 { "" } else { "s" },
                config::list(&problems)
            );
            ExitCode::from(2)
        }
    }
}

async fn run(path: &Path) -> ExitCode {
    let (config, secrets, warnings) = match load_checked(path) {
        Ok(loaded) => loaded,
        Err(e) => {
            telemetry::init();
            return finish(Err(e));
        }
    };
    // Console chat typed at a terminal: replies on the screen, logs in a file.
    let interactive = config.chat.adapter == ChatAdapter::Console && std::io::stdin().is_terminal();
    let log_file = if interactive {
        let logs = Logs::Interactive {
            file: config.state.dir.join(telemetry::INTERACTIVE_LOG),
        };
        match telemetry::init_to(&logs) {
            Ok(file) => file,
            Err(e) => {
                tracing::warn!(error = %e, "logging to stderr instead");
                None
            }
        }
    } else {
        telemetry::init();
        None
    };
    for warning in &warnings {
        tracing::warn!(problem = %warning, "deprecated configuration, read for this release only");
    }
    let result = match config.chat.adapter {
        ChatAdapter::Console => run_console(&config, &secrets, interactive, log_file).await,
        ChatAdapter::Slack => run_slack(&config, &secrets).await,
    };
    finish(result)
}

/// Slack: the outbound half first (the tree needs it), then the tree, then the inbound half (it needs the
/// gateway). Runs until SIGTERM or Ctrl-C; then inbound stops first and replies in flight still go out.
async fn run_slack(config: &Config, secrets: &Secrets) -> anyhow::Result<()> {
    let slack_secrets = secrets
        .slack(config.slack.mode)
        .map_err(anyhow::Error::msg)?;
    let chat = Arc::new(SlackChat::new(&config.slack, &slack_secrets)?);
    let groups: Arc<dyn UserGroupsApi> = Arc::new(chat.user_groups());
    let bot = app::start_with_groups(
        config,
        secrets,
        chat.clone(),
        ActorNames::default(),
        Some(groups),
    )
    .await?;
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
    // Several replicas: a Slack event some replica handled already is not handled again.
    let seen = bot.replica().map(|replica| {
        Arc::new(SharedSlackEvents::new(
            replica.database().clone(),
            replica.replica().to_string(),
        )) as Arc<dyn slack::SeenEvents>
    });
    let slack = match slack::start_inbound(
        &config.slack,
        &slack_secrets,
        chat,
        bot.gateway().clone(),
        listener,
        seen,
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

async fn run_console(
    config: &Config,
    secrets: &Secrets,
    interactive: bool,
    log_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    let style = if interactive {
        ConsoleStyle::interactive()
    } else {
        ConsoleStyle::piped()
    };
    let chat = Arc::new(ConsoleChat::stdout(style));
    let bot = app::start(config, secrets, chat.clone(), ActorNames::default()).await?;
    if interactive {
        let banner = console::banner(config.pagerduty.is_embedded(), log_file.as_deref());
        if let Err(e) = chat.banner(&banner).await {
            tracing::warn!(error = %e, "cannot write the banner");
        }
    }
    let stdin = BufReader::new(tokio::io::stdin());
    tokio::select! {
        () = console::read_lines(stdin, &chat, bot.gateway()) => tracing::info!("end of input; finishing replies in flight"),
        () = shutdown_signal() => tracing::info!("shutdown signal; finishing replies in flight"),
    }
    bot.shutdown().await;
    if let Err(e) = chat.finish().await {
        tracing::warn!(error = %e, "cannot write the last replies");
    }
    if interactive {
        println!();
    }
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
