//! placeholder

pub mod monitoring;
