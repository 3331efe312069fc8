//! Priorities: an integer 1..100 with named levels (DESIGN.md §4).

/// The named levels, highest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriorityLevel {
    Critical,
    High,
    Medium,
    Low,
    Background,
}

/// The priority of a record given none.
pub const DEFAULT_PRIORITY: i32 = 50;
/// Bounds of a priority.
pub const MIN_PRIORITY: i32 = 1;
pub const MAX_PRIORITY: i32 = 100;

impl PriorityLevel {
    /// The number a level stands for.
    pub fn value(self) -> i32 {
        match self {
            Self::Critical => 100,
            Self::High => 75,
            Self::Medium => 50,
            Self::Low => 25,
            Self::Background => 10,
        }
    }

    /// The highest level whose value is <= `priority`; BACKGROUND below 10.
    pub fn of(priority: i32) -> Self {
        [Self::Critical, Self::High, Self::Medium, Self::Low]
            .into_iter()
            .find(|level| level.value() <= priority)
            .unwrap_or(Self::Background)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_of_priority() {
        assert_eq!(PriorityLevel::of(100), PriorityLevel::Critical);
        assert_eq!(PriorityLevel::of(99), PriorityLevel::High);
        assert_eq!(PriorityLevel::of(75), PriorityLevel::High);
        assert_eq!(PriorityLevel::of(60), PriorityLevel::Medium);
        assert_eq!(PriorityLevel::of(50), PriorityLevel::Medium);
        assert_eq!(PriorityLevel::of(25), PriorityLevel::Low);
        assert_eq!(PriorityLevel::of(10), PriorityLevel::Background);
        assert_eq!(PriorityLevel::of(5), PriorityLevel::Background);
        assert_eq!(PriorityLevel::of(1), PriorityLevel::Background);
    }
}
