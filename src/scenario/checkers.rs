//! The checkers a scenario may run or skip, by name (`[checks] run` and
//! `skip`): one enum, so that a checker added here is one the compiler
//! makes every `match` over checkers handle.

/// A checker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CheckerId {
    /// `no-loss`
    NoLoss,
    /// `exactly-once-effect`
    ExactlyOnceEffect,
    /// `per-key-order`
    PerKeyOrder,
    /// `convergence`
    Convergence,
    /// `liveness`
    Liveness,
    /// `no-duplicates-in-log`
    NoDuplicatesInLog,
    /// `nonmonotonic-poll`
    NonmonotonicPoll,
    /// `skipped-offset`
    SkippedOffset,
    /// `producer-progress`
    ProducerProgress,
    /// `saga-atomicity`
    SagaAtomicity,
    /// `held-resources`
    HeldResources,
    /// `availability`
    Availability,
    /// `kept-up`
    KeptUp,
    /// `objectives`
    Objectives,
}

impl CheckerId {
    /// Every checker, in the order results are reported.
    pub const ALL: [CheckerId; 14] = [
        CheckerId::NoLoss,
        CheckerId::ExactlyOnceEffect,
        CheckerId::PerKeyOrder,
        CheckerId::Convergence,
        CheckerId::Liveness,
        CheckerId::NoDuplicatesInLog,
        CheckerId::NonmonotonicPoll,
        CheckerId::SkippedOffset,
        CheckerId::ProducerProgress,
        CheckerId::SagaAtomicity,
        CheckerId::HeldResources,
        CheckerId::Availability,
        CheckerId::KeptUp,
        CheckerId::Objectives,
    ];

    /// The checker's stable name, as scenario files, reports and
    /// violations spell it.
    pub const fn name(self) -> &'static str {
        match self {
            CheckerId::NoLoss => "no-loss",
            CheckerId::ExactlyOnceEffect => "exactly-once-effect",
            CheckerId::PerKeyOrder => "per-key-order",
            CheckerId::Convergence => "convergence",
            CheckerId::Liveness => "liveness",
            CheckerId::NoDuplicatesInLog => "no-duplicates-in-log",
            CheckerId::NonmonotonicPoll => "nonmonotonic-poll",
            CheckerId::SkippedOffset => "skipped-offset",
            CheckerId::ProducerProgress => "producer-progress",
            CheckerId::SagaAtomicity => "saga-atomicity",
            CheckerId::HeldResources => "held-resources",
            CheckerId::Availability => "availability",
            CheckerId::KeptUp => "kept-up",
            CheckerId::Objectives => "objectives",
        }
    }

    /// The checker named `name`, if any.
    pub fn from_name(name: &str) -> Option<CheckerId> {
        CheckerId::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// Every checker's stable name, in the order results are reported.
pub const CHECKERS: [&str; 14] = {
    let mut names = [""; 14];
    let mut i = 0;
    while i < names.len() {
        names[i] = CheckerId::ALL[i].name();
        i += 1;
    }
    names
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_checker_is_listed_once_and_found_by_its_name() {
        for (i, c) in CheckerId::ALL.into_iter().enumerate() {
            assert_eq!(CheckerId::from_name(CHECKERS[i]), Some(c));
            assert_eq!(CheckerId::ALL.iter().filter(|&&d| d == c).count(), 1);
        }
        assert_eq!(CheckerId::from_name("no-los"), None);
    }
}
