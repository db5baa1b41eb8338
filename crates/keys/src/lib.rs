//! CURVE keys for distlog: the key pairs `distlog keygen` writes, the
//! server key a client is given, and the daemon's allow-list of client
//! public keys. One file format for the daemon, the CLI and the Rust
//! client (the Python client reads the same files).
//!
//! A key pair is two files: `NAME.key` (both keys, Z85, readable by its
//! owner only) and `NAME.pub` (the public key alone, one line: what you
//! hand to the other side). An allow-list is a text file of public keys,
//! one per line, a line starting with `#` a comment.
//!
//! ```
//! use distlog_keys::{AllowList, KeyPair};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let server = KeyPair::generate().unwrap();
//! let (key_file, pub_file) = server.write(dir.path(), "server", false).unwrap();
//! assert_eq!(KeyPair::read(&key_file).unwrap(), server);
//! assert_eq!(distlog_keys::read_public(pub_file.to_str().unwrap()).unwrap(), server.public);
//!
//! let client = KeyPair::generate().unwrap();
//! let allow = AllowList::parse(&format!("# the billing service\n{}\n", client.public_z85())).unwrap();
//! assert!(allow.allows(&client.public));
//! assert!(!allow.allows(&server.public));
//! ```

use std::collections::HashSet;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Length of a CURVE key in Z85 text.
pub const Z85_LEN: usize = 40;

const Z85_ALPHABET: &[u8] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what}: not a CURVE key: {why} (expected 40 characters of Z85, as `distlog keygen` writes)")]
    BadKey { what: String, why: &'static str },
    #[error("{path}: {why}")]
    BadFile { path: String, why: String },
    #[error("{0} exists; pass --force to replace it")]
    Exists(PathBuf),
    #[error("this libzmq has no CURVE support (zmq::has(\"curve\") is false)")]
    NoCurve,
    #[error("generating a key pair: {0}")]
    Zmq(#[from] zmq::Error),
}

/// Whether the linked libzmq can do CURVE at all.
pub fn curve_available() -> bool {
    zmq::has("curve").unwrap_or(false)
}

#[derive(Clone, PartialEq, Eq)]
pub struct KeyPair {
    pub public: [u8; 32],
    pub secret: [u8; 32],
}

// The secret never goes into a log line by accident.
impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &self.public_z85())
            .field("secret", &"…")
            .finish()
    }
}

impl KeyPair {
    pub fn generate() -> Result<KeyPair, KeyError> {
        if !curve_available() {
            return Err(KeyError::NoCurve);
        }
        let pair = zmq::CurveKeyPair::new()?;
        Ok(KeyPair {
            public: pair.public_key,
            secret: pair.secret_key,
        })
    }

    pub fn public_z85(&self) -> String {
        z85(&self.public)
    }

    pub fn secret_z85(&self) -> String {
        z85(&self.secret)
    }

    /// The text of a `.key` file.
    pub fn to_key_file(&self) -> String {
        format!(
            "# distlog CURVE key pair (distlog keygen). Keep this file private;\n\
             # give the other side the .pub file.\n\
             public-key = {}\n\
             secret-key = {}\n",
            self.public_z85(),
            self.secret_z85()
        )
    }

    /// Reads a `.key` file; `what` names it in errors.
    pub fn parse_key_file(text: &str, what: &str) -> Result<KeyPair, KeyError> {
        let (mut public, mut secret) = (None, None);
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: String| KeyError::BadFile {
                path: format!("{what}, line {}", n + 1),
                why,
            };
            if decode_key(line, what).is_ok() {
                break; // a .pub file (`=` is a Z85 character too): said below
            }
            let Some((name, value)) = line.split_once('=') else {
                return Err(bad("expected `public-key = …` or `secret-key = …`".into()));
            };
            let key = decode_key(value.trim(), &format!("{what}, line {}", n + 1))?;
            match name.trim() {
                "public-key" => public = Some(key),
                "secret-key" => secret = Some(key),
                other => return Err(bad(format!("unknown entry `{other}`"))),
            }
        }
        match (public, secret) {
            (Some(public), Some(secret)) => {
                // A hand-edited file with halves of two pairs would fail
                // every handshake with nothing to say why.
                let derived =
                    x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(secret));
                if derived.as_bytes() != &public {
                    return Err(KeyError::BadFile {
                        path: what.to_owned(),
                        why: "its public-key is not the public half of its secret-key (halves of two \
                              different key pairs?); make a new pair with `distlog keygen`"
                            .into(),
                    });
                }
                Ok(KeyPair { public, secret })
            }
            _ => Err(KeyError::BadFile {
                path: what.to_owned(),
                why: "needs both `public-key = …` and `secret-key = …` (a .pub file holds only \
                      the public half; use the .key file)"
                    .into(),
            }),
        }
    }

    pub fn read(path: &Path) -> Result<KeyPair, KeyError> {
        let text = read_text(path)?;
        KeyPair::parse_key_file(&text, &path.display().to_string())
    }

    /// Writes `dir/NAME.key` (mode 0600) and `dir/NAME.pub`; refuses to
    /// replace either unless `force`, since a lost secret key locks out
    /// every client that trusted it.
    pub fn write(
        &self,
        dir: &Path,
        name: &str,
        force: bool,
    ) -> Result<(PathBuf, PathBuf), KeyError> {
        let key = dir.join(format!("{name}.key"));
        let public = dir.join(format!("{name}.pub"));
        for p in [&key, &public] {
            if !force && p.exists() {
                return Err(KeyError::Exists(p.clone()));
            }
        }
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| KeyError::Io { path, source }
        };
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&key).map_err(io(&key))?;
        // The mode above applies only to a new file; one replaced with
        // --force keeps its old mode unless set here.
        #[cfg(unix)]
        f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .map_err(io(&key))?;
        f.write_all(self.to_key_file().as_bytes())
            .map_err(io(&key))?;
        std::fs::write(&public, format!("{}\n", self.public_z85())).map_err(io(&public))?;
        Ok((key, public))
    }
}

/// Makes `socket` a CURVE client of the server whose public key is
/// `server`, authenticating with `own`. Set before `connect`.
pub fn make_client(
    socket: &zmq::Socket,
    server: &[u8; 32],
    own: &KeyPair,
) -> Result<(), zmq::Error> {
    socket.set_curve_serverkey(server)?;
    socket.set_curve_publickey(&own.public)?;
    socket.set_curve_secretkey(&own.secret)
}

/// A public key given as its 40 Z85 characters, or as the path of a
/// `.pub` or `.key` file holding it.
pub fn read_public(key_or_path: &str) -> Result<[u8; 32], KeyError> {
    let given = key_or_path.trim();
    let path = Path::new(given);
    if !path.exists() {
        if given.len() == Z85_LEN {
            return decode_key(given, "the key given");
        }
        return Err(KeyError::BadKey {
            what: format!("{given:?}"),
            why: "neither a key nor a file",
        });
    }
    let text = read_text(path)?;
    let what = path.display().to_string();
    if text.contains("public-key") {
        return Ok(KeyPair::parse_key_file(&text, &what)?.public);
    }
    let mut keys = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !is_comment(l));
    match (keys.next(), keys.next()) {
        (Some(k), None) => decode_key(k, &what),
        (None, _) => Err(KeyError::BadFile {
            path: what,
            why: "holds no key".into(),
        }),
        (Some(_), Some(_)) => Err(KeyError::BadFile {
            path: what,
            why: "holds more than one key".into(),
        }),
    }
}

/// The client public keys the daemon accepts.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    keys: HashSet<[u8; 32]>,
}

impl AllowList {
    /// One Z85 key per line; blank lines and lines starting with `#` are
    /// skipped, and text after the key on its line (a name, say) is ignored.
    pub fn parse(text: &str) -> Result<AllowList, KeyError> {
        Self::parse_named(text, "allow-list")
    }

    fn parse_named(text: &str, what: &str) -> Result<AllowList, KeyError> {
        let mut keys = HashSet::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if is_comment(line) {
                continue;
            }
            let Some(key) = line.split_whitespace().next() else {
                continue;
            };
            keys.insert(decode_key(key, &format!("{what}, line {}", n + 1))?);
        }
        Ok(AllowList { keys })
    }

    pub fn read(path: &Path) -> Result<AllowList, KeyError> {
        let text = read_text(path)?;
        Self::parse_named(&text, &path.display().to_string())
    }

    pub fn allows(&self, key: &[u8]) -> bool {
        <&[u8; 32]>::try_from(key).is_ok_and(|k| self.keys.contains(k))
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// `#` is also a Z85 character, but never the first of a key: the first
/// digit of a big-endian 32-bit group is at most 82 (`#` is 84).
fn is_comment(line: &str) -> bool {
    line.starts_with('#')
}

fn read_text(path: &Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn z85(key: &[u8; 32]) -> String {
    // 32 bytes are a multiple of 4: encoding cannot fail.
    zmq::z85_encode(key).unwrap_or_default()
}

fn decode_key(text: &str, what: &str) -> Result<[u8; 32], KeyError> {
    let bad = |why| KeyError::BadKey {
        what: what.to_owned(),
        why,
    };
    if text.len() != Z85_LEN {
        return Err(bad("wrong length"));
    }
    // libzmq's decoder turns some characters outside the alphabet into
    // zeros instead of failing, so the alphabet is checked here.
    if !text.bytes().all(|b| Z85_ALPHABET.contains(&b)) {
        return Err(bad("not Z85"));
    }
    let bytes = zmq::z85_decode(text).map_err(|_| bad("not Z85"))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| bad("wrong length"))
}

#[cfg(test)]
mod tests;
