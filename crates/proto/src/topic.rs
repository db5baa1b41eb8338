use crate::DecodeError;

/// Which deployment a record comes from: the first topic byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum System {
    Test,
    Staging,
    Production,
}

/// What a record is: the second topic byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Log,
    Performance,
    /// A client's sign of life while it has scopes open; never a record.
    /// Always JSON: `?HP` is not a topic.
    Heartbeat,
}

/// How the body is serialised: the third topic byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    Json,
    Pickle,
}

/// The three-byte topic frame, e.g. `PLJ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Topic {
    pub system: System,
    pub kind: Kind,
    pub encoding: Encoding,
}

impl Topic {
    pub const fn new(system: System, kind: Kind, encoding: Encoding) -> Self {
        Topic {
            system,
            kind,
            encoding,
        }
    }

    pub fn parse(frame: &[u8]) -> Result<Topic, DecodeError> {
        let bad = || {
            DecodeError::BadTopic(
                String::from_utf8_lossy(&frame[..frame.len().min(16)]).into_owned(),
            )
        };
        let [s, k, e] = frame else { return Err(bad()) };
        let system = match s {
            b'T' => System::Test,
            b'S' => System::Staging,
            b'P' => System::Production,
            _ => return Err(bad()),
        };
        let kind = match k {
            b'L' => Kind::Log,
            b'P' => Kind::Performance,
            b'H' => Kind::Heartbeat,
            _ => return Err(bad()),
        };
        let encoding = match e {
            b'J' => Encoding::Json,
            b'P' => Encoding::Pickle,
            _ => return Err(bad()),
        };
        if kind == Kind::Heartbeat && encoding != Encoding::Json {
            return Err(bad());
        }
        Ok(Topic::new(system, kind, encoding))
    }

    pub fn as_bytes(&self) -> [u8; 3] {
        [
            match self.system {
                System::Test => b'T',
                System::Staging => b'S',
                System::Production => b'P',
            },
            match self.kind {
                Kind::Log => b'L',
                Kind::Performance => b'P',
                Kind::Heartbeat => b'H',
            },
            match self.encoding {
                Encoding::Json => b'J',
                Encoding::Pickle => b'P',
            },
        ]
    }

    /// The topic as its three ASCII letters.
    pub fn as_str(&self) -> String {
        self.as_bytes().iter().map(|&b| b as char).collect()
    }
}

impl std::fmt::Display for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_valid_topic_round_trips() {
        for s in b"TSP" {
            for k in b"LPH" {
                for e in b"JP" {
                    let frame = [*s, *k, *e];
                    if (*k, *e) == (b'H', b'P') {
                        continue;
                    }
                    let topic = Topic::parse(&frame).expect("valid topic");
                    assert_eq!(topic.as_bytes(), frame);
                }
            }
        }
    }

    #[test]
    fn a_heartbeat_topic_parses_and_prints() {
        let topic = Topic::parse(b"PHJ").expect("heartbeat topic");
        assert_eq!(topic.kind, Kind::Heartbeat);
        assert_eq!(topic.to_string(), "PHJ");
    }

    #[test]
    fn malformed_topics_are_rejected() {
        for bad in [
            &b""[..],
            b"PL",
            b"PLJX",
            b"XLJ",
            b"PXJ",
            b"PLX",
            b"plj",
            b"PHP",
            b"THP",
        ] {
            assert!(
                matches!(Topic::parse(bad), Err(DecodeError::BadTopic(_))),
                "{bad:?}"
            );
        }
    }
}
