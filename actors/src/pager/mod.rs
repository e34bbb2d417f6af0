//! Paging: incidents opened in PagerDuty, per-person outcomes, and the records that keep pages from being
//! lost or doubled.
//!
//! - [`page`]: what a page is: the request, the outcome per person, the earlier page a request would repeat.
//! - [`actor`]: the pager actor: opens the incident, asks the others to respond, reports per person.
//! - [`audit`]: the write-ahead audit log (`pages.jsonl`): intent before the PagerDuty write, outcome after.
//! - [`shared_audit`]: with several replicas, the audit records also go to the shared audit, off the page's
//!   path, through a local spool while the database is unreachable.
//! - [`dedup`]: repeats of a recent page, in a table made at wiring so it outlives the pager.

pub mod actor;
pub mod audit;
pub mod dedup;
pub mod page;
pub mod shared_audit;
