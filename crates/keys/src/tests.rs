use super::*;

#[test]
fn a_key_file_round_trips_and_its_secret_stays_out_of_debug_output() {
    let pair = KeyPair::generate().unwrap();
    let text = pair.to_key_file();
    assert_eq!(KeyPair::parse_key_file(&text, "t").unwrap(), pair);
    let debug = format!("{pair:?}");
    assert!(debug.contains(&pair.public_z85()));
    assert!(!debug.contains(&pair.secret_z85()));
}

#[test]
fn the_key_file_is_private_and_is_not_replaced_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let pair = KeyPair::generate().unwrap();
    let (key, _) = pair.write(dir.path(), "svc", false).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
    }
    let other = KeyPair::generate().unwrap();
    assert!(matches!(
        other.write(dir.path(), "svc", false),
        Err(KeyError::Exists(_))
    ));
    assert_eq!(KeyPair::read(&key).unwrap(), pair);
    other.write(dir.path(), "svc", true).unwrap();
    assert_eq!(KeyPair::read(&key).unwrap(), other);
}

#[test]
fn a_public_key_is_read_from_text_a_pub_file_or_a_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let pair = KeyPair::generate().unwrap();
    let (key, public) = pair.write(dir.path(), "s", false).unwrap();
    assert_eq!(read_public(&pair.public_z85()).unwrap(), pair.public);
    assert_eq!(read_public(public.to_str().unwrap()).unwrap(), pair.public);
    assert_eq!(read_public(key.to_str().unwrap()).unwrap(), pair.public);
}

#[test]
fn bad_keys_and_files_get_errors_that_say_where() {
    let err = read_public("tooshort").unwrap_err().to_string();
    assert!(err.contains("tooshort"), "{err}");
    // 40 characters, but `"` is not in the Z85 alphabet.
    let err = AllowList::parse("\n\"123456789012345678901234567890123456789\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2") && err.contains("not Z85"), "{err}");
    let pair = KeyPair::generate().unwrap();
    let half = format!("public-key = {}\n", pair.public_z85());
    let err = KeyPair::parse_key_file(&half, "k").unwrap_err().to_string();
    assert!(err.contains("secret-key"), "{err}");
    let err = KeyPair::read(Path::new("/nonexistent/x.key"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/x.key"), "{err}");
}

#[test]
fn an_allow_list_skips_comments_and_names_after_a_key() {
    let a = KeyPair::generate().unwrap();
    let b = KeyPair::generate().unwrap();
    let c = KeyPair::generate().unwrap();
    let text = format!(
        "# clients\n\n{} billing\n  {}  # search\n",
        a.public_z85(),
        b.public_z85()
    );
    let allow = AllowList::parse(&text).unwrap();
    assert_eq!(allow.len(), 2);
    assert!(allow.allows(&a.public) && allow.allows(&b.public));
    assert!(!allow.allows(&c.public));
    assert!(!allow.allows(b"short"));
}

#[test]
fn no_key_starts_with_a_hash_so_such_lines_are_comments() {
    // The largest first group, 0xFFFFFFFF, starts with the Z85 digit 82.
    assert!(!z85(&[0xFF; 32]).starts_with(['#', '$']));
    let allow =
        AllowList::parse("#jTa7ZzuNC{nHsz3tKhaENX{bt6U2:n7RCbx{zrO garbage-looking\n").unwrap();
    assert!(allow.is_empty());
}
