//! The trust anchors validation starts from: the IANA root KSKs built in
//! (hickory-proto carries the DNSKEYs of key tags 20326 and 38696, whose
//! digests are those of IANA's root-anchors.xml; a test checks them), or
//! the DS/DNSKEY records of `[dnssec] trust_anchor_file`.

use std::path::Path;
use std::str::FromStr;

use hickory_proto::dnssec::rdata::{DNSKEY, DS};
use hickory_proto::dnssec::{Algorithm, DigestType, PublicKey, PublicKeyBuf, TrustAnchors};
use hickory_proto::rr::Name;

/// The root's trust anchors: DS digests and/or whole keys.
#[derive(Debug, Clone)]
pub struct Anchors {
    ds: Vec<DS>,
    keys: Vec<PublicKeyBuf>,
}

impl Anchors {
    /// IANA's root KSKs, as hickory-proto ships them.
    pub fn builtin() -> Anchors {
        let t = TrustAnchors::default();
        let keys = (0..t.len()).filter_map(|i| t.get(i).cloned()).collect();
        Anchors {
            ds: Vec::new(),
            keys,
        }
    }

    pub fn from_file(path: &Path) -> Result<Anchors, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Root DS and DNSKEY records in presentation format, one a line
    /// (`. [TTL] [IN] DS tag alg digest-type hex` or `. [TTL] [IN] DNSKEY
    /// flags 3 alg base64`), as `dnssec-signzone`'s dsset file and
    /// `dnssec-keygen`'s .key file write them. `;` starts a comment.
    pub fn parse(text: &str) -> Result<Anchors, String> {
        let mut out = Anchors {
            ds: Vec::new(),
            keys: Vec::new(),
        };
        for (n, line) in text.lines().enumerate() {
            let line = line.split(';').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let at = |why: String| format!("line {}: {why}", n + 1);
            let tokens: Vec<&str> = line.split_whitespace().collect();
            let owner = tokens[0];
            if owner != "." {
                return Err(at(format!(
                    "{owner:?} is not the root: only root trust anchors (owner \".\") are used"
                )));
            }
            let mut rest = &tokens[1..];
            while let Some(t) = rest.first() {
                if t.eq_ignore_ascii_case("IN") || t.parse::<u32>().is_ok() {
                    rest = &rest[1..];
                } else {
                    break;
                }
            }
            match rest {
                [t, tag, alg, dt, digest @ ..] if t.eq_ignore_ascii_case("DS") => {
                    let num = |s: &str, what: &str| {
                        s.parse::<u16>()
                            .map_err(|_| at(format!("the DS {what} {s:?} is not a number")))
                    };
                    let tag = num(tag, "key tag")?;
                    let alg = num(alg, "algorithm")? as u8;
                    let dt = num(dt, "digest type")? as u8;
                    let digest = hex::decode(digest.concat())
                        .map_err(|_| at("the DS digest is not hex".into()))?;
                    out.ds.push(DS::new(
                        tag,
                        Algorithm::from_u8(alg),
                        DigestType::from(dt),
                        digest,
                    ));
                }
                [t, flags, _proto, alg, key @ ..] if t.eq_ignore_ascii_case("DNSKEY") => {
                    let _flags: u16 = flags
                        .parse()
                        .map_err(|_| at(format!("the DNSKEY flags {flags:?} are not a number")))?;
                    let alg: u8 = alg
                        .parse()
                        .map_err(|_| at(format!("the DNSKEY algorithm {alg:?} is not a number")))?;
                    use base64::Engine;
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(key.concat())
                        .map_err(|_| at("the DNSKEY key is not base64".into()))?;
                    out.keys
                        .push(PublicKeyBuf::new(bytes, Algorithm::from_u8(alg)));
                }
                _ => {
                    return Err(at(
                        "expected \". [TTL] [IN] DS tag algorithm digest-type digest\" or \". [TTL] [IN] DNSKEY flags protocol algorithm key\"".into(),
                    ));
                }
            }
        }
        if out.ds.is_empty() && out.keys.is_empty() {
            return Err("no DS or DNSKEY record for the root".into());
        }
        Ok(out)
    }

    /// Whether the root DNSKEY `key` is one of the anchors.
    pub fn trusts(&self, key: &DNSKEY) -> bool {
        let root = Name::root();
        self.keys.iter().any(|k| {
            k.public_bytes() == key.public_key().public_bytes()
                && k.algorithm() == key.public_key().algorithm()
        }) || self
            .ds
            .iter()
            .any(|ds| ds.covers(&root, key).unwrap_or(false))
    }

    /// The anchors' key tags, to name them in a message.
    pub fn key_tags(&self) -> Vec<u16> {
        let mut tags: Vec<u16> = self.ds.iter().map(DS::key_tag).collect();
        for k in &self.keys {
            if let Ok(t) = DNSKEY::with_flags(257, k.clone()).calculate_key_tag() {
                tags.push(t);
            }
        }
        tags
    }
}

impl FromStr for Anchors {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IANA root-anchors.xml: the DS digests of KSK-2017 and KSK-2024.
    const IANA_DS: &str = "\
. IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D
. IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16
";

    #[test]
    fn builtin_keys_are_iana_root_ksks() {
        let builtin = Anchors::builtin();
        let mut tags = builtin.key_tags();
        tags.sort();
        assert_eq!(tags, vec![20326, 38696]);
        let iana = Anchors::parse(IANA_DS).unwrap();
        for k in &builtin.keys {
            let key = DNSKEY::with_flags(257, k.clone());
            assert!(iana.trusts(&key), "built-in key not in IANA's DS set");
        }
    }

    #[test]
    fn anchor_file_problems_name_the_line() {
        assert!(
            Anchors::parse("example. IN DS 1 8 2 AA")
                .unwrap_err()
                .contains("line 1")
        );
        assert!(
            Anchors::parse("; only a comment\n")
                .unwrap_err()
                .contains("no DS")
        );
        assert!(
            Anchors::parse(". IN DS x 8 2 AA")
                .unwrap_err()
                .contains("key tag")
        );
        assert!(
            Anchors::parse(". 3600 IN DNSKEY 257 3 8 !!!")
                .unwrap_err()
                .contains("base64")
        );
        assert!(
            Anchors::parse(". IN A 1.2.3.4")
                .unwrap_err()
                .contains("expected")
        );
    }
}
