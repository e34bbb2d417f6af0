//! `!ic cover <schedule> [duration]` and `!ic cover <schedule> cancel`: the caller on call in a configured
//! schedule now, as a PagerDuty schedule override, and its removal.
//!
//! The caller must be a PagerDuty user, matched by their chat email (the on-call snapshot's people first,
//! else PagerDuty's user search, exact email only): nobody is put on call on a guess. The create is sent once:
//! one without an answer is reported "not confirmed", never re-sent. The overrides made are kept in memory
//! ([`CoverBook`]) for `cancel`; one made before a restart is found in PagerDuty's list of the schedule's
//! overrides. The command runner refreshes the on-call cache after a change, so `!ic` shows
//! it at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::cache::oncall::{OnCallSnapshot, Person, ScheduleRef, UserId};
use crate::deadline::Deadline;
use crate::local_time::ReaderZone;
use crate::ports::{ChatOut, PagerDutyApi, PagerDutyError, ScheduleOverride};
use crate::reply::Reply;
use crate::truncate::truncate;

/// The overrides this bot made, by schedule id and PagerDuty user: what `cancel` removes. Lost on restart
/// (then `cancel` asks PagerDuty).
#[derive(Debug, Default)]
pub struct CoverBook(Mutex<HashMap<(String, UserId), ScheduleOverride>>);

impl CoverBook {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<(String, UserId), ScheduleOverride>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the cover commands use, lent by the command runner.
pub struct CoverContext<'a> {
    pub pagerduty: &'a dyn PagerDutyApi,
    pub chat: &'a dyn ChatOut,
    /// Who is who: the caller is looked up here by email before PagerDuty is asked.
    pub snapshot: Option<Arc<OnCallSnapshot>>,
    /// The configured schedules, IC and responders: the labels a cover may name.
    pub schedules: Vec<ScheduleRef>,
    pub book: &'a CoverBook,
    /// The zone the caller reads times in.
    pub zone: ReaderZone,
    /// `[access] max_cover`.
    pub max_cover: Duration,
}

/// A cover command's reply, and whether who is on call changed (then the cache is refreshed).
pub struct Covered {
    pub reply: Reply,
    pub changed: bool,
}

impl Covered {
    fn refused(reply: Reply) -> Self {
        Covered {
            reply,
            changed: false,
        }
    }
}

/// `!ic cover <schedule> [duration]`.
pub async fn cover(
    ctx: &CoverContext<'_>,
    chat_user: &str,
    label: &str,
    length: Duration,
    deadline: Deadline,
) -> Covered {
    let schedule = match schedule(ctx, label) {
        Ok(s) => s,
        Err(reply) => return Covered::refused(reply),
    };
    if length > ctx.max_cover {
        return Covered::refused(Reply::text(format!(
            "A cover may last at most {} ([access] max_cover); nobody was put on call.",
            humantime::format_duration(ctx.max_cover)
        )));
    }
    let person = match caller(ctx, chat_user, deadline).await {
        Ok(p) => p,
        Err(reply) => return Covered::refused(reply),
    };
    let start = SystemTime::now();
    let end = start + length;
    let created = flatten(
        deadline
            .timeout(
                ctx.pagerduty
                    .create_override(&schedule.id, &person.id, start, end),
            )
            .await,
    );
    match created {
        Ok(made) => {
            tracing::info!(schedule = %schedule.id, user = %person.id, override_id = %made.id, "cover made");
            let now = SystemTime::now();
            let reply = Reply::text(format!(
                "{} covers {} from {} until {} (PagerDuty override {}; `!ic cover {} cancel` removes it).",
                person.name,
                schedule.label,
                ctx.zone.when(made.start, now),
                ctx.zone.when(made.end, now),
                made.id,
                schedule.label,
            ));
            ctx.book
                .entries()
                .insert((schedule.id.clone(), person.id.clone()), made);
            Covered {
                reply,
                changed: true,
            }
        }
        Err(e) if e.outcome_unknown() => {
            tracing::warn!(schedule = %schedule.id, user = %person.id, error = %e, "cover not confirmed");
            Covered {
                reply: Reply::text(format!(
                    "⚠ The cover of {} by {} is not confirmed: {e}. It was sent once and not again; check the schedule in PagerDuty before trying again.",
                    schedule.label, person.name
                ))
                .alerting(),
                changed: true,
            }
        }
        Err(e) => {
            tracing::warn!(schedule = %schedule.id, user = %person.id, error = %e, "cover refused");
            Covered::refused(
                Reply::text(format!(
                    "⚠ Cannot cover {}: {e}. Nobody was put on call; use PagerDuty directly.",
                    schedule.label
                ))
                .alerting(),
            )
        }
    }
}

/// `!ic cover <schedule> cancel`: removes the caller's cover there that this bot made.
pub async fn cancel(
    ctx: &CoverContext<'_>,
    chat_user: &str,
    label: &str,
    deadline: Deadline,
) -> Covered {
    let schedule = match schedule(ctx, label) {
        Ok(s) => s,
        Err(reply) => return Covered::refused(reply),
    };
    let person = match caller(ctx, chat_user, deadline).await {
        Ok(p) => p,
        Err(reply) => return Covered::refused(reply),
    };
    let key = (schedule.id.clone(), person.id.clone());
    let now = SystemTime::now();
    let made = {
        let mut book = ctx.book.entries();
        book.retain(|_, o| o.end > now);
        book.get(&key).cloned()
    };
    let made = match made {
        Some(made) => made,
        // Not made since this start: PagerDuty's list of the overrides in force says.
        None => match flatten(
            deadline
                .timeout(ctx.pagerduty.overrides(&schedule.id, now, now + ctx.max_cover))
                .await,
        ) {
            Ok(listed) => match listed
                .into_iter()
                .filter(|o| o.user == person.id && o.end > now)
                .min_by_key(|o| o.start)
            {
                Some(found) => found,
                None => {
                    return Covered::refused(Reply::text(format!(
                        "You have no cover on {}; nothing was changed.",
                        schedule.label
                    )))
                }
            },
            Err(e) => {
                return Covered::refused(
                    Reply::text(format!(
                        "⚠ Cannot find your cover on {}: {e}. Nothing was changed; use PagerDuty directly.",
                        schedule.label
                    ))
                    .alerting(),
                )
            }
        },
    };
    let deleted = flatten(
        deadline
            .timeout(ctx.pagerduty.delete_override(&schedule.id, &made.id))
            .await,
    );
    match deleted {
        Ok(()) | Err(PagerDutyError::Rejected { status: 404, .. }) => {
            tracing::info!(schedule = %schedule.id, user = %person.id, override_id = %made.id, "cover cancelled");
            ctx.book.entries().remove(&key);
            Covered {
                reply: Reply::text(format!(
                    "Cancelled {}'s cover of {} (it ran until {}).",
                    person.name,
                    schedule.label,
                    ctx.zone.when(made.end, now)
                )),
                changed: true,
            }
        }
        Err(e) => {
            tracing::warn!(schedule = %schedule.id, override_id = %made.id, error = %e, "cover cancel failed");
            let what = if e.outcome_unknown() {
                "is not confirmed"
            } else {
                "failed"
            };
            Covered {
                reply: Reply::text(format!(
                    "⚠ Cancelling your cover of {} {what}: {e}. Check the schedule in PagerDuty.",
                    schedule.label
                ))
                .alerting(),
                changed: e.outcome_unknown(),
            }
        }
    }
}

/// The configured schedule labelled `label` (any case); else the reply listing the labels.
fn schedule(ctx: &CoverContext<'_>, label: &str) -> Result<ScheduleRef, Reply> {
    if let Some(s) = ctx
        .schedules
        .iter()
        .find(|s| s.label.eq_ignore_ascii_case(label.trim()))
    {
        return Ok(s.clone());
    }
    let known: Vec<&str> = ctx.schedules.iter().map(|s| s.label.as_str()).collect();
    Err(Reply::text(format!(
        "No schedule is labelled \"{}\". Known: {}.",
        truncate(label, 80),
        if known.is_empty() {
            "none configured".to_string()
        } else {
            known.join(", ")
        }
    )))
}

/// The caller as a PagerDuty user, by their chat email; else the refusal.
async fn caller(
    ctx: &CoverContext<'_>,
    chat_user: &str,
    deadline: Deadline,
) -> Result<Person, Reply> {
    let refusal = |why: String| {
        Reply::text(format!(
            "{why}, so nobody was put on call; cover in PagerDuty directly."
        ))
    };
    let email = match tokio::time::timeout(deadline.remaining() / 4, ctx.chat.email_of(chat_user))
        .await
    {
        Ok(Ok(Some(email))) => email.to_lowercase(),
        Ok(Ok(None)) => {
            return Err(refusal(
                "Your chat profile shows no email to match to a PagerDuty user".into(),
            ))
        }
        Ok(Err(e)) => {
            tracing::warn!(user = chat_user, error = %e, "cannot look up the chat user's email for a cover");
            return Err(refusal(format!("Cannot look up your chat email ({e})")));
        }
        Err(_) => {
            tracing::warn!(
                user = chat_user,
                "looking up the chat user's email for a cover timed out"
            );
            return Err(refusal("Looking up your chat email timed out".into()));
        }
    };
    let known = ctx.snapshot.as_ref().and_then(|s| {
        s.people
            .values()
            .find(|p| p.email.to_lowercase() == email)
            .cloned()
    });
    if let Some(p) = known {
        return Ok(p);
    }
    match flatten(deadline.timeout(ctx.pagerduty.find_users(&email)).await) {
        Ok(found) => found
            .into_iter()
            .find(|p| p.email.to_lowercase() == email)
            .ok_or_else(|| refusal(format!("Your chat email {email} is not a PagerDuty user"))),
        Err(e) => Err(refusal(format!(
            "Cannot find you in PagerDuty by your email ({e})"
        ))),
    }
}

fn flatten<T>(
    result: Result<Result<T, PagerDutyError>, tokio::time::error::Elapsed>,
) -> Result<T, PagerDutyError> {
    result.unwrap_or(Err(PagerDutyError::Timeout))
}
