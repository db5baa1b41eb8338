//! Halving an encoded export request, for a receiver that answered 413
//! (too large): the request is decoded again and its items shared out in
//! order between two requests that keep their resources and scopes.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;

use super::send::Signal;

/// Two halves as (body, items), or `None` for a request of fewer than two
/// items (or one that does not decode, which cannot happen for our own).
pub fn halves(signal: Signal, body: &[u8]) -> Option<[(Vec<u8>, usize); 2]> {
    match signal {
        Signal::Logs => {
            let r = ExportLogsServiceRequest::decode(body).ok()?;
            let (a, b) = split_nested(
                r.resource_logs,
                |rl| &mut rl.scope_logs,
                |sl| &mut sl.log_records,
            )?;
            Some([
                encode(ExportLogsServiceRequest { resource_logs: a.0 }, a.1),
                encode(ExportLogsServiceRequest { resource_logs: b.0 }, b.1),
            ])
        }
        Signal::Traces => {
            let r = ExportTraceServiceRequest::decode(body).ok()?;
            let (a, b) = split_nested(
                r.resource_spans,
                |rs| &mut rs.scope_spans,
                |ss| &mut ss.spans,
            )?;
            Some([
                encode(
                    ExportTraceServiceRequest {
                        resource_spans: a.0,
                    },
                    a.1,
                ),
                encode(
                    ExportTraceServiceRequest {
                        resource_spans: b.0,
                    },
                    b.1,
                ),
            ])
        }
    }
}

fn encode(m: impl prost::Message, items: usize) -> (Vec<u8>, usize) {
    (m.encode_to_vec(), items)
}

type Half<R> = (Vec<R>, usize);

/// Splits resources → scopes → items after the first half of the items; a
/// resource or scope cut in two appears, with its attributes, in both.
fn split_nested<R: Clone, S: Clone, I>(
    resources: Vec<R>,
    scopes: impl Fn(&mut R) -> &mut Vec<S>,
    items: impl Fn(&mut S) -> &mut Vec<I>,
) -> Option<(Half<R>, Half<R>)> {
    let mut resources = resources;
    let total: usize = resources
        .iter_mut()
        .map(|r| scopes(r).iter_mut().map(|s| items(s).len()).sum::<usize>())
        .sum();
    if total < 2 {
        return None;
    }
    let mut left = total / 2;
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for mut r in resources {
        if left == 0 {
            second.push(r);
            continue;
        }
        // Emptied before cloning, so only the resource's attributes copy.
        let taken = std::mem::take(scopes(&mut r));
        let mut head = r.clone();
        let mut tail_scopes = Vec::new();
        let mut head_scopes = Vec::new();
        for mut s in taken {
            let n = items(&mut s).len();
            if left == 0 {
                tail_scopes.push(s);
            } else if n <= left {
                left -= n;
                head_scopes.push(s);
            } else {
                let mut all = std::mem::take(items(&mut s));
                let tail_items = all.split_off(left);
                let mut rest = s.clone();
                *items(&mut s) = all;
                *items(&mut rest) = tail_items;
                left = 0;
                head_scopes.push(s);
                tail_scopes.push(rest);
            }
        }
        *scopes(&mut head) = head_scopes;
        first.push(head);
        if !tail_scopes.is_empty() {
            *scopes(&mut r) = tail_scopes;
            second.push(r);
        }
    }
    Some(((first, total / 2), (second, total - total / 2)))
}
