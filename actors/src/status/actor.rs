//! The status actor: the only thing that talks to monitoring.
//!
//! It owns the [`StatusProbe`] and the last check. `!status` asks it for a [`StatusCheck`]
//! ([`StatusMessage::Check`]); a timer asks it to [`StatusMessage::Poll`] every `poll_interval`, and each poll
//! result is handed to its [`PollSubscribers`] (wired by the root: the stalks actor, which hands it on to
//! every stalk actor), so one probe per interval serves every stalking channel. No stalk, no poll.
//!
//! The probe never runs inside the actor: it runs in a task, bounded by `check_timeout`, and its result comes
//! back as [`StatusMessage::ProbeDone`]. Checks arriving meanwhile wait for that same probe.
//!
//! Supervised by the root; registered as [`ActorNames::status`]. Talks to: the probe, the [`PollSubscribers`]
//! (a port, so this module knows nothing of the stalks, which ask it for checks).
//!
//! [`ActorNames::status`]: crate::supervision::names::ActorNames::status

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::deadline::REPLY_MARGIN;
use crate::metric_names;
use crate::ports::StatusProbe;
use crate::status::system_state::{ProbeError, StatusCheck, SystemState};

/// How long a [`StatusMessage::Check`] may take to be answered: the probe's `check_timeout`, and
/// [`REPLY_MARGIN`] to hand the answer back.
pub fn answered_within(check_timeout: Duration) -> Duration {
    check_timeout + REPLY_MARGIN
}

/// The shortest poll interval accepted; a shorter (or zero) one is raised to it.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Who hears the poll results: the stalks actor, wired by the root. The status actor never waits on them.
pub trait PollSubscribers: Send + Sync {
    /// Whether anyone listens now: no stalk, no poll.
    fn listening(&self) -> bool;
    /// Hands one poll result over.
    fn publish(&self, check: StatusCheck);
}

/// Nobody listens: a status actor that only answers `!status`.
pub struct NoSubscribers;

impl PollSubscribers for NoSubscribers {
    fn listening(&self) -> bool {
        false
    }

    fn publish(&self, _check: StatusCheck) {}
}

pub struct StatusActor;

#[derive(Clone)]
pub struct StatusArgs {
    pub probe: Arc<dyn StatusProbe>,
    pub poll_interval: Duration,
    pub check_timeout: Duration,
    /// A `Check` within this age of the last check gets that check instead of a new probe.
    pub fresh_for: Duration,
    /// Where each poll result goes.
    pub subscribers: Arc<dyn PollSubscribers>,
}

pub enum StatusMessage {
    /// `!status`: the last check if younger than `fresh_for`, else a new one. Answered within
    /// `check_timeout` (plus scheduling), whatever monitoring does.
    Check(RpcReplyPort<StatusCheck>),
    /// Timer tick: probe (or reuse a fresh check) and publish to every subscriber. Skipped with no subscriber.
    Poll,
    /// The last check made, if any, without probing: for operators.
    LastCheck(RpcReplyPort<Option<StatusCheck>>),
    /// Chaos: fail the actor, for supervision tests and drills.
    Crash,
    /// Internal: the probe in flight finished.
    ProbeDone(SystemState),
}

/// The probe in flight and who waits for it.
#[derive(Default)]
struct InFlight {
    waiters: Vec<RpcReplyPort<StatusCheck>>,
    publish: bool,
}

pub struct StatusState {
    probe: Arc<dyn StatusProbe>,
    check_timeout: Duration,
    fresh_for: Duration,
    subscribers: Arc<dyn PollSubscribers>,
    last: Option<(StatusCheck, Instant)>,
    in_flight: Option<InFlight>,
    timer: JoinHandle<()>,
}

impl Actor for StatusActor {
    type Msg = StatusMessage;
    type State = StatusState;
    type Arguments = StatusArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<StatusMessage>,
        args: StatusArgs,
    ) -> Result<StatusState, ActorProcessingErr> {
        let poll_interval = args.poll_interval.max(MIN_POLL_INTERVAL);
        if poll_interval != args.poll_interval {
            tracing::warn!(
                configured = ?args.poll_interval,
                used = ?poll_interval,
                "status poll interval too short"
            );
        }
        let timer = myself.send_interval(poll_interval, || StatusMessage::Poll);
        Ok(StatusState {
            probe: args.probe,
            check_timeout: args.check_timeout,
            fresh_for: args.fresh_for,
            subscribers: args.subscribers,
            last: None,
            in_flight: None,
            timer,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<StatusMessage>,
        state: &mut StatusState,
    ) -> Result<(), ActorProcessingErr> {
        state.timer.abort();
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<StatusMessage>,
        message: StatusMessage,
        state: &mut StatusState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            StatusMessage::Check(reply) => state.check(&myself, reply),
            StatusMessage::Poll => state.poll(&myself),
            StatusMessage::ProbeDone(result) => state.probe_done(result),
            StatusMessage::LastCheck(reply) => {
                let _ = reply.send(state.last.as_ref().map(|(check, _)| check.clone()));
            }
            StatusMessage::Crash => return Err("status actor crash requested (chaos)".into()),
        }
        Ok(())
    }
}

impl StatusState {
    fn check(&mut self, myself: &ActorRef<StatusMessage>, reply: RpcReplyPort<StatusCheck>) {
        if let Some(fresh) = self.fresh() {
            let _ = reply.send(fresh);
            return;
        }
        self.probing(myself).waiters.push(reply);
    }

    fn poll(&mut self, myself: &ActorRef<StatusMessage>) {
        if !self.subscribers.listening() {
            return;
        }
        match self.fresh() {
            Some(fresh) => self.publish(&fresh),
            None => self.probing(myself).publish = true,
        }
    }

    fn probe_done(&mut self, state: SystemState) {
        if let SystemState::Unknown(e) = &state {
            tracing::warn!(error = %e, "status check failed");
        }
        metrics::counter!(
            metric_names::STATUS_CHECKS_TOTAL,
            "result" => metric_names::check_result(&state)
        )
        .increment(1);
        let check = StatusCheck {
            state,
            checked_at: SystemTime::now(),
        };
        self.last = Some((check.clone(), Instant::now()));
        let Some(done) = self.in_flight.take() else {
            return;
        };
        for waiter in done.waiters {
            let _ = waiter.send(check.clone());
        }
        if done.publish {
            self.publish(&check);
        }
    }

    /// The last check, if it succeeded and is young enough to reuse. A failed check is never reused: the next
    /// asker may be the first to see monitoring back.
    fn fresh(&self) -> Option<StatusCheck> {
        self.last
            .as_ref()
            .filter(|(check, _)| matches!(check.state, SystemState::Known(_)))
            .filter(|(_, at)| at.elapsed() < self.fresh_for)
            .map(|(check, _)| check.clone())
    }

    /// The probe in flight, starting one if none is.
    fn probing(&mut self, myself: &ActorRef<StatusMessage>) -> &mut InFlight {
        if self.in_flight.is_none() {
            spawn_probe(self.probe.clone(), self.check_timeout, myself.clone());
        }
        self.in_flight.get_or_insert_with(InFlight::default)
    }

    fn publish(&self, check: &StatusCheck) {
        self.subscribers.publish(check.clone());
    }
}

/// Runs one probe in its own task, bounded by `timeout`, and sends the result back. A panicking probe is a
/// failed check, not a lost answer.
fn spawn_probe(probe: Arc<dyn StatusProbe>, timeout: Duration, back: ActorRef<StatusMessage>) {
    tokio::spawn(async move {
        let run = tokio::spawn(async move { tokio::time::timeout(timeout, probe.check()).await });
        let state = match run.await {
            Ok(Ok(result)) => SystemState::from(result),
            Ok(Err(_elapsed)) => SystemState::Unknown(ProbeError::Timeout),
            Err(e) => SystemState::Unknown(ProbeError::Transport(format!("probe failed: {e}"))),
        };
        if back.send_message(StatusMessage::ProbeDone(state)).is_err() {
            tracing::debug!("status actor gone before its probe finished");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{healthy, report, FakeProbe};
    use crate::status::format::status_reply;
    use crate::status::system_state::{Level, StatusReport};
    use crate::supervision::names::ActorNames;

    const POLL: Duration = Duration::from_secs(30);
    const TIMEOUT: Duration = Duration::from_secs(5);

    async fn start(prefix: &str, probe: Arc<FakeProbe>) -> ActorRef<StatusMessage> {
        start_with(prefix, probe, Arc::new(NoSubscribers)).await
    }

    async fn start_with(
        prefix: &str,
        probe: Arc<FakeProbe>,
        subscribers: Arc<dyn PollSubscribers>,
    ) -> ActorRef<StatusMessage> {
        let names = ActorNames::with_prefix(prefix);
        let (actor, _) = Actor::spawn(
            Some(names.status()),
            StatusActor,
            StatusArgs {
                probe,
                poll_interval: POLL,
                check_timeout: TIMEOUT,
                fresh_for: Duration::from_secs(5),
                subscribers,
            },
        )
        .await
        .expect("status actor starts");
        actor
    }

    async fn check(actor: &ActorRef<StatusMessage>) -> StatusCheck {
        ractor::call_t!(actor, StatusMessage::Check, 7_000).expect("status answers")
    }

    #[tokio::test(start_paused = true)]
    async fn status_maps_the_probe_report() {
        let probe = FakeProbe::new(Ok(StatusReport {
            level: Level::Critical,
            summary: "1 critical: ApiDown".into(),
            firing: vec![],
        }));
        let actor = start("status-map/", probe.clone()).await;
        let got = check(&actor).await;
        assert_eq!(
            status_reply(&got).plain().lines().next(),
            Some("CRITICAL: 1 critical: ApiDown")
        );
        actor.stop(None);
    }

    #[tokio::test(start_paused = true)]
    async fn last_check_never_probes() {
        let probe = FakeProbe::new(healthy());
        let actor = start("status-last/", probe.clone()).await;
        let none = ractor::call_t!(actor, StatusMessage::LastCheck, 1_000).expect("answers");
        assert_eq!(none, None);
        assert_eq!(probe.calls(), 0);
        let made = check(&actor).await;
        let last = ractor::call_t!(actor, StatusMessage::LastCheck, 1_000).expect("answers");
        assert_eq!(last, Some(made));
        assert_eq!(probe.calls(), 1);
        actor.stop(None);
    }

    #[tokio::test(start_paused = true)]
    async fn each_probe_error_is_an_unable_to_check_alert() {
        let probe = FakeProbe::new(Err(ProbeError::Status(500)));
        let actor = start("status-errors/", probe.clone()).await;
        for e in [
            ProbeError::Status(500),
            ProbeError::Transport("connection refused".into()),
            ProbeError::Malformed("expected value at line 1".into()),
        ] {
            probe.set(Err(e.clone()));
            tokio::time::sleep(Duration::from_secs(6)).await; // past fresh_for
            let got = check(&actor).await;
            assert_eq!(got.state, SystemState::Unknown(e.clone()));
            let reply = status_reply(&got);
            assert!(reply.alert);
            assert!(reply
                .plain()
                .starts_with(&format!("UNABLE TO CHECK STATUS: {e}")));
        }
        actor.stop(None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_probe_is_a_timeout_within_check_timeout() {
        let probe = FakeProbe::new(healthy());
        probe.hang();
        let actor = start("status-hang/", probe.clone()).await;
        let started = Instant::now();
        let got = check(&actor).await;
        assert_eq!(got.state, SystemState::Unknown(ProbeError::Timeout));
        assert!(started.elapsed() <= answered_within(TIMEOUT));
        actor.stop(None);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_checks_share_one_probe_and_fresh_results_are_reused() {
        let probe = FakeProbe::new(healthy());
        probe.set_delay(Duration::from_secs(2));
        let actor = start("status-share/", probe.clone()).await;
        let checks: Vec<_> = (0..20)
            .map(|_| {
                let actor = actor.clone();
                tokio::spawn(async move { check(&actor).await })
            })
            .collect();
        for c in checks {
            let got = c.await.expect("check task");
            assert!(matches!(got.state, SystemState::Known(_)));
        }
        assert_eq!(probe.calls(), 1);
        check(&actor).await; // within fresh_for
        assert_eq!(probe.calls(), 1);
        tokio::time::sleep(Duration::from_secs(6)).await;
        check(&actor).await;
        assert_eq!(probe.calls(), 2);
        actor.stop(None);
    }

    #[tokio::test(start_paused = true)]
    async fn no_subscriber_no_poll() {
        let probe = FakeProbe::new(healthy());
        let actor = start("status-idle/", probe.clone()).await;
        tokio::time::sleep(POLL * 5).await;
        assert_eq!(probe.calls(), 0);
        actor.stop(None);
    }

    /// Subscribers as a test sets them: listening or not, each result handed over into a channel.
    struct Listeners {
        listening: std::sync::atomic::AtomicBool,
        results: tokio::sync::mpsc::UnboundedSender<StatusCheck>,
    }

    impl PollSubscribers for Listeners {
        fn listening(&self) -> bool {
            self.listening.load(std::sync::atomic::Ordering::SeqCst)
        }

        fn publish(&self, check: StatusCheck) {
            let _ = self.results.send(check);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn polls_only_while_subscribers_listen_and_hands_them_each_result() {
        let probe = FakeProbe::new(healthy());
        let (results, mut published) = tokio::sync::mpsc::unbounded_channel();
        let listeners = Arc::new(Listeners {
            listening: false.into(),
            results,
        });
        let actor = start_with("status-subscribers/", probe.clone(), listeners.clone()).await;
        tokio::time::sleep(POLL * 3 + POLL / 2).await;
        assert_eq!(probe.calls(), 0, "nobody listens: no poll");
        assert!(published.try_recv().is_err());

        listeners
            .listening
            .store(true, std::sync::atomic::Ordering::SeqCst);
        probe.set(report(Level::Critical));
        let got = published.recv().await.expect("a poll result handed over");
        assert!(
            matches!(&got.state, SystemState::Known(r) if r.level == Level::Critical),
            "{got:?}"
        );
        assert_eq!(probe.calls(), 1, "one probe per interval");
        published.recv().await.expect("and the next interval's");
        assert_eq!(probe.calls(), 2);

        listeners
            .listening
            .store(false, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(POLL * 3).await;
        assert_eq!(probe.calls(), 2, "nobody listens again: no poll");
        actor.stop(None);
    }

    #[tokio::test(start_paused = true)]
    async fn crash_fails_the_actor() {
        let probe = FakeProbe::new(healthy());
        let names = ActorNames::with_prefix("status-crash/");
        let (actor, handle) = Actor::spawn(
            Some(names.status()),
            StatusActor,
            StatusArgs {
                probe,
                poll_interval: POLL,
                check_timeout: TIMEOUT,
                fresh_for: Duration::from_secs(5),
                subscribers: Arc::new(NoSubscribers),
            },
        )
        .await
        .expect("status actor starts");
        actor.send_message(StatusMessage::Crash).expect("send");
        handle.await.expect("actor task ends");
        assert!(ractor::registry::where_is(names.status()).is_none());
    }
}
