//! DNS verification of sender domains: which records a domain must publish (SPF, DKIM, DMARC,
//! MX), whether what DNS holds satisfies them, and the lookups that find out.
//!
//! `records` is pure (no I/O) so the comparison rules are unit-tested in isolation; `lookup`
//! only asks DNS and reports what it saw. Neither touches the store: callers record the result
//! and decide what "verified" means for the domain.

mod lookup;
mod records;

pub(crate) use lookup::uncached_resolver;
pub use lookup::{DnsChecker, RecordCheck, VerifyError};
pub use records::{
    DkimPublicKey, ExpectedRecord, RecordPurpose, RecordSettings, expected_records, record_passes,
};
