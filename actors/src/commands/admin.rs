//! The admin commands (`[access] admins` only): `!ic refresh` and `!ic crash <actor>`.

use std::time::SystemTime;

use crate::cache::oncall::human_age;
use crate::cache::schedule_cache::{failure_text, ScheduleCacheMessage};
use crate::deadline::Deadline;
use crate::reply::Reply;
use crate::supervision::ask::ask;
use crate::supervision::chaos::CrashFn;
use crate::supervision::names::ActorNames;

/// `!ic refresh`: refreshes the on-call data now and says how it went, by `deadline`.
pub async fn refresh(names: &ActorNames, deadline: Deadline) -> Reply {
    match ask(
        &names.schedule_cache(),
        "the on-call cache",
        deadline,
        ScheduleCacheMessage::RefreshNow,
    )
    .await
    {
        Ok(Ok(())) => Reply::text("On-call data refreshed from PagerDuty just now."),
        Ok(Err(e)) => {
            let age = ask(
                &names.schedule_cache(),
                "the on-call cache",
                deadline,
                ScheduleCacheMessage::Get,
            )
            .await
            .ok()
            .and_then(|view| view.snapshot.map(|s| human_age(s.age(SystemTime::now()))));
            let kept = match age {
                Some(age) => format!("still answering from data as of {age} ago"),
                None => "and there is no earlier data".to_string(),
            };
            Reply::text(format!("⚠ Refresh failed: {}; {kept}.", failure_text(&e))).alerting()
        }
        Err(e) => Reply::text(format!(
            "⚠ No answer in time ({e}); the refresh goes on in the background."
        ))
        .alerting(),
    }
}

/// `!ic crash <actor>`: a chaos drill, only when `[admin] chaos = true`.
pub fn crash(names: &ActorNames, actor: &str, chaos: Option<CrashFn>) -> Reply {
    let Some(crash) = chaos else {
        return Reply::text(
            "Chaos drills are off: set [admin] chaos = true (never in production) to crash actors.",
        );
    };
    match crash(names, actor) {
        Ok(full) => Reply::text(format!(
            "Crashing {full} (chaos drill): its supervisor restarts it; watch /actors or `icbot health`."
        )),
        Err(e) => Reply::text(format!("Not crashed: {e}.")),
    }
}
