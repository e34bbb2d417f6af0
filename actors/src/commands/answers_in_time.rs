//! Tests: every command's reply is posted within its configured deadline, whatever the fakes do (PagerDuty
//! hanging, monitoring hanging, a chat that never says who a mention is). A small tree of the real actors
//! (cache, pager, status, gateway) over the fakes, in tokio's paused time; the clock starts when the message is
//! handed to the gateway and stops when the reply reaches the chat. The fake chat posts at once, so every
//! reply must reach it [`REPLY_MARGIN`] before the deadline: that margin is the real chat's to post in.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::cache::oncall::ScheduleRef;
use crate::cache::schedule_cache::{CacheFacts, ScheduleCacheActor, ScheduleCacheArgs};
use crate::chat::{ChatTarget, InboundMessage};
use crate::commands::gateway::{GatewayActor, GatewayArgs, GatewayHandle};
use crate::commands::in_flight::InFlight;
use crate::commands::run::{CommandContext, Deadlines};
use crate::deadline::REPLY_MARGIN;
use crate::fakes::{healthy, FakeMode, FakePagerDuty, FakeProbe, RecordingChat};
use crate::pager::actor::{PagerActor, PagerArgs, PagerMessage};
use crate::pager::audit::{AuditLog, DEFAULT_MAX_BYTES};
use crate::pager::dedup::RecentPages;
use crate::pager::page::PageOutcome;
use crate::ports::{ChatError, ChatOut};
use crate::reply::Reply;
use crate::state_store::MemoryStateStore;
use crate::status::actor::{answered_within, NoSubscribers, StatusActor, StatusArgs};
use crate::supervision::names::ActorNames;

const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

fn deadlines() -> Deadlines {
    Deadlines {
        lookup: Duration::from_secs(5),
        page: Duration::from_secs(10),
        status: answered_within(CHECK_TIMEOUT) + REPLY_MARGIN,
    }
}

/// Records posts like [`RecordingChat`]; asked who a mention is, never answers.
struct MuteDirectory(Arc<RecordingChat>);

#[async_trait]
impl ChatOut for MuteDirectory {
    async fn post(&self, to: &ChatTarget, reply: &Reply) -> Result<(), ChatError> {
        self.0.post(to, reply).await
    }

    async fn email_of(&self, _chat_user: &str) -> Result<Option<String>, ChatError> {
        std::future::pending().await
    }
}

/// A pager that takes every page and never answers, as a wedged one would.
struct WedgedPager;

impl Actor for WedgedPager {
    type Msg = PagerMessage;
    type State = Vec<RpcReplyPort<PageOutcome>>;
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<PagerMessage>,
        _args: (),
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(Vec::new())
    }

    async fn handle(
        &self,
        _myself: ActorRef<PagerMessage>,
        message: PagerMessage,
        held: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let PagerMessage::Page(_, _, reply) = message {
            held.push(reply);
        }
        Ok(())
    }
}

/// What differs from a healthy tree.
#[derive(Default)]
struct Setup {
    /// The chat never says who a mention is.
    mute_directory: bool,
    /// PagerDuty hangs from the start, so the cache never gets a snapshot.
    hangs_from_start: bool,
    /// The pager takes pages and never answers.
    wedged_pager: bool,
    /// The page deadline, when not [`deadlines`]'s.
    page_deadline: Option<Duration>,
}

/// The longest a reply may take to reach the fake chat: the deadline less the margin to post in.
fn in_time(deadline: Duration) -> Duration {
    deadline - REPLY_MARGIN
}

struct Bot {
    handle: GatewayHandle,
    chat: Arc<RecordingChat>,
    pd: Arc<FakePagerDuty>,
    probe: Arc<FakeProbe>,
    actors: Vec<ractor::ActorCell>,
    said: usize,
}

impl Bot {
    /// The tree under `prefix`, as `setup` says. Waits for the cache's first snapshot unless PagerDuty hangs
    /// from the start.
    async fn start(prefix: &str, setup: Setup) -> Bot {
        let hangs = setup.hangs_from_start;
        let names = ActorNames::with_prefix(prefix);
        let pd = Arc::new(FakePagerDuty::demo());
        if hangs {
            pd.set_mode(FakeMode::Hangs);
        }
        let probe = FakeProbe::new(healthy());
        let store = Arc::new(MemoryStateStore::new());
        let recording = RecordingChat::new();
        let chat: Arc<dyn ChatOut> = if setup.mute_directory {
            Arc::new(MuteDirectory(recording.clone()))
        } else {
            recording.clone()
        };
        let (cache, _) = Actor::spawn(
            Some(names.schedule_cache()),
            ScheduleCacheActor,
            ScheduleCacheArgs {
                pagerduty: pd.clone(),
                store: store.clone(),
                incident_commanders: vec![ScheduleRef {
                    id: "P".into(),
                    label: "Primary".into(),
                }],
                responders: vec![ScheduleRef {
                    id: "S".into(),
                    label: "Shadow".into(),
                }],
                refresh_interval: Duration::from_secs(60),
                refresh_timeout: Duration::from_secs(600),
                contacts_ttl: Duration::from_secs(3600),
                contact_concurrency: 4,
                facts: watch::channel(CacheFacts::default()).0,
                announcer: None,
                user_groups: None,
                coordination: Arc::new(crate::ports::SingleReplica),
            },
        )
        .await
        .expect("cache starts");
        if !hangs {
            ractor::call_t!(
                cache,
                crate::cache::schedule_cache::ScheduleCacheMessage::Get,
                5_000
            )
            .expect("first snapshot");
        }
        let audit = Arc::new(AuditLog::new(store, DEFAULT_MAX_BYTES));
        let pager = if setup.wedged_pager {
            Actor::spawn(Some(names.pager()), WedgedPager, ())
                .await
                .expect("pager starts")
                .0
        } else {
            let args = PagerArgs {
                pagerduty: pd.clone(),
                audit: audit.clone(),
                recent: RecentPages::shared(Duration::from_secs(120)),
                from_email: "icbot@example.com".into(),
                coordination: Arc::new(crate::ports::SingleReplica),
            };
            Actor::spawn(Some(names.pager()), PagerActor, args)
                .await
                .expect("pager starts")
                .0
        };
        let (status, _) = Actor::spawn(
            Some(names.status()),
            StatusActor,
            StatusArgs {
                probe: probe.clone(),
                poll_interval: Duration::from_secs(30),
                check_timeout: CHECK_TIMEOUT,
                fresh_for: Duration::ZERO,
                subscribers: Arc::new(NoSubscribers),
            },
        )
        .await
        .expect("status starts");
        let context = Arc::new(
            CommandContext::new(
                names.clone(),
                chat.clone(),
                pd.clone(),
                Deadlines {
                    page: setup.page_deadline.unwrap_or(deadlines().page),
                    ..deadlines()
                },
            )
            .with_audit(audit),
        );
        let (gateway, _) =
            Actor::spawn(Some(names.gateway()), GatewayActor, GatewayArgs { context })
                .await
                .expect("gateway starts");
        let handle = GatewayHandle::new(&names, InFlight::new(), chat);
        Bot {
            handle,
            chat: recording,
            pd,
            probe,
            actors: vec![
                cache.get_cell(),
                pager.get_cell(),
                status.get_cell(),
                gateway.get_cell(),
            ],
            said: 0,
        }
    }

    /// Says `text` in `ops`; the reply and how long it took to reach the chat.
    async fn say(&mut self, text: &str) -> (String, Duration) {
        let started = Instant::now();
        self.handle.deliver(InboundMessage {
            reply_to: ChatTarget::channel("ops"),
            user: "dana".into(),
            text: text.into(),
            direct: false,
        });
        self.said += 1;
        let posts = self.chat.wait_for("ops", self.said).await;
        (posts[self.said - 1].clone(), started.elapsed())
    }

    fn stop(self) {
        for actor in self.actors {
            actor.stop(None);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_page_with_pagerduty_hanging_is_answered_before_the_page_deadline() {
    let mut bot = Bot::start("in-time-page/", Setup::default()).await;
    bot.pd.set_mode(FakeMode::Hangs);
    let (reply, took) = bot.say("!ic page db down").await;
    assert!(took <= in_time(deadlines().page), "took {took:?}");
    // PagerDuty had what was left, not a share: it was cut off only for the answer to travel back.
    assert!(took >= deadlines().page - 2 * REPLY_MARGIN, "took {took:?}");
    assert!(reply.contains("PAGE NOT CONFIRMED"), "{reply}");
    assert!(reply.contains("+1 5550101"), "{reply}");
    bot.stop();
}

#[tokio::test(start_paused = true)]
async fn a_page_naming_someone_pagerduty_cannot_search_for_is_answered_in_time() {
    let mut bot = Bot::start("in-time-page-search/", Setup::default()).await;
    bot.pd.set_mode(FakeMode::Hangs);
    let (reply, took) = bot.say("!ic page @ivan.petrov@example.com db down").await;
    assert!(took <= in_time(deadlines().page), "took {took:?}");
    assert!(reply.contains("searching PagerDuty failed"), "{reply}");
    assert!(bot.pd.incidents.lock().unwrap().is_empty(), "nobody paged");
    bot.stop();
}

#[tokio::test(start_paused = true)]
async fn a_page_naming_a_mention_the_chat_never_resolves_is_answered_in_time() {
    let mut bot = Bot::start(
        "in-time-page-mention/",
        Setup {
            mute_directory: true,
            ..Setup::default()
        },
    )
    .await;
    let (reply, took) = bot.say("!ic page <@U1> db down").await;
    assert!(took <= in_time(deadlines().page), "took {took:?}");
    assert!(reply.contains("timed out"), "{reply}");
    assert!(bot.pd.incidents.lock().unwrap().is_empty(), "nobody paged");
    bot.stop();
}

#[tokio::test(start_paused = true)]
async fn ic_with_pagerduty_hanging_answers_from_the_cache_in_time() {
    let mut bot = Bot::start("in-time-ic/", Setup::default()).await;
    bot.pd.set_mode(FakeMode::Hangs);
    let (reply, took) = bot.say("!ic").await;
    assert!(took <= in_time(deadlines().lookup), "took {took:?}");
    assert!(reply.contains("Alice Smith"), "{reply}");
    bot.stop();
}

#[tokio::test(start_paused = true)]
async fn ic_before_any_snapshot_with_pagerduty_hanging_is_answered_in_time() {
    let mut bot = Bot::start(
        "in-time-ic-cold/",
        Setup {
            hangs_from_start: true,
            ..Setup::default()
        },
    )
    .await;
    let (reply, took) = bot.say("!ic").await;
    assert!(took <= in_time(deadlines().lookup), "took {took:?}");
    assert!(reply.starts_with('⚠'), "{reply}");
    bot.stop();
}

#[tokio::test(start_paused = true)]
async fn ic_who_with_the_search_hanging_is_answered_in_time() {
    let mut bot = Bot::start("in-time-who/", Setup::default()).await;
    bot.pd.set_mode(FakeMode::Hangs);
    let (known, took) = bot.say("!ic who alice").await;
    assert!(took <= in_time(deadlines().lookup), "took {took:?}");
    assert!(known.contains("Alice Smith"), "{known}");
    let (unknown, took) = bot.say("!ic who Ivan Petrov").await;
    assert!(took <= in_time(deadlines().lookup), "took {took:?}");
    assert!(unknown.contains("searching PagerDuty failed"), "{unknown}");
    bot.stop();
}

#[tokio::test(start_paused = true)]
async fn status_with_monitoring_hanging_is_answered_in_time() {
    let mut bot = Bot::start("in-time-status/", Setup::default()).await;
    bot.probe.hang();
    let (reply, took) = bot.say("!status").await;
    assert!(took <= in_time(deadlines().status), "took {took:?}");
    assert!(reply.contains("UNABLE TO CHECK STATUS"), "{reply}");
    bot.stop();
}

#[tokio::test(start_paused = true)]
async fn a_page_the_pager_never_answers_is_answered_in_time_with_the_phones() {
    let mut bot = Bot::start(
        "in-time-wedged-pager/",
        Setup {
            wedged_pager: true,
            ..Setup::default()
        },
    )
    .await;
    let (reply, took) = bot.say("!ic page db down").await;
    assert!(took <= in_time(deadlines().page), "took {took:?}");
    assert!(reply.contains("PAGE NOT CONFIRMED"), "{reply}");
    assert!(reply.contains("+1 5550101"), "{reply}");
    bot.stop();
}

/// In real time too, where the pager's ask and the command's backstop end at the same instant: the ask's
/// answer (the phones to call) is the reply, not the backstop's bare "did not finish in time". (The ask is
/// bounded by the deadline's instant so that this holds; with a duration from "now" it held only when both
/// timers fell in the same millisecond, which this test does not force.)
#[tokio::test]
async fn in_real_time_a_page_the_pager_never_answers_still_gives_the_phones() {
    let page = Duration::from_millis(800);
    let mut bot = Bot::start(
        "in-time-wedged-pager-real/",
        Setup {
            wedged_pager: true,
            page_deadline: Some(page),
            ..Setup::default()
        },
    )
    .await;
    let (reply, took) = bot.say("!ic page db down").await;
    assert!(took <= page, "took {took:?}");
    assert!(reply.contains("PAGE NOT CONFIRMED"), "{reply}");
    assert!(reply.contains("+1 5550101"), "{reply}");
    bot.stop();
}
