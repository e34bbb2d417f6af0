//! placeholder

pub mod pagerduty;
