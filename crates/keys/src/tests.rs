use super::*;

#[test]
fn a_key_file_round_trips_and_its_secret_stays_out_of_debug_output() {
    let pair = KeyPair::generate().expect("keygen");
    let text = pair.to_key_file();
    assert_eq!(KeyPair::parse_key_file(&text, "t").expect("valid"), pair);
    let debug = format!("{pair:?}");
    assert!(debug.contains(&pair.public_z85()));
    assert!(!debug.contains(&pair.secret_z85()));
}

#[test]
fn the_key_file_is_private_and_is_not_replaced_without_force() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pair = KeyPair::generate().expect("keygen");
    let (key, _) = pair.write(dir.path(), "svc", false).expect("valid");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).expect("valid").permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
    }
    let other = KeyPair::generate().expect("keygen");
    assert!(matches!(
        other.write(dir.path(), "svc", false),
        Err(KeyError::Exists(_))
    ));
    assert_eq!(KeyPair::read(&key).expect("valid"), pair);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    other.write(dir.path(), "svc", true).expect("valid");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).expect("meta").permissions().mode();
        assert_eq!(mode & 0o077, 0, "replaced with --force: mode {mode:o}");
    }
    assert_eq!(KeyPair::read(&key).expect("valid"), other);
}

#[test]
fn a_public_key_is_read_from_text_a_pub_file_or_a_key_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pair = KeyPair::generate().expect("keygen");
    let (key, public) = pair.write(dir.path(), "s", false).expect("valid");
    assert_eq!(read_public(&pair.public_z85()).expect("valid"), pair.public);
    assert_eq!(
        read_public(public.to_str().expect("valid")).expect("valid"),
        pair.public
    );
    assert_eq!(
        read_public(key.to_str().expect("valid")).expect("valid"),
        pair.public
    );
}

#[test]
fn bad_keys_and_files_get_errors_that_say_where() {
    let err = read_public("tooshort").expect_err("must fail").to_string();
    assert!(err.contains("tooshort"), "{err}");
    // 40 characters, but `"` is not in the Z85 alphabet.
    let err = AllowList::parse("\n\"123456789012345678901234567890123456789\n")
        .expect_err("must fail")
        .to_string();
    assert!(err.contains("line 2") && err.contains("not Z85"), "{err}");
    let pair = KeyPair::generate().expect("keygen");
    let half = format!("public-key = {}\n", pair.public_z85());
    let err = KeyPair::parse_key_file(&half, "k")
        .expect_err("must fail")
        .to_string();
    assert!(err.contains("secret-key"), "{err}");
    let err = KeyPair::read(Path::new("/nonexistent/x.key"))
        .expect_err("must fail")
        .to_string();
    assert!(err.contains("/nonexistent/x.key"), "{err}");
}

#[test]
fn an_allow_list_skips_comments_and_names_after_a_key() {
    let a = KeyPair::generate().expect("keygen");
    let b = KeyPair::generate().expect("keygen");
    let c = KeyPair::generate().expect("keygen");
    let text = format!(
        "# clients\n\n{} billing\n  {}  # search\n",
        a.public_z85(),
        b.public_z85()
    );
    let allow = AllowList::parse(&text).expect("valid");
    assert_eq!(allow.len(), 2);
    assert!(allow.allows(&a.public) && allow.allows(&b.public));
    assert!(!allow.allows(&c.public));
    assert!(!allow.allows(b"short"));
}

#[test]
fn no_key_starts_with_a_hash_so_such_lines_are_comments() {
    // The largest first group, 0xFFFFFFFF, starts with the Z85 digit 82.
    assert!(!z85(&[0xFF; 32]).starts_with(['#', '$']));
    let allow = AllowList::parse("#jTa7ZzuNC{nHsz3tKhaENX{bt6U2:n7RCbx{zrO garbage-looking\n")
        .expect("valid");
    assert!(allow.is_empty());
}

#[test]
fn a_pub_file_given_as_a_key_file_says_so_whatever_its_characters() {
    // `=` is a Z85 character: a public key holding one must not be taken
    // for an entry. Enough keys that some hold `=`.
    for _ in 0..200 {
        let pair = KeyPair::generate().expect("keygen");
        let err = KeyPair::parse_key_file(&format!("{}\n", pair.public_z85()), "p.pub")
            .expect_err("must fail")
            .to_string();
        assert!(err.contains("needs both"), "{err}");
    }
}

#[test]
fn a_key_file_whose_halves_belong_to_two_pairs_is_refused() {
    let (one, two) = (
        KeyPair::generate().expect("keygen"),
        KeyPair::generate().expect("keygen"),
    );
    // libzmq's own key pairs agree with the derivation used for the check.
    for pair in [&one, &two] {
        assert!(KeyPair::parse_key_file(&pair.to_key_file(), "k").is_ok());
    }
    let mixed = format!(
        "public-key = {}\nsecret-key = {}\n",
        one.public_z85(),
        two.secret_z85()
    );
    let err = KeyPair::parse_key_file(&mixed, "mixed.key")
        .expect_err("must fail")
        .to_string();
    assert!(
        err.contains("mixed.key") && err.contains("not the public half"),
        "{err}"
    );
}
