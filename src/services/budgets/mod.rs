//! The budgets area. Its permission rules are ready; its operations arrive with their issues.

pub mod permissions;
