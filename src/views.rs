//! The other views of the CAA check (issue 13), as the engine runs them:
//! after the recursive climb, the authoritative servers of the deciding
//! zones (`authority`) and the perspectives abroad (`perspective`) are
//! asked, once per base name; their findings are judged in the core
//! (`checks::authority`, `checks::perspective`) per (name, CA) and carried
//! by the CAA verdict. An order's validation record is asked of the same
//! views ([`Views::observe_record`]) and judged in the core's
//! `orders::validation`.

use std::collections::HashMap;
use std::time::Duration;

use certvigil_core::checks::authority::{self, AuthorityObservation, ZoneObservation};
use certvigil_core::checks::caa::LookupFailure;
use certvigil_core::checks::caa::{CaaObservation, IssuanceRequest};
use certvigil_core::checks::perspective::{
    self, PerspectiveObservation, RecordsSeen, ValidationName,
};
use certvigil_core::checks::views::ViewFinding;
use certvigil_core::method::{AcmeMethod, ValidationMethod};
use certvigil_core::orders::validation::VantageRecords;

use crate::authority::AuthorityClient;
use crate::checks::reach::VantagePoint;
use crate::config::{DnsView, ViewsConfig};
use crate::dns::DnsHandle;
use crate::domain::DomainName;
use crate::perspective::{PerspectiveClient, globalping::GlobalpingDns};

/// What the engine asks besides the recursive resolver.
#[derive(Debug, Clone, Default)]
pub struct Views {
    authority: Option<AuthorityClient>,
    mode: DnsView,
    perspectives: PerspectiveClient,
}

/// What the views saw for one base name.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub authority: Option<AuthorityObservation>,
    pub home_validation: Vec<ValidationName>,
    pub perspectives: Vec<PerspectiveObservation>,
}

impl Observed {
    /// The findings for one request, `home` being the climb the verdict
    /// was judged on.
    pub fn judge(&self, home: &CaaObservation, req: &IssuanceRequest) -> Vec<ViewFinding> {
        let mut out = Vec::new();
        if let Some(auth) = &self.authority {
            out.extend(authority::judge(home, auth, req));
        }
        out.extend(perspective::judge(
            home,
            &self.home_validation,
            &self.perspectives,
            req,
        ));
        out
    }
}

impl Views {
    pub fn new(
        dns: &DnsHandle,
        vantages: &[VantagePoint],
        config: &ViewsConfig,
        timeout: Duration,
        globalping: Option<GlobalpingDns>,
    ) -> Views {
        Views {
            authority: config.view.asks_authoritative().then(|| AuthorityClient {
                // The run's handle: a delegation is asked once per run (or
                // daemon cycle), like the CAA climb.
                dns: dns.clone(),
                port: config.authoritative_port,
                timeout,
                delegations: Default::default(),
                warned: Default::default(),
            }),
            mode: config.view,
            perspectives: PerspectiveClient::new(vantages, globalping, timeout),
        }
    }

    /// The view `[dns] view` asks for.
    pub fn mode(&self) -> DnsView {
        self.mode
    }

    /// An order's validation record at `name` (issue 13), as the CAA
    /// check's views see a deciding name: every authoritative server of its
    /// zone (unless the view is recursive only), and every perspective
    /// abroad, asked for TXT (an alias comes with it). Judged in the core
    /// (`orders::validation::judge_views`). The authoritative view is
    /// `None` when not asked for, and an error saying why when its zone's
    /// delegation could not be found.
    pub async fn observe_record(
        &self,
        name: &DomainName,
    ) -> (
        Option<Result<ZoneObservation<RecordsSeen>, String>>,
        Vec<VantageRecords>,
    ) {
        let authority = async {
            match &self.authority {
                Some(a) => Some(a.observe_records(name).await),
                None => None,
            }
        };
        let perspectives = async {
            if self.perspectives.is_empty() {
                return Vec::new();
            }
            self.perspectives
                .observe(&[], std::slice::from_ref(name))
                .await
                .into_iter()
                .map(|p| VantageRecords {
                    seen: match (&p.error, p.validation.into_iter().find(|(n, _)| n == name)) {
                        (Some(e), _) => Err(LookupFailure::Network { detail: e.clone() }),
                        (None, Some((_, seen))) => seen,
                        (None, None) => Err(LookupFailure::Network {
                            detail: "the vantage point gave no answer for it".into(),
                        }),
                    },
                    vantage: p.vantage,
                })
                .collect()
        };
        tokio::join!(authority, perspectives)
    }

    /// A new cycle starts (or one ended): failures are logged anew.
    pub fn new_cycle(&self) {
        if let Some(a) = &self.authority {
            a.new_cycle();
        }
    }

    fn is_off(&self) -> bool {
        self.authority.is_none() && self.perspectives.is_empty()
    }

    /// Asks the views about each base name's climb, concurrently; in
    /// authoritative mode the deciding lookups of the climb are replaced by
    /// the zone servers' answers.
    pub async fn gather(
        &self,
        dns: &DnsHandle,
        mut caa: HashMap<DomainName, CaaObservation>,
        method: Option<&ValidationMethod>,
    ) -> (
        HashMap<DomainName, CaaObservation>,
        HashMap<DomainName, Observed>,
    ) {
        if self.is_off() {
            return (caa, HashMap::new());
        }
        let observed = futures::future::join_all(caa.iter().map(|(base, obs)| async move {
            (base.clone(), self.observe(dns, base, obs, method).await)
        }))
        .await;
        let observed: HashMap<DomainName, Observed> = observed.into_iter().collect();
        if self.mode == DnsView::Authoritative {
            for (base, obs) in caa.iter_mut() {
                if let Some(auth) = observed.get(base).and_then(|o| o.authority.as_ref()) {
                    *obs = authority::authoritative_observation(obs, auth);
                }
            }
        }
        (caa, observed)
    }

    async fn observe(
        &self,
        dns: &DnsHandle,
        base: &DomainName,
        home: &CaaObservation,
        method: Option<&ValidationMethod>,
    ) -> Observed {
        let validation_names = validation_names(base, method);
        let authority = async {
            match &self.authority {
                Some(a) => Some(a.observe(home).await),
                None => None,
            }
        };
        let perspectives = async {
            if self.perspectives.is_empty() {
                return (Vec::new(), Vec::new());
            }
            let caa_names: Vec<DomainName> = home.climb.iter().map(|l| l.name.clone()).collect();
            let home_validation =
                futures::future::join_all(validation_names.iter().map(|n| async move {
                    ValidationName {
                        name: n.clone(),
                        home: dns
                            .lookup_txt(n)
                            .await
                            .map(|a| RecordsSeen {
                                cname_chain: a.cname_chain,
                                texts: a
                                    .records
                                    .iter()
                                    .map(|r| String::from_utf8_lossy(r).into_owned())
                                    .collect(),
                                nxdomain: a.nxdomain,
                            })
                            .map_err(crate::checks::caa::gather::to_failure),
                    }
                }))
                .await;
            let seen = self
                .perspectives
                .observe(&caa_names, &validation_names)
                .await;
            (home_validation, seen)
        };
        let (authority, (home_validation, perspectives)) = tokio::join!(authority, perspectives);
        Observed {
            authority,
            home_validation,
            perspectives,
        }
    }
}

/// The records a CA looks up to validate the name by DNS: `_dnsauth` for
/// DNS validation outside ACME (BR §3.2.2.4.7, as the CAs sold in China
/// name it), `_acme-challenge` for dns-01 (RFC 8555 §8.4).
pub fn validation_names(base: &DomainName, method: Option<&ValidationMethod>) -> Vec<DomainName> {
    let label = match method {
        Some(ValidationMethod::Dns) => "_dnsauth",
        Some(ValidationMethod::Acme(AcmeMethod::Dns01)) => "_acme-challenge",
        _ => return Vec::new(),
    };
    DomainName::from_ascii(&format!("{label}.{base}"))
        .map(|n| vec![n])
        .unwrap_or_default()
}
