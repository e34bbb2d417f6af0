//! Chaos drills: making a named actor fail on purpose, with a real failure inside it (its `Crash` message)
//! that its supervisor handles like any other. Used by the admin server's crash endpoint and by the
//! `!ic crash <actor>` chat command; both are off unless `[admin] chaos = true`. What a crash sends each kind
//! of actor is [`crate::root::crash`]'s business: this module knows names, not message types.

use crate::supervision::names::ActorNames;

/// The kinds of actor that can be crashed (the root cannot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crashable {
    Gateway,
    Pager,
    ScheduleCache,
    Status,
    Stalks,
    Stalk,
    Incidents,
}

/// Why a crash was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrashError {
    #[error("no crashable actor named {0:?} (gateway, schedule_cache, pager, status, stalks, incidents, stalk:<channel>)")]
    Unknown(String),
    #[error("{0} is not taking messages (restarting?)")]
    NotRunning(String),
}

/// The registry name and kind of a crashable actor, from its full name or its name without the tree's prefix.
pub fn resolve(names: &ActorNames, name: &str) -> Option<(String, Crashable)> {
    let bare = ActorNames::default();
    let fixed = [
        (Crashable::Gateway, names.gateway(), bare.gateway()),
        (Crashable::Pager, names.pager(), bare.pager()),
        (
            Crashable::ScheduleCache,
            names.schedule_cache(),
            bare.schedule_cache(),
        ),
        (Crashable::Status, names.status(), bare.status()),
        (Crashable::Stalks, names.stalks(), bare.stalks()),
        (Crashable::Incidents, names.incidents(), bare.incidents()),
    ];
    for (kind, full, short) in fixed {
        if name == full || name == short {
            return Some((full, kind));
        }
    }
    let channel = name
        .strip_prefix(&names.stalk(""))
        .or_else(|| name.strip_prefix(&bare.stalk("")))?;
    (!channel.is_empty()).then(|| (names.stalk(channel), Crashable::Stalk))
}

/// Sends the named actor its `Crash` message and returns its full registry name: [`crate::root::crash`], the
/// one place that knows every child's message type. Commands get it through their context, so they need not
/// import the tree that runs them.
pub type CrashFn = fn(&ActorNames, &str) -> Result<String, CrashError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_names_resolve_with_or_without_the_prefix() {
        let names = ActorNames::with_prefix("t1/");
        assert_eq!(
            resolve(&names, "pager"),
            Some(("t1/pager".to_string(), Crashable::Pager))
        );
        assert_eq!(
            resolve(&names, "t1/schedule_cache"),
            Some(("t1/schedule_cache".to_string(), Crashable::ScheduleCache))
        );
        assert_eq!(
            resolve(&names, "stalk:ops"),
            Some(("t1/stalk:ops".to_string(), Crashable::Stalk))
        );
        assert_eq!(
            resolve(&names, "t1/stalk:ops"),
            Some(("t1/stalk:ops".to_string(), Crashable::Stalk))
        );
        assert_eq!(resolve(&names, "stalk:"), None);
        assert_eq!(resolve(&names, "icbot"), None);
        assert_eq!(resolve(&names, "../etc"), None);
    }
}
