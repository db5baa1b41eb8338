//! A panic inside scopes: every scope it unwinds sends a failure record
//! with the panic's message and location, and the hook that was installed
//! before ours still runs. (Its own test binary: the panic hook and `init`
//! are once per process.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::Value;

fn receive_all(s: &zmq::Socket) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let mut items = [s.as_poll_item(zmq::POLLIN)];
        zmq::poll(&mut items, 1_000).expect("poll");
        if !items[0].is_readable() {
            return out;
        }
        let frames = s.recv_multipart(0).expect("recv");
        out.push(serde_json::from_slice(&frames[1]).expect("JSON"));
    }
}

fn failure<'a>(got: &'a [Value], scope: &str) -> &'a Value {
    got.iter()
        .find(|r| {
            r["scope_event"] == "fail"
                && r["message"].as_str().is_some_and(|m| m.starts_with(scope))
        })
        .unwrap_or_else(|| panic!("no failure record for {scope} in {got:?}"))
}

#[test]
fn a_panic_in_a_scope_sends_its_message_and_location_and_the_old_hook_still_runs() {
    // The program's own hook, installed before distlog: it must keep running.
    let theirs = Arc::new(AtomicUsize::new(0));
    let seen = theirs.clone();
    std::panic::set_hook(Box::new(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
    }));

    let ctx = zmq::Context::new();
    let pull = ctx.socket(zmq::PULL).expect("socket");
    pull.bind("tcp://127.0.0.1:*").expect("bind");
    let ep = pull.get_last_endpoint().expect("ep").expect("utf-8");
    let _guard = distlog::init(distlog::Config::new(ep)).expect("init");

    let mut line = 0;
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _outer = distlog::task("checkout").enter();
        let _inner = distlog::to("charge card").field("attempt", 1).enter();
        line = line!() + 1;
        panic!("card {} declined", 4242);
    }));
    assert!(caught.is_err());
    let caught = std::panic::catch_unwind(|| {
        let _job = distlog::task("odd payload").enter();
        std::panic::panic_any(42_u8);
    });
    assert!(caught.is_err());
    assert_eq!(
        theirs.load(Ordering::SeqCst),
        2,
        "the earlier hook ran for each panic"
    );

    let got = receive_all(&pull);
    let at = format!("{}:{line}:", file!());
    for scope in ["charge card", "checkout"] {
        let fail = failure(&got, scope);
        let message = fail["message"].as_str().expect("message");
        let exc_text = fail["exc_text"].as_str().expect("exc_text");
        assert_eq!(fail["levelname"], "ERROR");
        assert!(
            message.starts_with(&format!("{scope}: panicked at {at}")),
            "{message}"
        );
        assert!(message.ends_with(": card 4242 declined"), "{message}");
        assert!(
            exc_text.contains(&format!("panicked at {at}")),
            "{exc_text}"
        );
        let column = exc_text
            .split_once(&at)
            .and_then(|(_, rest)| rest.split(':').next())
            .expect("a column");
        assert!(
            column.parse::<u32>().is_ok(),
            "file:line:col, got {exc_text}"
        );
        assert_eq!(
            exc_text.lines().last(),
            Some("card 4242 declined"),
            "the payload is the last line, as in a traceback"
        );
    }
    assert_eq!(failure(&got, "charge card")["context"]["attempt"], 1);

    let odd = failure(&got, "odd payload");
    assert!(
        odd["exc_text"]
            .as_str()
            .is_some_and(|t| t.ends_with("\nBox<dyn Any>")),
        "{odd}"
    );
}
