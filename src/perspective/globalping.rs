//! Globalping DNS measurements as a perspective (filled in below).

use hickory_proto::rr::RecordType;

use certvigil_core::checks::perspective::PerspectiveObservation;

use crate::domain::DomainName;

/// `[globalping]`: DNS measurements from Globalping's probes.
#[derive(Debug, Clone)]
pub struct GlobalpingDns {}

impl GlobalpingDns {
    pub async fn observe(&self, _questions: &[(DomainName, RecordType)]) -> Vec<PerspectiveObservation> {
        Vec::new()
    }
}
