//! The RL commands as the stats, the latency histograms and the INFO section name them.

/// One of the module's commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// RL.CHECK
    Check,
    /// RL.PEEK
    Peek,
    /// RL.MCHECK
    Mcheck,
    /// RL.INSPECT
    Inspect,
    /// RL.RESET
    Reset,
    /// RL.STATS
    Stats,
    /// RL.APPLY (replication and AOF)
    Apply,
    /// CL.THROTTLE
    Throttle,
    /// RL.METRICS
    Metrics,
}

impl Command {
    /// Every command, in report order; `ALL[c as usize] == c`.
    pub const ALL: [Command; 9] = [
        Command::Check,
        Command::Peek,
        Command::Mcheck,
        Command::Inspect,
        Command::Reset,
        Command::Stats,
        Command::Apply,
        Command::Throttle,
        Command::Metrics,
    ];

    /// The name used in RL.STATS and INFO fields (`check_calls`, `check_p99_us`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Command::Check => "check",
            Command::Peek => "peek",
            Command::Mcheck => "mcheck",
            Command::Inspect => "inspect",
            Command::Reset => "reset",
            Command::Stats => "stats",
            Command::Apply => "apply",
            Command::Throttle => "throttle",
            Command::Metrics => "metrics",
        }
    }

    /// Whether the command replies a decision, so has allowed and denied counts.
    pub fn decides(self) -> bool {
        matches!(
            self,
            Command::Check | Command::Peek | Command::Mcheck | Command::Throttle
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_indexed_by_discriminant_and_names_are_distinct() {
        for (i, c) in Command::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i);
        }
        let mut names: Vec<_> = Command::ALL.iter().map(|c| c.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Command::ALL.len());
    }
}
