//! The names actors register under in ractor's process-global registry.
//!
//! The bot uses the plain names (`gateway`, `schedule_cache`, `stalk:<channel>`...). Tests that run several
//! trees in one process give each a prefix so the names do not collide.

/// The registry names of one tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActorNames {
    prefix: String,
}

impl ActorNames {
    /// Names with `prefix` in front; `ActorNames::default()` has none.
    pub fn with_prefix(prefix: impl Into<String>) -> Self {
        ActorNames {
            prefix: prefix.into(),
        }
    }

    fn name(&self, base: &str) -> String {
        format!("{}{base}", self.prefix)
    }

    pub fn root(&self) -> String {
        self.name("icbot")
    }
    pub fn gateway(&self) -> String {
        self.name("gateway")
    }
    pub fn schedule_cache(&self) -> String {
        self.name("schedule_cache")
    }
    pub fn pager(&self) -> String {
        self.name("pager")
    }
    pub fn status(&self) -> String {
        self.name("status")
    }
    pub fn stalks(&self) -> String {
        self.name("stalks")
    }
    pub fn incidents(&self) -> String {
        self.name("incidents")
    }
    /// The stalk actor of one channel.
    pub fn stalk(&self, channel: &str) -> String {
        self.name(&format!("stalk:{channel}"))
    }
}
