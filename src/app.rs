//! Wiring: builds the ports from the configuration and starts the supervision tree, one short function per
//! part (state dir lock, admin socket, stub, PagerDuty client, state store, each child's arguments, the
//! command context, the admin server).
//!
//! `start` is what `main` runs and what the integration tests run, with their own chat and actor names.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use icbot_actors::cache::announcer::Announcer;
use icbot_actors::cache::schedule_cache::{CacheFacts, ScheduleCacheArgs};
use icbot_actors::cache::user_groups::{UserGroupFacts, UserGroupSync};
use icbot_actors::commands::access::AccessPolicy;
use icbot_actors::commands::gateway::{GatewayArgs, GatewayHandle};
use icbot_actors::commands::in_flight::InFlight;
use icbot_actors::commands::incident_audit::IncidentAudit;
use icbot_actors::commands::run::{CommandContext, Deadlines};
use icbot_actors::deadline::REPLY_MARGIN;
use icbot_actors::incidents::follower::IncidentsArgs;
use icbot_actors::pager::actor::PagerArgs;
use icbot_actors::pager::audit::AuditLog;
use icbot_actors::pager::dedup::RecentPages;
use icbot_actors::pager::shared_audit::{AuditWriterTask, SharedAudit};
use icbot_actors::ports::{
    ChatOut, Coordination, PagerDutyApi, SingleReplica, StateStore, StatusProbe, UserGroupsApi,
};
use icbot_actors::root::{self, ChildHealth, RootActor, RootArgs, RootMessage};
use icbot_actors::state_store::watched::{StoreHealth, WatchedStore};
use icbot_actors::state_store::{FileStateStore, MemoryStateStore};
use icbot_actors::status::actor::{self as status, PollSubscribers, StatusArgs};
use icbot_actors::status::stalks::{KeptStalks, SharedStalks, StalkRestarts, StalksArgs};
use icbot_actors::supervision::backoff::RestartPolicy;
use icbot_actors::supervision::chaos::CrashFn;
use icbot_actors::supervision::names::ActorNames;
use ractor::{Actor, ActorRef};
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::admin::{self, AdminSources};
use crate::config::{ChatAdapter, Config, Secrets, StatusSource};
use crate::ha::{PostgresCoordination, Replica};
use crate::instance::{Instance, LockError, StateLock};
use crate::monitoring::{self, MonitoringSettings};
use crate::pagerduty::{PagerDutyClient, PagerDutyConfig};
use crate::stub::{Fault, StubData, StubHandle, StubServer};

/// The token the embedded stub is called with (it checks only that there is one).
const EMBEDDED_TOKEN: &str = "embedded-demo";
/// Contact methods older than this are fetched again.
const CONTACTS_TTL: Duration = Duration::from_secs(3600);
/// Contact lookups in flight at once during a refresh.
const CONTACT_CONCURRENCY: usize = 8;
/// A `!status` within this long of the last check reuses it instead of probing again.
const STATUS_FRESH_FOR: Duration = Duration::from_secs(3);
/// At a clean stop, how long the shared page audit's writer may take to write (or spool) what is queued:
/// one write bounded by its timeout, and one spool.
const AUDIT_WRITER_FINISH: Duration = Duration::from_secs(6);

/// A running bot.
pub struct Bot {
    names: ActorNames,
    root: ActorRef<RootMessage>,
    root_task: JoinHandle<()>,
    gateway: GatewayHandle,
    deadlines: Deadlines,
    stub: Option<StubHandle>,
    health: watch::Receiver<Vec<ChildHealth>>,
    cache_facts: watch::Receiver<CacheFacts>,
    user_group_facts: Option<watch::Receiver<UserGroupFacts>>,
    store_health: watch::Receiver<StoreHealth>,
    kept_stalks: KeptStalks,
    chat_connected: watch::Sender<bool>,
    stopping: Arc<AtomicBool>,
    admin: Option<AdminServer>,
    instance: Instance,
    /// This replica's coordination, with `[state] backend = "postgres"`.
    replica: Option<Replica>,
    /// The shared page audit's writer, with `[state] backend = "postgres"`.
    audit_writer: Option<AuditWriterTask>,
    /// Held until the bot has stopped and saved its state.
    lock: Option<StateLock>,
}

/// The admin server's task, while it runs.
struct AdminServer {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

/// Starts the bot: the state dir lock, the embedded stub when configured, the PagerDuty client, the state
/// store, the tree, the admin server. One short function per part, in start order.
pub async fn start(
    config: &Config,
    secrets: &Secrets,
    chat: Arc<dyn ChatOut>,
    names: ActorNames,
) -> anyhow::Result<Bot> {
    start_with_groups(config, secrets, chat, names, None).await
}

/// [`start`], with the chat's user groups for `[[user_groups]]` (Slack's; `None` on the console).
pub async fn start_with_groups(
    config: &Config,
    secrets: &Secrets,
    chat: Arc<dyn ChatOut>,
    names: ActorNames,
    groups_api: Option<Arc<dyn UserGroupsApi>>,
) -> anyhow::Result<Bot> {
    crate::crypto::install_crypto_provider();
    let instance = Instance::now();
    let lock = lock_state_dir(config, &instance)?;
    let admin_listener = bind_admin(config).await;
    let stub = start_stub(config).await?;
    let pagerduty = pagerduty_client(config, secrets, stub.as_ref())?;
    let (replica, coordination) = coordination(config, secrets)?;
    let (store, store_health) = state_store(config);
    let probe = status_probe(config, stub.as_ref())?;
    let deadlines = command_deadlines(config);
    let (cache_facts_tx, cache_facts) = watch::channel(CacheFacts::default());
    let (announcer, user_groups) = oncall_awareness(config, &chat, &store, groups_api);
    let user_group_facts = user_groups.as_ref().map(UserGroupSync::facts);
    let (health_tx, health) = watch::channel(Vec::new());
    // The stalking channels outlive the stalks actor: every restart of it gets this same handle.
    let kept_stalks = KeptStalks::new();
    // One restart policy for the root's children and the stalk actors.
    let policy = RestartPolicy::default();
    let (pager, audit_writer) =
        pager_args(config, &pagerduty, &store, &coordination, replica.as_ref());
    let page_audit_spooled = pager.audit.shared().map(|shared| shared.spooled());
    // Several replicas: the stalking set is shared, and only the leader stalks (polled as often as monitoring).
    let shared_stalks = SharedStalks::of(coordination.clone(), config.status.poll_interval);
    let context = command_context(config, &names, &chat, &pagerduty, deadlines, &pager, &store);
    let args = RootArgs {
        names: names.clone(),
        policy,
        schedule_cache: ScheduleCacheArgs {
            announcer,
            user_groups,
            ..cache_args(
                config,
                &pagerduty,
                &store,
                cache_facts_tx,
                coordination.clone(),
            )
        },
        pager,
        status: status_args(config, probe, kept_stalks.subscribers(&names)),
        stalks: StalksArgs {
            names: names.clone(),
            chat: chat.clone(),
            store: store.clone(),
            policy,
            kept: kept_stalks.clone(),
            shared: shared_stalks,
        },
        incidents: IncidentsArgs {
            pagerduty: pagerduty.clone(),
            chat: chat.clone(),
            store: store.clone(),
            poll_interval: config.incidents.poll_interval,
            coordination,
        },
        gateway: GatewayArgs { context },
        health: health_tx,
    };
    let (root, root_task) = Actor::spawn(Some(names.root()), RootActor, args)
        .await
        .map_err(|e| anyhow::anyhow!("cannot start the supervision tree: {e}"))?;
    let gateway = GatewayHandle::new(&names, InFlight::new(), chat.clone());
    // Console chat is connected from the start; a network adapter reports its connection here.
    let chat_connected = watch::channel(match config.chat.adapter {
        ChatAdapter::Console => true,
        ChatAdapter::Slack => false,
    })
    .0;
    let stopping = Arc::new(AtomicBool::new(false));
    let admin = match admin_listener {
        Some(listener) => {
            let sources = AdminSources {
                names: names.clone(),
                health: health.clone(),
                cache: cache_facts.clone(),
                user_groups: user_group_facts.clone(),
                store: store_health.clone(),
                stalks: kept_stalks.clone(),
                chat_connected: chat_connected.subscribe(),
                chaos: config.admin.chaos,
                metrics: admin::metrics::prometheus(),
                stopping: stopping.clone(),
                admin_token: secrets.admin_token.clone(),
                instance: instance.clone(),
                ha: replica.clone(),
                page_audit_spooled,
            };
            Some(start_admin(listener, sources, config.admin.chaos)?)
        }
        None => None,
    };
    tracing::info!(pid = instance.pid, instance = %instance.id, "icbot started");
    Ok(Bot {
        names,
        root,
        root_task,
        gateway,
        deadlines,
        stub,
        health,
        cache_facts,
        user_group_facts,
        store_health,
        kept_stalks,
        chat_connected,
        stopping,
        admin,
        instance,
        replica,
        audit_writer,
        lock,
    })
}

/// First of all: one bot per state dir. A second one would overwrite the first's state and double its pages;
/// it must not even take a port. A lock that cannot be taken for another reason is logged, not fatal.
fn lock_state_dir(config: &Config, instance: &Instance) -> anyhow::Result<Option<StateLock>> {
    match StateLock::acquire(&config.state.dir, instance) {
        Ok(lock) => Ok(Some(lock)),
        Err(e @ LockError::Held { .. }) => Err(e.into()),
        Err(e) => {
            tracing::error!(error = %e, "cannot lock the state dir; running without the lock");
            Ok(None)
        }
    }
}

/// The admin server's socket. A bot that answers chat matters more than its admin port: a taken port is
/// logged loudly (and shows as an unreachable /readyz), not a reason to stay down.
async fn bind_admin(config: &Config) -> Option<TcpListener> {
    let listen = config.admin.listen_addr()?;
    match TcpListener::bind(listen).await {
        Ok(listener) => Some(listener),
        Err(e) => {
            tracing::error!(error = %e, listen, "cannot start the admin server; running without it");
            None
        }
    }
}

/// The embedded PagerDuty and monitoring stub, when the config points at it.
async fn start_stub(config: &Config) -> anyhow::Result<Option<StubHandle>> {
    if !config.needs_stub() {
        return Ok(None);
    }
    let stub = StubServer::start(&config.stub.listen, StubData::demo(), Fault::None)
        .await
        .with_context(|| format!("cannot start the embedded stub on {}", config.stub.listen))?;
    tracing::info!(url = %stub.url(), "embedded PagerDuty and monitoring stub started with demo data");
    Ok(Some(stub))
}

/// The PagerDuty client: at the embedded stub with its demo token, or at `api_url` with `PAGERDUTY_TOKEN`.
fn pagerduty_client(
    config: &Config,
    secrets: &Secrets,
    stub: Option<&StubHandle>,
) -> anyhow::Result<Arc<dyn PagerDutyApi>> {
    let pd = &config.pagerduty;
    let (base_url, token) = match stub {
        Some(stub) if pd.is_embedded() => (stub.url(), SecretString::from(EMBEDDED_TOKEN)),
        _ => {
            let token = secrets
                .pagerduty_token
                .clone()
                .context("PAGERDUTY_TOKEN is not set")?;
            (pd.api_url.clone(), token)
        }
    };
    let client = PagerDutyClient::new(PagerDutyConfig {
        base_url,
        token,
        from_email: pd.from_email.clone(),
        service_id: pd.service_id.clone(),
        connect_timeout: pd.connect_timeout,
        request_timeout: pd.request_timeout,
        max_rate_limit_retries: pd.max_rate_limit_retries,
    })
    .map_err(|e| anyhow::anyhow!("cannot build the PagerDuty client: {e}"))?;
    Ok(Arc::new(client))
}

/// The state store. Every state write goes through one layer that counts and publishes failures (a full or
/// read-only dir).
fn state_store(config: &Config) -> (Arc<dyn StateStore>, watch::Receiver<StoreHealth>) {
    let watched = WatchedStore::new(open_state(config));
    let health = watched.health();
    (Arc::new(watched), health)
}

fn command_deadlines(config: &Config) -> Deadlines {
    Deadlines {
        lookup: config.pagerduty.lookup_deadline,
        page: config.pagerduty.page_deadline,
        // The status actor's answer, and the margin to post the reply.
        status: status::answered_within(config.status.check_timeout) + REPLY_MARGIN,
    }
}

/// The schedule cache's arguments; `facts` is where it publishes its snapshot's age and last refresh.
fn cache_args(
    config: &Config,
    pagerduty: &Arc<dyn PagerDutyApi>,
    store: &Arc<dyn StateStore>,
    facts: watch::Sender<CacheFacts>,
    coordination: Arc<dyn Coordination>,
) -> ScheduleCacheArgs {
    let pd = &config.pagerduty;
    ScheduleCacheArgs {
        pagerduty: pagerduty.clone(),
        store: store.clone(),
        incident_commanders: pd.ic_schedule_refs(),
        responders: pd.responder_schedule_refs(),
        refresh_interval: pd.refresh_interval,
        refresh_timeout: pd
            .refresh_interval
            .clamp(Duration::from_secs(5), Duration::from_secs(120)),
        contacts_ttl: CONTACTS_TTL,
        contact_concurrency: CONTACT_CONCURRENCY,
        facts,
        announcer: None,
        user_groups: None,
        coordination,
    }
}

/// What the cache does with each good refresh besides serving it: handoff announcements (`[[announce]]`) and
/// user groups (`[[user_groups]]`). Made once, for the bot's life: the cache's restarts share the announcer's
/// pending record and posting order, and the groups' lookups.
fn oncall_awareness(
    config: &Config,
    chat: &Arc<dyn ChatOut>,
    store: &Arc<dyn StateStore>,
    groups_api: Option<Arc<dyn UserGroupsApi>>,
) -> (Option<Announcer>, Option<UserGroupSync>) {
    let announce_rules = crate::config::announce::announce_rules(config);
    let announcer = (!announce_rules.is_empty()).then(|| {
        Announcer::new(
            chat.clone(),
            store.clone(),
            announce_rules,
            config.display.zone(),
        )
    });
    let group_rules = crate::config::announce::user_group_rules(config);
    let user_groups = match (groups_api, group_rules.is_empty()) {
        (_, true) => None,
        (Some(api), false) => Some(UserGroupSync::new(api, store.clone(), group_rules)),
        (None, false) => {
            tracing::warn!("[[user_groups]] needs the Slack adapter; the groups are not kept");
            None
        }
    };
    (announcer, user_groups)
}

/// This replica's coordination. Several replicas on PostgreSQL: the lease (and so the role) comes up in the
/// background, and the bot answers commands whether or not the database can be reached. Files: one replica,
/// always the leader, sharing nothing.
fn coordination(
    config: &Config,
    secrets: &Secrets,
) -> anyhow::Result<(Option<Replica>, Arc<dyn Coordination>)> {
    let replica = Replica::from_settings(
        config.state.backend,
        &config.ha,
        secrets.database_url.as_ref(),
    )
    .map_err(|e| anyhow::anyhow!("[state] backend = \"postgres\": {e}"))?;
    let coordination: Arc<dyn Coordination> = match &replica {
        Some(replica) => Arc::new(PostgresCoordination::new(replica.clone())),
        None => Arc::new(SingleReplica),
    };
    Ok((replica, coordination))
}

/// The pager's arguments. Made once: the pager and the commands share the audit log, and the recent pages
/// outlive the pager. With several replicas the audit log also feeds the shared audit, through a writer in
/// the background that spools locally while the database is unreachable (retrying every `renew_every`).
fn pager_args(
    config: &Config,
    pagerduty: &Arc<dyn PagerDutyApi>,
    store: &Arc<dyn StateStore>,
    coordination: &Arc<dyn Coordination>,
    replica: Option<&Replica>,
) -> (PagerArgs, Option<AuditWriterTask>) {
    let mut audit = AuditLog::new(store.clone(), config.pager.audit_max_bytes);
    let mut writer = None;
    if let Some(replica) = replica {
        let (shared, task) = SharedAudit::start(
            coordination.clone(),
            store.clone(),
            replica.timings().renew_every,
        );
        audit = audit.with_shared(shared);
        writer = Some(task);
    }
    let args = PagerArgs {
        pagerduty: pagerduty.clone(),
        audit: Arc::new(audit),
        recent: RecentPages::shared(config.pager.dedup_window),
        from_email: config.pagerduty.from_email.clone(),
        coordination: coordination.clone(),
    };
    (args, writer)
}

/// The status actor's arguments: its poll results go to `subscribers` (the stalks actor).
fn status_args(
    config: &Config,
    probe: Arc<dyn StatusProbe>,
    subscribers: Arc<dyn PollSubscribers>,
) -> StatusArgs {
    let poll_interval = config.status.poll_interval;
    StatusArgs {
        probe,
        poll_interval,
        check_timeout: config.status.check_timeout,
        // Polls must not reuse a check from the previous interval.
        fresh_for: STATUS_FRESH_FOR.min(poll_interval / 2),
        subscribers,
    }
}

/// What every command may use: access rules, chaos drills when on, and the pager's audit log.
fn command_context(
    config: &Config,
    names: &ActorNames,
    chat: &Arc<dyn ChatOut>,
    pagerduty: &Arc<dyn PagerDutyApi>,
    deadlines: Deadlines,
    pager: &PagerArgs,
    store: &Arc<dyn StateStore>,
) -> Arc<CommandContext> {
    let access = AccessPolicy {
        page_channels: config.access.page_channels.clone(),
        allow_dm: config.access.allow_dm,
        admins: config.access.admins.clone(),
        max_cover: config.access.max_cover,
    };
    let chaos = config.admin.chaos.then_some(root::crash as CrashFn);
    Arc::new(
        CommandContext::new(names.clone(), chat.clone(), pagerduty.clone(), deadlines)
            .with_access(access)
            .with_chaos(chaos)
            .with_display_zone(config.display.zone())
            .with_audit(pager.audit.clone())
            .with_incident_audit(Arc::new(IncidentAudit::new(
                store.clone(),
                config.pager.audit_max_bytes,
            ))),
    )
}

fn start_admin(
    listener: TcpListener,
    sources: AdminSources,
    chaos: bool,
) -> anyhow::Result<AdminServer> {
    let addr = listener
        .local_addr()
        .context("the admin listener has no address")?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(admin::serve(listener, sources, async move {
        let _ = stopped.await;
    }));
    if chaos {
        tracing::warn!(%addr, "admin server started with chaos controls ON: POST /actors/{{name}}/crash crashes actors");
    } else {
        tracing::info!(%addr, "admin server started");
    }
    Ok(AdminServer { addr, stop, task })
}

/// The `!status` probe: the embedded stub's Alertmanager API, or the configured Alertmanager or Statuspage.
fn status_probe(
    config: &Config,
    stub: Option<&StubHandle>,
) -> anyhow::Result<Arc<dyn StatusProbe>> {
    let st = &config.status;
    let mut settings = match st.source {
        StatusSource::Embedded => {
            let stub = stub.context("status.source = \"embedded\" needs the embedded stub")?;
            MonitoringSettings::alertmanager(stub.url())
        }
        StatusSource::Alertmanager => MonitoringSettings::alertmanager(st.url.clone()),
        StatusSource::Statuspage => MonitoringSettings::statuspage(st.url.clone()),
    };
    settings.timeout = st.check_timeout;
    settings.critical_severities = st.critical_severities.clone();
    settings.ignore_alerts = st.ignore_alerts.clone();
    let client = reqwest::Client::builder()
        .connect_timeout(settings.timeout)
        .build()
        .context("cannot build the monitoring HTTP client")?;
    Ok(monitoring::probe_from(&settings, client))
}

/// The state directory, or memory (logged loudly) when it cannot be used: the bot still answers.
fn open_state(config: &Config) -> Arc<dyn StateStore> {
    match FileStateStore::open(&config.state.dir) {
        Ok(store) => Arc::new(store),
        Err(e) => {
            tracing::error!(error = %e, dir = %config.state.dir.display(), "cannot use the state dir; state will not survive a restart");
            Arc::new(MemoryStateStore::new())
        }
    }
}

impl Bot {
    /// This bot: pid and start time, as the admin server answers them.
    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// Where chat adapters hand inbound messages.
    pub fn gateway(&self) -> &GatewayHandle {
        &self.gateway
    }

    pub fn names(&self) -> &ActorNames {
        &self.names
    }

    /// The embedded stub, when `api_url = "embedded"`.
    pub fn stub(&self) -> Option<&StubHandle> {
        self.stub.as_ref()
    }

    /// The root's children (running, restarts, last failure), as last published: never blocks.
    pub fn health(&self) -> watch::Receiver<Vec<ChildHealth>> {
        self.health.clone()
    }

    /// The on-call cache's facts (snapshot age, last refresh), as last published: never blocks.
    pub fn cache_facts(&self) -> watch::Receiver<CacheFacts> {
        self.cache_facts.clone()
    }

    /// Failed state writes (count, last failure, files behind), as last published: never blocks.
    /// The `[[user_groups]]` sync's facts, when groups are kept.
    pub fn user_group_facts(&self) -> Option<watch::Receiver<UserGroupFacts>> {
        self.user_group_facts.clone()
    }

    pub fn store_health(&self) -> watch::Receiver<StoreHealth> {
        self.store_health.clone()
    }

    /// The stalk actors that have failed (restarts, running, over budget), as the stalks actor publishes them.
    pub fn stalk_restarts(&self) -> watch::Receiver<BTreeMap<String, StalkRestarts>> {
        self.kept_stalks.restarts()
    }

    /// This replica's coordination (role, lease, database), with `[state] backend = "postgres"`.
    pub fn replica(&self) -> Option<&Replica> {
        self.replica.as_ref()
    }

    /// Where the admin server listens; `None` when `[admin] listen = ""` or its address could not be bound.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|a| a.addr)
    }

    /// Where the chat adapter says whether it is connected (`send_replace(true)` on connect, `false` on a
    /// disconnect); `/readyz` and `/actors` read it. Console chat starts connected.
    pub fn chat_connection(&self) -> watch::Sender<bool> {
        self.chat_connected.clone()
    }

    /// Marks the bot not ready, waits for the replies in flight (at most the longest command deadline and a
    /// second), then stops the tree, the admin server and the embedded stub.
    pub async fn shutdown(self) {
        self.stopping.store(true, Ordering::Relaxed);
        let drain = self.deadlines.longest() + Duration::from_secs(1);
        if !self.gateway.drain(drain).await {
            tracing::warn!("shutting down with replies still in flight");
        }
        self.root.stop(Some("shutdown".into()));
        let _ = self.root_task.await;
        if let Some(admin) = self.admin {
            let _ = admin.stop.send(());
            match tokio::time::timeout(Duration::from_secs(5), admin.task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => tracing::warn!(error = %e, "admin server failed"),
                Ok(Err(e)) => tracing::warn!(error = %e, "admin server task failed"),
                Err(_) => tracing::warn!("admin server still busy after 5 s; left behind"),
            }
        }
        if let Some(stub) = self.stub {
            stub.shutdown().await;
        }
        // The page audit records still queued: to the database, or to the spool for the next start.
        if let Some(writer) = self.audit_writer {
            writer.finish(AUDIT_WRITER_FINISH).await;
        }
        // Hand the lease over at once rather than let it lapse.
        if let Some(replica) = &self.replica {
            replica.release().await;
        }
        // Last: the state is saved; another bot may have the state dir now.
        drop(self.lock);
        tracing::info!("icbot stopped");
    }
}
