//! Who may do what where: paging, and acknowledging, resolving and noting incidents, only in the configured
//! channels; direct messages on or off.

use crate::chat::InboundMessage;
use crate::commands::parse::Command;
use crate::reply::Reply;

/// The `[access]` rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPolicy {
    /// Channels (as the chat platform names them: Slack channel ids) where paging commands, and `!ic ack`,
    /// `!ic resolve` and `!ic note`, work; empty = any.
    pub page_channels: Vec<String>,
    /// Whether commands in direct messages are answered (paging from a DM also needs `page_channels` empty).
    pub allow_dm: bool,
    /// Chat user ids (Slack member ids such as `U0123ABC`; `console` on the console) who may use the admin
    /// commands (`!ic refresh`, `!ic crash`). Empty: nobody.
    pub admins: Vec<String>,
    /// `[access] max_cover`: the longest `!ic cover`.
    pub max_cover: std::time::Duration,
}

/// `[access] max_cover` when not set: 12 hours.
pub const DEFAULT_MAX_COVER: std::time::Duration = std::time::Duration::from_secs(12 * 3600);

impl Default for AccessPolicy {
    fn default() -> Self {
        AccessPolicy {
            page_channels: Vec::new(),
            allow_dm: true,
            admins: Vec::new(),
            max_cover: DEFAULT_MAX_COVER,
        }
    }
}

impl AccessPolicy {
    /// `Err` is the refusal to reply with.
    pub fn check(&self, msg: &InboundMessage, command: &Command) -> Result<(), Reply> {
        if msg.direct && !self.allow_dm {
            return Err(Reply::text(
                "This bot does not take commands in direct messages; use a channel.",
            ));
        }
        if command.is_admin() && !self.admins.contains(&msg.user) {
            return Err(Reply::text(format!(
                "Only the bot's admins ([access] admins) may use `!ic {}`.",
                command.name()
            )));
        }
        let channel = &msg.reply_to.channel;
        if command.is_page()
            && !self.page_channels.is_empty()
            && !self.page_channels.contains(channel)
        {
            let allowed: Vec<String> = self.page_channels.iter().map(|c| format!("#{c}")).collect();
            return Err(Reply::text(format!(
                "Paging is allowed only in {}.",
                allowed.join(", ")
            )));
        }
        if command.is_cover()
            && !self.page_channels.is_empty()
            && !self.page_channels.contains(channel)
        {
            let allowed: Vec<String> = self.page_channels.iter().map(|c| format!("#{c}")).collect();
            return Err(Reply::text(format!(
                "Covering a schedule is allowed only in {} (where paging is).",
                allowed.join(", ")
            )));
        }
        if command.is_incident_write()
            && !self.page_channels.is_empty()
            && !self.page_channels.contains(channel)
        {
            let allowed: Vec<String> = self.page_channels.iter().map(|c| format!("#{c}")).collect();
            return Err(Reply::text(format!(
                "Acknowledging, resolving and noting incidents is allowed only in {} (where paging is).",
                allowed.join(", ")
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::ChatTarget;
    use crate::commands::parse::PageOptions;

    fn msg(channel: &str, direct: bool) -> InboundMessage {
        InboundMessage {
            reply_to: ChatTarget::channel(channel),
            user: "u".into(),
            text: String::new(),
            direct,
        }
    }

    fn page() -> Command {
        Command::PageIncidentCommanders(PageOptions::default())
    }

    #[test]
    fn anything_goes_by_default() {
        let p = AccessPolicy::default();
        assert!(p.check(&msg("any", false), &page()).is_ok());
        assert!(p.check(&msg("D1", true), &page()).is_ok());
    }

    #[test]
    fn paging_only_in_page_channels_but_listing_anywhere() {
        let p = AccessPolicy {
            page_channels: vec!["incidents".into()],
            allow_dm: true,
            admins: vec![],
            ..AccessPolicy::default()
        };
        assert!(p.check(&msg("incidents", false), &page()).is_ok());
        let refused = p.check(&msg("random", false), &page()).unwrap_err().plain();
        assert_eq!(refused, "Paging is allowed only in #incidents.");
        assert!(p
            .check(&msg("random", false), &Command::IncidentCommanders)
            .is_ok());
    }

    #[test]
    fn cover_only_in_page_channels() {
        let p = AccessPolicy {
            page_channels: vec!["incidents".into()],
            ..AccessPolicy::default()
        };
        let cover = Command::Cover {
            schedule: "IC Primary".into(),
            length: std::time::Duration::from_secs(3600),
        };
        assert!(p.check(&msg("incidents", false), &cover).is_ok());
        let refused = p.check(&msg("random", false), &cover).unwrap_err().plain();
        assert_eq!(
            refused,
            "Covering a schedule is allowed only in #incidents (where paging is)."
        );
    }

    #[test]
    fn incident_writes_only_in_page_channels_but_the_listing_anywhere() {
        let p = AccessPolicy {
            page_channels: vec!["incidents".into()],
            allow_dm: true,
            admins: vec![],
            ..AccessPolicy::default()
        };
        let ack = Command::Ack { number: Some(1) };
        assert!(p.check(&msg("incidents", false), &ack).is_ok());
        let refused = p.check(&msg("random", false), &ack).unwrap_err().plain();
        assert_eq!(
            refused,
            "Acknowledging, resolving and noting incidents is allowed only in #incidents (where paging is)."
        );
        let note = Command::Note {
            number: None,
            text: "x".into(),
        };
        assert!(p.check(&msg("random", false), &note).is_err());
        assert!(p.check(&msg("random", false), &Command::Incidents).is_ok());
    }

    #[test]
    fn admin_commands_only_for_admins() {
        let p = AccessPolicy {
            admins: vec!["U1".into()],
            ..AccessPolicy::default()
        };
        let mut m = msg("ops", false);
        m.user = "U2".into();
        let refused = p.check(&m, &Command::Refresh).unwrap_err().plain();
        assert_eq!(
            refused,
            "Only the bot's admins ([access] admins) may use `!ic refresh`."
        );
        m.user = "U1".into();
        assert!(p.check(&m, &Command::Crash("pager".into())).is_ok());
        assert!(
            AccessPolicy::default()
                .check(&m, &Command::Refresh)
                .is_err(),
            "nobody by default"
        );
    }

    #[test]
    fn direct_messages_can_be_turned_off() {
        let p = AccessPolicy {
            page_channels: vec![],
            allow_dm: false,
            admins: vec![],
            ..AccessPolicy::default()
        };
        assert!(p
            .check(&msg("D1", true), &Command::IncidentCommanders)
            .is_err());
        assert!(p
            .check(&msg("ops", false), &Command::IncidentCommanders)
            .is_ok());
    }
}
