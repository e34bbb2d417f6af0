//! Finding the person a user means by `<user>`: an email, a full name, or a unique name prefix.

use std::fmt;

use crate::cache::oncall::Person;

/// Who a user means by `<user>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserQuery {
    /// `alice@example.com`
    Email(String),
    /// A Slack mention `<@U123ABC>`, by chat user id.
    Mention(String),
    /// A full name or a unique name prefix, case-insensitive.
    Name(String),
}

impl fmt::Display for UserQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserQuery::Email(e) => f.write_str(e),
            UserQuery::Mention(id) => write!(f, "<@{id}>"),
            UserQuery::Name(n) => f.write_str(n),
        }
    }
}

/// What a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    Found(Person),
    /// Several people match; the user must be more precise.
    Ambiguous(Vec<Person>),
    NotFound,
}

/// Why a named person could not be paged or shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unresolved {
    /// Nobody matches; `search_failed` when PagerDuty's search could not be asked.
    NotFound { search_failed: Option<String> },
    /// Several people match: the candidates.
    Ambiguous(Vec<Person>),
    /// A chat mention the bot could not turn into an email: why, in words.
    Mention(String),
}

/// Resolves `query` among `people`: an exact email, else an exact full name, else a unique prefix of a name
/// (or of any word of it). Case-insensitive. Mentions resolve only after the chat adapter turned them into an
/// email, so here they find nobody.
pub fn resolve<'a>(query: &UserQuery, people: impl IntoIterator<Item = &'a Person>) -> Resolution {
    let people: Vec<&Person> = people.into_iter().collect();
    match query {
        UserQuery::Email(email) => {
            let email = email.to_lowercase();
            one_of(
                people
                    .into_iter()
                    .filter(|p| p.email.to_lowercase() == email)
                    .collect(),
            )
        }
        UserQuery::Mention(_) => Resolution::NotFound,
        UserQuery::Name(name) => {
            let name = name.trim().to_lowercase();
            if name.is_empty() {
                return Resolution::NotFound;
            }
            let exact: Vec<&Person> = people
                .iter()
                .copied()
                .filter(|p| p.name.to_lowercase() == name)
                .collect();
            if !exact.is_empty() {
                return one_of(exact);
            }
            let by_prefix: Vec<&Person> = people
                .into_iter()
                .filter(|p| {
                    let full = p.name.to_lowercase();
                    full.starts_with(&name)
                        || full.split_whitespace().any(|w| w.starts_with(&name))
                        || p.email
                            .to_lowercase()
                            .split('@')
                            .next()
                            .is_some_and(|local| local == name)
                })
                .collect();
            one_of(by_prefix)
        }
    }
}

fn one_of(mut matches: Vec<&Person>) -> Resolution {
    matches.sort_by(|a, b| a.name.cmp(&b.name));
    matches.dedup_by(|a, b| a.id == b.id);
    match matches.len() {
        0 => Resolution::NotFound,
        1 => Resolution::Found(matches[0].clone()),
        _ => Resolution::Ambiguous(matches.into_iter().cloned().collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn people() -> Vec<Person> {
        vec![
            Person::new("1", "Alice Smith", "alice@example.com"),
            Person::new("2", "Alicia Keys", "alicia@example.com"),
            Person::new("3", "Bob Jones", "bob@example.com"),
        ]
    }

    fn name(s: &str) -> UserQuery {
        UserQuery::Name(s.into())
    }

    fn found_name(r: Resolution) -> String {
        match r {
            Resolution::Found(p) => p.name,
            other => panic!("expected one person, got {other:?}"),
        }
    }

    #[test]
    fn email_matches_exactly_and_ignores_case() {
        let p = people();
        assert_eq!(
            found_name(resolve(&UserQuery::Email("BOB@example.com".into()), &p)),
            "Bob Jones"
        );
        assert_eq!(
            resolve(&UserQuery::Email("bo@example.com".into()), &p),
            Resolution::NotFound
        );
    }

    #[test]
    fn full_name_beats_prefix() {
        let p = people();
        assert_eq!(found_name(resolve(&name("alice smith"), &p)), "Alice Smith");
    }

    #[test]
    fn unique_prefix_of_first_or_last_name() {
        let p = people();
        assert_eq!(found_name(resolve(&name("bo"), &p)), "Bob Jones");
        assert_eq!(found_name(resolve(&name("jon"), &p)), "Bob Jones");
        assert_eq!(found_name(resolve(&name("alice"), &p)), "Alice Smith");
    }

    #[test]
    fn ambiguous_prefix_lists_candidates() {
        let p = people();
        match resolve(&name("ali"), &p) {
            Resolution::Ambiguous(c) => assert_eq!(c.len(), 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_and_empty() {
        let p = people();
        assert_eq!(resolve(&name("zed"), &p), Resolution::NotFound);
        assert_eq!(resolve(&name("  "), &p), Resolution::NotFound);
        assert_eq!(
            resolve(&UserQuery::Mention("U1".into()), &p),
            Resolution::NotFound
        );
    }
}
