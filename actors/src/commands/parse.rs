//! Chat commands: parsed by name into [`Command`], each variant with its own small parser; leftover arguments
//! are rejected. The help text comes from [`Command::HELP`], and a test parses every example in it, so the help
//! cannot drift from the parser.

use std::time::Duration;

use crate::cache::directory::UserQuery;

use crate::truncate::truncate;

/// The most characters of user input a hint echoes back.
const HINT_ECHO_MAX: usize = 40;
/// The longest `<user>` accepted: an email address is at most 254 characters, and no name is longer.
pub const MAX_QUERY_CHARS: usize = 254;
/// The most people one `!ic page @a @b ...` may name; a bigger page is refused (page a schedule instead).
pub const MAX_NAMED_PEOPLE: usize = 50;
/// A page message is cut to this many characters: the incident title, its details, the responder request and
/// the audit log all carry it, and PagerDuty cuts titles at 1,024 characters anyway.
pub const MAX_MESSAGE_CHARS: usize = 1_024;
/// A note or a resolution note is cut to this many characters: a line in a room, not a document.
pub const MAX_NOTE_CHARS: usize = 4_000;

/// What a page request adds to the page itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageOptions {
    /// The message for the incident title; a default naming who asked and where when absent.
    pub message: Option<String>,
    /// `--again`: page even if the same people were paged moments ago.
    pub again: bool,
}

/// Every command the bot understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `!ic`: the Incident Commanders on call now, with phone numbers.
    IncidentCommanders,
    /// `!ic page [message]`: page every IC on call now.
    PageIncidentCommanders(PageOptions),
    /// `!ic responders`: everyone on call in the service teams' schedules.
    Responders,
    /// `!ic page responders [message]`: page all of them.
    PageResponders(PageOptions),
    /// `!ic who <user>`: a person's contact details and what they are on call for.
    Who(UserQuery),
    /// `!ic page @<user> [@<user>...] [message]`: page the people named (at most [`MAX_NAMED_PEOPLE`], no
    /// repeats), all in one incident.
    PageUsers(Vec<UserQuery>, PageOptions),
    /// `!ic help`, `!help`: this list.
    Help,
    /// `!status`: the overall system state from monitoring.
    Status,
    /// `!status stalk`: watch the state in this channel and post each change.
    Stalk,
    /// `!status unstalk`: stop watching in this channel.
    Unstalk,
    /// `!ic refresh` (admins): refresh the on-call data from PagerDuty now.
    Refresh,
    /// `!ic crash <actor>` (admins, chaos drills only): make an actor fail on purpose.
    Crash(String),
    /// `!ic incidents`: the open incidents on the service, newest first.
    Incidents,
    /// `!ic ack [<number>]`: acknowledge an incident; without a number, the one this channel paged last.
    Ack { number: Option<u64> },
    /// `!ic resolve [<number>] [note]`: resolve an incident, with an optional resolution note.
    Resolve {
        number: Option<u64>,
        note: Option<String>,
    },
    /// `!ic note [<number>] <text>`: add a note to an incident.
    Note { number: Option<u64>, text: String },
    /// `!ic cover <schedule> [duration]`: put the caller on call in a schedule now, for `duration` (default
    /// [`DEFAULT_COVER`]).
    Cover { schedule: String, length: Duration },
    /// `!ic cover <schedule> cancel`: remove the caller's cover there.
    CancelCover { schedule: String },
}

/// How long `!ic cover` covers when no duration is given.
pub const DEFAULT_COVER: Duration = Duration::from_secs(3600);

/// The user typed one of our commands wrongly. The text is what they read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// One line of help: the syntax to type and what it does.
pub struct HelpEntry {
    pub syntax: &'static str,
    /// A concrete example that parses to this command (checked by a test).
    pub example: &'static str,
    pub about: &'static str,
}

impl Command {
    /// The help, one entry per command, in the order users need them.
    pub const HELP: &'static [HelpEntry] = &[
        HelpEntry {
            syntax: "!ic",
            example: "!ic",
            about: "Incident Commanders on call now, with phone numbers",
        },
        HelpEntry {
            syntax: "!ic page [message]",
            example: "!ic page checkout is down",
            about: "page every IC on call now and open a PagerDuty incident",
        },
        HelpEntry {
            syntax: "!ic responders",
            example: "!ic responders",
            about: "everyone on call in the service teams' schedules",
        },
        HelpEntry {
            syntax: "!ic page responders [message]",
            example: "!ic page responders db failover",
            about: "page all of them",
        },
        HelpEntry {
            syntax: "!ic who <user>",
            example: "!ic who alice@example.com",
            about: "a person's contact details (email, full name, name prefix or @mention)",
        },
        HelpEntry {
            syntax: "!ic page @<user> [message]",
            example: "!ic page @alice need you on the bridge",
            about: "page one person (@name, @\"Full Name\", an email or a mention)",
        },
        HelpEntry {
            syntax: "!ic page @<user> @<user>... [message]",
            example: "!ic page @alice @\"Chen Wei\" bob@example.com db failover",
            about: "page several people in one incident (the first named is assigned, the others asked to respond); nobody is paged unless everyone named is found",
        },
        HelpEntry {
            syntax: "!ic page [...] --again",
            example: "!ic page @alice --again still down",
            about: "page even if the same people were paged moments ago",
        },
        HelpEntry {
            syntax: "!ic incidents",
            example: "!ic incidents",
            about: "the open incidents on the service, newest first",
        },
        HelpEntry {
            syntax: "!ic ack [<number>]",
            example: "!ic ack 42",
            about: "acknowledge an incident (without a number: the one this channel paged last)",
        },
        HelpEntry {
            syntax: "!ic resolve [<number>] [note]",
            example: "!ic resolve #42 rolled back the deploy",
            about: "resolve an incident, with an optional resolution note",
        },
        HelpEntry {
            syntax: "!ic note [<number>] <text>",
            example: "!ic note 42 failover done, watching replication",
            about: "add a note to an incident (a leading number is the incident's)",
        },
        HelpEntry {
            syntax: "!ic cover <schedule> [duration]",
            example: "!ic cover IC Primary 2h",
            about: "put yourself on call in a schedule now (default 1h, at most [access] max_cover); needs your chat email to be a PagerDuty user",
        },
        HelpEntry {
            syntax: "!ic cover <schedule> cancel",
            example: "!ic cover IC Primary cancel",
            about: "remove the cover you made there",
        },
        HelpEntry {
            syntax: "!status",
            example: "!status",
            about: "the overall system state from monitoring",
        },
        HelpEntry {
            syntax: "!status stalk",
            example: "!status stalk",
            about: "post here whenever the system state changes",
        },
        HelpEntry {
            syntax: "!status unstalk",
            example: "!status unstalk",
            about: "stop posting state changes here",
        },
        HelpEntry {
            syntax: "!ic help",
            example: "!ic help",
            about: "this help",
        },
        HelpEntry {
            syntax: "!ic refresh",
            example: "!ic refresh",
            about: "admins: refresh the on-call data from PagerDuty now",
        },
        HelpEntry {
            syntax: "!ic crash <actor>",
            example: "!ic crash pager",
            about: "admins, chaos drills only: make an actor fail on purpose",
        },
    ];

    /// A stable, short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Command::IncidentCommanders => "ic",
            Command::PageIncidentCommanders(_) => "ic_page",
            Command::Responders => "responders",
            Command::PageResponders(_) => "page_responders",
            Command::Who(_) => "who",
            Command::PageUsers(..) => "page_user",
            Command::Help => "help",
            Command::Status => "status",
            Command::Stalk => "stalk",
            Command::Unstalk => "unstalk",
            Command::Refresh => "refresh",
            Command::Crash(_) => "crash",
            Command::Incidents => "incidents",
            Command::Ack { .. } => "ack",
            Command::Resolve { .. } => "resolve",
            Command::Note { .. } => "note",
            Command::Cover { .. } => "cover",
            Command::CancelCover { .. } => "cover_cancel",
        }
    }

    /// Whether only `[access] admins` may use the command.
    pub fn is_admin(&self) -> bool {
        matches!(self, Command::Refresh | Command::Crash(_))
    }

    /// Whether the command pages somebody.
    pub fn is_page(&self) -> bool {
        matches!(
            self,
            Command::PageIncidentCommanders(_)
                | Command::PageResponders(_)
                | Command::PageUsers(..)
        )
    }

    /// Whether the command changes who is on call (and so who is paged): allowed where paging is.
    pub fn is_cover(&self) -> bool {
        matches!(self, Command::Cover { .. } | Command::CancelCover { .. })
    }

    /// Whether the command changes an incident (acknowledge, resolve, note): allowed where paging is.
    pub fn is_incident_write(&self) -> bool {
        matches!(
            self,
            Command::Ack { .. } | Command::Resolve { .. } | Command::Note { .. }
        )
    }

    /// Parses one chat message. `Ok(None)`: not addressed to the bot (ignored). `Err`: one of our commands,
    /// typed wrongly; the error is the hint to reply with.
    pub fn parse(input: &str) -> Result<Option<Command>, ParseError> {
        let mut words = input.split_whitespace();
        let Some(first) = words.next() else {
            return Ok(None);
        };
        let first = first.to_lowercase();
        let rest: Vec<&str> = words.collect();
        match first.as_str() {
            "!ic" => parse_ic(&rest).map(Some),
            "!status" => parse_status(&rest).map(Some),
            "!help" if rest.is_empty() => Ok(Some(Command::Help)),
            "!help" => Err(usage("!help takes no arguments.")),
            _ if first.starts_with("!ic") || first.starts_with("!status") => Err(usage(&format!(
                "unknown command {}.",
                truncate(&first, HINT_ECHO_MAX)
            ))),
            _ => Ok(None),
        }
    }
}

fn usage(what: &str) -> ParseError {
    ParseError(format!("{what} Try `!ic help`."))
}

fn parse_ic(args: &[&str]) -> Result<Command, ParseError> {
    let Some(sub) = args.first() else {
        return Ok(Command::IncidentCommanders);
    };
    let rest = &args[1..];
    match sub.to_lowercase().as_str() {
        "help" => no_more(rest, "!ic help").map(|()| Command::Help),
        "refresh" => no_more(rest, "!ic refresh").map(|()| Command::Refresh),
        "crash" => match rest {
            [actor] => Ok(Command::Crash(truncate(actor, 100).into_owned())),
            _ => Err(usage(
                "`!ic crash <actor>`: one actor, such as `pager` or `stalk:ops`.",
            )),
        },
        "responders" => no_more(rest, "!ic responders").map(|()| Command::Responders),
        "who" => parse_who(rest),
        "page" => parse_page(rest),
        "incidents" => no_more(rest, "!ic incidents").map(|()| Command::Incidents),
        "ack" | "acknowledge" => parse_ack(rest),
        "resolve" => {
            let (number, words) = incident_number(rest)?;
            let note = truncate(&words.join(" "), MAX_NOTE_CHARS).into_owned();
            Ok(Command::Resolve {
                number,
                note: (!note.is_empty()).then_some(note),
            })
        }
        "note" => {
            let (number, words) = incident_number(rest)?;
            let text = truncate(&words.join(" "), MAX_NOTE_CHARS).into_owned();
            if text.is_empty() {
                return Err(usage("Note what? `!ic note [<number>] <text>`."));
            }
            Ok(Command::Note { number, text })
        }
        "cover" => parse_cover(rest),
        other => Err(usage(&format!(
            "`!ic {}` is not a command.",
            truncate(other, HINT_ECHO_MAX)
        ))),
    }
}

fn parse_status(args: &[&str]) -> Result<Command, ParseError> {
    let Some(sub) = args.first() else {
        return Ok(Command::Status);
    };
    let rest = &args[1..];
    match sub.to_lowercase().as_str() {
        "stalk" => no_more(rest, "!status stalk").map(|()| Command::Stalk),
        "unstalk" => no_more(rest, "!status unstalk").map(|()| Command::Unstalk),
        other => Err(usage(&format!(
            "`!status {}` is not a command: use `!status`, `!status stalk` or `!status unstalk`.",
            truncate(other, HINT_ECHO_MAX)
        ))),
    }
}

fn no_more(rest: &[&str], command: &str) -> Result<(), ParseError> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(usage(&format!("`{command}` takes no arguments.")))
    }
}

/// `<label words...> [duration | cancel]`: a last word that is `cancel` or a duration is not the label's.
fn parse_cover(rest: &[&str]) -> Result<Command, ParseError> {
    let Some((last, before)) = rest.split_last() else {
        return Err(usage(
            "Cover which schedule? `!ic cover <schedule> [duration]`, such as `!ic cover IC Primary 2h`.",
        ));
    };
    let label = |words: &[&str]| truncate(&words.join(" "), HINT_ECHO_MAX * 2).into_owned();
    if last.eq_ignore_ascii_case("cancel") {
        if before.is_empty() {
            return Err(usage("Cancel which cover? `!ic cover <schedule> cancel`."));
        }
        return Ok(Command::CancelCover {
            schedule: label(before),
        });
    }
    let starts_with_digit = last.chars().next().is_some_and(|c| c.is_ascii_digit());
    if !starts_with_digit {
        return Ok(Command::Cover {
            schedule: label(rest),
            length: DEFAULT_COVER,
        });
    }
    let length = humantime::parse_duration(last).map_err(|_| {
        usage(&format!(
            "`{}` is not a duration: write a number and a unit, such as `30m`, `2h` or `1h30m`.",
            truncate(last, HINT_ECHO_MAX)
        ))
    })?;
    if before.is_empty() {
        return Err(usage(
            "Cover which schedule? `!ic cover <schedule> [duration]`.",
        ));
    }
    if length.is_zero() {
        return Err(usage(
            "A cover of no time covers nothing: give a duration such as `1h`.",
        ));
    }
    Ok(Command::Cover {
        schedule: label(before),
        length,
    })
}

fn parse_ack(rest: &[&str]) -> Result<Command, ParseError> {
    let (number, words) = incident_number(rest)?;
    if !words.is_empty() {
        return Err(usage(
            "`!ic ack` takes at most an incident number, such as `!ic ack 42`.",
        ));
    }
    Ok(Command::Ack { number })
}

/// A leading incident number (`42` or `#42`) and the words after it. A first word that starts with `#` but
/// is no number is an error, so that `#4x2` is not taken for text.
fn incident_number<'a, 'b>(
    rest: &'a [&'b str],
) -> Result<(Option<u64>, &'a [&'b str]), ParseError> {
    let Some(first) = rest.first() else {
        return Ok((None, rest));
    };
    let digits = first.strip_prefix('#');
    match digits.unwrap_or(first).parse::<u64>() {
        Ok(number) => Ok((Some(number), &rest[1..])),
        Err(_) if digits.is_some() => Err(usage(&format!(
            "`{}` is not an incident number; write it as `42` or `#42`.",
            truncate(first, HINT_ECHO_MAX)
        ))),
        Err(_) => Ok((None, rest)),
    }
}

fn parse_who(rest: &[&str]) -> Result<Command, ParseError> {
    let joined = rest.join(" ");
    let raw = joined.trim_start_matches('@').trim_matches('"').trim();
    if raw.is_empty() {
        return Err(usage("Who? `!ic who <email | name | @mention>`."));
    }
    Ok(Command::Who(user_query(raw)?))
}

/// `!ic page [responders | @user @user...] [--again] [message]`
fn parse_page(rest: &[&str]) -> Result<Command, ParseError> {
    let again = rest.iter().any(|w| w.eq_ignore_ascii_case("--again"));
    let words: Vec<&str> = rest
        .iter()
        .copied()
        .filter(|w| !w.eq_ignore_ascii_case("--again"))
        .collect();
    let message = |words: &[&str]| {
        let m = truncate(&words.join(" "), MAX_MESSAGE_CHARS).into_owned();
        PageOptions {
            message: (!m.is_empty()).then_some(m),
            again,
        }
    };
    let Some(first) = words.first() else {
        return Ok(Command::PageIncidentCommanders(message(&[])));
    };
    if first.eq_ignore_ascii_case("responders") {
        return Ok(Command::PageResponders(message(&words[1..])));
    }
    // Every explicit target at the start, then the message.
    let mut people: Vec<UserQuery> = Vec::new();
    let mut at = 0;
    while at < words.len() {
        let Some((target, used)) = page_target(&words[at..])? else {
            break;
        };
        at += used;
        if !people.iter().any(|p| same_query(p, &target)) {
            people.push(target);
        }
        if people.len() > MAX_NAMED_PEOPLE {
            return Err(usage(&format!(
                "One page names at most {MAX_NAMED_PEOPLE} people; nobody was paged. Page a schedule (`!ic page` or `!ic page responders`) or split the list."
            )));
        }
    }
    if !people.is_empty() {
        return Ok(Command::PageUsers(people, message(&words[at..])));
    }
    Ok(Command::PageIncidentCommanders(message(&words)))
}

/// Whether two queries name the same person for sure: equal, names compared without case.
fn same_query(a: &UserQuery, b: &UserQuery) -> bool {
    match (a, b) {
        (UserQuery::Name(x), UserQuery::Name(y)) => x.to_lowercase() == y.to_lowercase(),
        _ => a == b,
    }
}

/// The person a page names in its first word(s), and how many words that took. Only explicit forms count, so
/// that `!ic page database down` pages the ICs and never somebody called Database.
fn page_target(words: &[&str]) -> Result<Option<(UserQuery, usize)>, ParseError> {
    let first = words[0];
    if first.starts_with("<@") || looks_like_email(first) {
        return Ok(Some((user_query(first)?, 1)));
    }
    let Some(name) = first.strip_prefix('@') else {
        return Ok(None);
    };
    if let Some(quoted) = name.strip_prefix('"') {
        // @"Full Name" spanning words
        let mut parts = vec![quoted];
        if let Some(done) = quoted.strip_suffix('"').filter(|_| quoted.len() > 1) {
            return Ok(Some((name_query(done)?, 1)));
        }
        for (i, w) in words.iter().enumerate().skip(1) {
            if let Some(last) = w.strip_suffix('"') {
                parts.push(last);
                return Ok(Some((name_query(&parts.join(" "))?, i + 1)));
            }
            parts.push(w);
        }
        return Err(usage("Unclosed quote in `@\"Full Name\"`."));
    }
    if name.is_empty() {
        return Err(usage("Page whom? `!ic page @<user> [message]`."));
    }
    Ok(Some((user_query(name)?, 1)))
}

fn looks_like_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        }
        None => false,
    }
}

fn too_long() -> ParseError {
    usage(&format!(
        "That name is too long (over {MAX_QUERY_CHARS} characters); use an email or a full name."
    ))
}

fn name_query(name: &str) -> Result<UserQuery, ParseError> {
    if name.chars().count() > MAX_QUERY_CHARS {
        return Err(too_long());
    }
    Ok(UserQuery::Name(name.to_string()))
}

fn user_query(raw: &str) -> Result<UserQuery, ParseError> {
    if raw.chars().count() > MAX_QUERY_CHARS {
        return Err(too_long());
    }
    if let Some(inner) = raw.strip_prefix("<@").and_then(|r| r.strip_suffix('>')) {
        let id = inner.split('|').next().unwrap_or(inner);
        return Ok(UserQuery::Mention(id.to_string()));
    }
    // Slack renders typed emails as <mailto:a@b|a@b>
    if let Some(inner) = raw
        .strip_prefix("<mailto:")
        .and_then(|r| r.strip_suffix('>'))
    {
        let email = inner.split('|').next().unwrap_or(inner);
        return Ok(UserQuery::Email(email.to_lowercase()));
    }
    Ok(if looks_like_email(raw) {
        UserQuery::Email(raw.to_lowercase())
    } else {
        UserQuery::Name(raw.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Option<Command>, ParseError> {
        Command::parse(s)
    }

    fn page(message: Option<&str>, again: bool) -> PageOptions {
        PageOptions {
            message: message.map(String::from),
            again,
        }
    }

    #[test]
    fn bare_ic_lists_the_commanders() {
        assert_eq!(parse("!ic"), Ok(Some(Command::IncidentCommanders)));
    }

    #[test]
    fn case_and_spaces_do_not_matter() {
        assert_eq!(parse("  !IC   Responders  "), Ok(Some(Command::Responders)));
        assert_eq!(parse("!Status   STALK"), Ok(Some(Command::Stalk)));
    }

    #[test]
    fn other_messages_are_ignored() {
        assert_eq!(parse("hello team"), Ok(None));
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("   "), Ok(None));
        assert_eq!(parse("!deploy now"), Ok(None));
    }

    #[test]
    fn page_without_message_pages_the_ics() {
        assert_eq!(
            parse("!ic page"),
            Ok(Some(Command::PageIncidentCommanders(page(None, false))))
        );
    }

    #[test]
    fn page_with_message_keeps_it() {
        assert_eq!(
            parse("!ic page checkout   is down"),
            Ok(Some(Command::PageIncidentCommanders(page(
                Some("checkout is down"),
                false
            ))))
        );
    }

    #[test]
    fn page_again_is_a_flag_not_message() {
        assert_eq!(
            parse("!ic page --again still down"),
            Ok(Some(Command::PageIncidentCommanders(page(
                Some("still down"),
                true
            ))))
        );
    }

    #[test]
    fn page_responders() {
        assert_eq!(
            parse("!ic page responders db failover"),
            Ok(Some(Command::PageResponders(page(
                Some("db failover"),
                false
            ))))
        );
    }

    #[test]
    fn page_user_by_at_name() {
        assert_eq!(
            parse("!ic page @alice come to the bridge"),
            Ok(Some(Command::PageUsers(
                vec![UserQuery::Name("alice".into())],
                page(Some("come to the bridge"), false)
            )))
        );
    }

    #[test]
    fn page_user_by_quoted_full_name() {
        assert_eq!(
            parse("!ic page @\"Alice Smith\" now"),
            Ok(Some(Command::PageUsers(
                vec![UserQuery::Name("Alice Smith".into())],
                page(Some("now"), false)
            )))
        );
        assert_eq!(
            parse("!ic page @\"Alice\""),
            Ok(Some(Command::PageUsers(
                vec![UserQuery::Name("Alice".into())],
                page(None, false)
            )))
        );
    }

    #[test]
    fn page_user_unclosed_quote_is_an_error() {
        assert!(parse("!ic page @\"Alice Smith now").is_err());
    }

    #[test]
    fn page_user_by_email_or_mention() {
        assert_eq!(
            parse("!ic page Alice@Example.com"),
            Ok(Some(Command::PageUsers(
                vec![UserQuery::Email("alice@example.com".into())],
                page(None, false)
            )))
        );
        assert_eq!(
            parse("!ic page <@U123ABC> hi"),
            Ok(Some(Command::PageUsers(
                vec![UserQuery::Mention("U123ABC".into())],
                page(Some("hi"), false)
            )))
        );
    }

    #[test]
    fn several_named_people_are_all_targets_before_the_message() {
        assert_eq!(
            parse("!ic page @alice @chen db down"),
            Ok(Some(Command::PageUsers(
                vec![
                    UserQuery::Name("alice".into()),
                    UserQuery::Name("chen".into())
                ],
                page(Some("db down"), false)
            )))
        );
        assert_eq!(
            parse("!ic page @\"Chen Wei\" bob@example.com <@U1> --again @alice hi"),
            Ok(Some(Command::PageUsers(
                vec![
                    UserQuery::Name("Chen Wei".into()),
                    UserQuery::Email("bob@example.com".into()),
                    UserQuery::Mention("U1".into()),
                    UserQuery::Name("alice".into()),
                ],
                page(Some("hi"), true)
            )))
        );
    }

    #[test]
    fn a_person_named_twice_is_paged_once() {
        assert_eq!(
            parse("!ic page @alice @Alice alice@x.io ALICE@x.io"),
            Ok(Some(Command::PageUsers(
                vec![
                    UserQuery::Name("alice".into()),
                    UserQuery::Email("alice@x.io".into())
                ],
                page(None, false)
            )))
        );
    }

    #[test]
    fn more_named_people_than_allowed_is_refused() {
        let names: Vec<String> = (0..=MAX_NAMED_PEOPLE).map(|i| format!("@p{i}")).collect();
        let err = parse(&format!("!ic page {} down", names.join(" "))).unwrap_err();
        assert!(err.0.contains("at most 50 people"), "{err}");
        assert!(err.0.contains("nobody was paged"), "{err}");
        let ok: Vec<String> = (0..MAX_NAMED_PEOPLE).map(|i| format!("@p{i}")).collect();
        let Ok(Some(Command::PageUsers(people, _))) = parse(&format!("!ic page {}", ok.join(" ")))
        else {
            panic!("50 people page");
        };
        assert_eq!(people.len(), MAX_NAMED_PEOPLE);
    }

    #[test]
    fn plain_word_after_page_is_a_message_not_a_person() {
        assert_eq!(
            parse("!ic page database down"),
            Ok(Some(Command::PageIncidentCommanders(page(
                Some("database down"),
                false
            ))))
        );
    }

    #[test]
    fn who_takes_names_emails_and_mentions() {
        assert_eq!(
            parse("!ic who Alice Smith"),
            Ok(Some(Command::Who(UserQuery::Name("Alice Smith".into()))))
        );
        assert_eq!(
            parse("!ic who @ali"),
            Ok(Some(Command::Who(UserQuery::Name("ali".into()))))
        );
        assert_eq!(
            parse("!ic who a@b.io"),
            Ok(Some(Command::Who(UserQuery::Email("a@b.io".into()))))
        );
        assert_eq!(
            parse("!ic who <@U1|alice>"),
            Ok(Some(Command::Who(UserQuery::Mention("U1".into()))))
        );
        assert_eq!(
            parse("!ic who <mailto:a@b.io|a@b.io>"),
            Ok(Some(Command::Who(UserQuery::Email("a@b.io".into()))))
        );
    }

    #[test]
    fn who_without_user_is_an_error() {
        assert!(parse("!ic who").unwrap_err().0.contains("Who?"));
        assert!(parse("!ic who @").is_err());
    }

    #[test]
    fn unknown_subcommand_gets_a_hint() {
        let err = parse("!ic frobnicate").unwrap_err();
        assert!(err.0.contains("!ic help"), "{err}");
        assert!(parse("!icx").is_err());
        assert!(parse("!status nonsense").is_err());
    }

    #[test]
    fn leftover_arguments_are_rejected() {
        assert!(parse("!ic responders now").is_err());
        assert!(parse("!status stalk please").is_err());
        assert!(parse("!ic help me").is_err());
        assert!(parse("!help me").is_err());
    }

    #[test]
    fn help_forms() {
        assert_eq!(parse("!ic help"), Ok(Some(Command::Help)));
        assert_eq!(parse("!help"), Ok(Some(Command::Help)));
    }

    #[test]
    fn status_forms() {
        assert_eq!(parse("!status"), Ok(Some(Command::Status)));
        assert_eq!(parse("!status unstalk"), Ok(Some(Command::Unstalk)));
    }

    #[test]
    fn every_help_example_parses_and_every_command_has_help() {
        let mut covered = std::collections::BTreeSet::new();
        for entry in Command::HELP {
            let cmd = parse(entry.example)
                .unwrap_or_else(|e| panic!("{}: {e}", entry.example))
                .unwrap();
            covered.insert(cmd.name());
            assert!(entry
                .example
                .starts_with(entry.syntax.split(['[', '<', '@']).next().unwrap().trim()));
        }
        // Every command's metric label is a command name, except the one for commands typed wrongly.
        let all = crate::metric_names::COMMAND_LABELS
            .iter()
            .copied()
            .filter(|label| *label != "invalid");
        assert_eq!(covered, all.collect());
    }

    #[test]
    fn long_input_is_truncated_in_hints() {
        let long = format!("!ic {}", "x".repeat(10_000));
        assert!(parse(&long).unwrap_err().0.len() < 200);
    }

    #[test]
    fn a_long_unknown_command_is_truncated_in_its_hint() {
        let long = format!("!ic{}", "x".repeat(1_000_000));
        assert!(parse(&long).unwrap_err().0.len() < 200);
    }

    #[test]
    fn a_user_longer_than_any_email_is_refused() {
        let name = "x".repeat(MAX_QUERY_CHARS + 1);
        for input in [
            format!("!ic who {name}"),
            format!("!ic page @{name}"),
            format!("!ic page @\"{name}\""),
            format!("!ic page @\"{name} x\""),
        ] {
            let hint = parse(&input).unwrap_err().0;
            assert!(hint.contains("too long"), "{hint}");
            assert!(hint.len() < 200, "{hint}");
        }
        let longest = "x".repeat(MAX_QUERY_CHARS);
        assert_eq!(
            parse(&format!("!ic who {longest}")),
            Ok(Some(Command::Who(UserQuery::Name(longest))))
        );
    }

    #[test]
    fn a_page_message_is_cut_to_the_most_pagerduty_shows() {
        let input = format!("!ic page {}", "word ".repeat(200_000));
        let Ok(Some(Command::PageIncidentCommanders(opts))) = parse(&input) else {
            panic!("not a page");
        };
        let message = opts.message.unwrap();
        assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(message.ends_with('…'));
    }

    #[test]
    fn incidents_lists_the_open_ones() {
        assert_eq!(parse("!ic incidents"), Ok(Some(Command::Incidents)));
    }

    #[test]
    fn incidents_takes_no_arguments() {
        assert!(parse("!ic incidents please").is_err());
    }

    #[test]
    fn ack_without_a_number_means_the_last_page_here() {
        assert_eq!(parse("!ic ack"), Ok(Some(Command::Ack { number: None })));
    }

    #[test]
    fn ack_takes_a_number_with_or_without_hash() {
        assert_eq!(
            parse("!ic ack 42"),
            Ok(Some(Command::Ack { number: Some(42) }))
        );
        assert_eq!(
            parse("!IC Ack #7"),
            Ok(Some(Command::Ack { number: Some(7) }))
        );
    }

    #[test]
    fn ack_with_anything_else_is_an_error() {
        assert!(parse("!ic ack 42 now")
            .unwrap_err()
            .0
            .contains("!ic ack 42"));
        assert!(parse("!ic ack soon").is_err());
    }

    #[test]
    fn a_hash_that_is_no_number_is_an_error() {
        assert!(parse("!ic resolve #4x2")
            .unwrap_err()
            .0
            .contains("not an incident number"));
    }

    #[test]
    fn resolve_with_a_number_and_a_note() {
        assert_eq!(
            parse("!ic resolve 42 rolled   back"),
            Ok(Some(Command::Resolve {
                number: Some(42),
                note: Some("rolled back".into())
            }))
        );
    }

    #[test]
    fn resolve_alone_or_with_only_a_note() {
        assert_eq!(
            parse("!ic resolve"),
            Ok(Some(Command::Resolve {
                number: None,
                note: None
            }))
        );
        assert_eq!(
            parse("!ic resolve fixed it"),
            Ok(Some(Command::Resolve {
                number: None,
                note: Some("fixed it".into())
            }))
        );
    }

    #[test]
    fn note_takes_a_leading_number_and_text() {
        assert_eq!(
            parse("!ic note #3 failover done"),
            Ok(Some(Command::Note {
                number: Some(3),
                text: "failover done".into()
            }))
        );
        assert_eq!(
            parse("!ic note failover done"),
            Ok(Some(Command::Note {
                number: None,
                text: "failover done".into()
            }))
        );
    }

    #[test]
    fn note_without_text_is_an_error() {
        assert!(parse("!ic note").unwrap_err().0.contains("Note what?"));
        assert!(parse("!ic note 42").unwrap_err().0.contains("Note what?"));
    }

    #[test]
    fn a_long_note_is_cut() {
        let Ok(Some(Command::Note { text, .. })) =
            parse(&format!("!ic note {}", "word ".repeat(10_000)))
        else {
            panic!("not a note");
        };
        assert_eq!(text.chars().count(), MAX_NOTE_CHARS + 1);
    }

    #[test]
    fn cover_takes_a_label_of_several_words_and_a_duration() {
        assert_eq!(
            parse("!ic cover IC Primary 2h"),
            Ok(Some(Command::Cover {
                schedule: "IC Primary".into(),
                length: Duration::from_secs(7200)
            }))
        );
        assert_eq!(
            parse("!IC Cover database 1h30m"),
            Ok(Some(Command::Cover {
                schedule: "database".into(),
                length: Duration::from_secs(5400)
            }))
        );
    }

    #[test]
    fn cover_defaults_to_an_hour() {
        assert_eq!(
            parse("!ic cover Payments"),
            Ok(Some(Command::Cover {
                schedule: "Payments".into(),
                length: DEFAULT_COVER
            }))
        );
    }

    #[test]
    fn cover_cancel() {
        assert_eq!(
            parse("!ic cover IC Backup CANCEL"),
            Ok(Some(Command::CancelCover {
                schedule: "IC Backup".into()
            }))
        );
        assert!(parse("!ic cover cancel").is_err());
    }

    #[test]
    fn cover_without_a_schedule_or_with_a_bad_duration_is_an_error() {
        assert!(parse("!ic cover")
            .unwrap_err()
            .0
            .contains("Cover which schedule?"));
        assert!(parse("!ic cover 2h")
            .unwrap_err()
            .0
            .contains("Cover which schedule?"));
        assert!(parse("!ic cover Edge 2x")
            .unwrap_err()
            .0
            .contains("is not a duration"));
        assert!(parse("!ic cover Edge 0s").is_err());
    }
}
