//! Every example of the rule language in docs/configuration.md parses, and
//! every error shown there is the error given, so the reference cannot
//! drift from the code.
//!
//! Marked fences in the document:
//! - ```` ```yaml rule ````: one YAML condition (a `match:` value), which
//!   must parse and compile;
//! - ```` ```text filter ````: one filter per line, each for `parse_filter`;
//! - ```` ```text filter-error ````: a filter line, then `→ ` and the first
//!   line of the error it must give.
//!
//! In "The rule language" section every fence must carry one of these, so
//! an example cannot escape the check by losing its marking.

use distlog_rules::{parse_filter, ConditionSpec};

const DOC: &str = include_str!("../../../docs/configuration.md");
const SECTION: &str = "## The rule language";

struct Block {
    info: String,
    /// The 1-based line of the opening fence.
    line: usize,
    lines: Vec<(usize, String)>,
    in_section: bool,
}

fn blocks(doc: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    let mut in_section = false;
    for (i, text) in doc.lines().enumerate() {
        let n = i + 1;
        match open.take() {
            Some(block) if text.trim_start() == "```" => out.push(block),
            Some(mut block) => {
                block.lines.push((n, text.to_owned()));
                open = Some(block);
            }
            None => {
                if let Some(heading) = text.strip_prefix("## ") {
                    in_section = format!("## {heading}") == SECTION;
                }
                if let Some(info) = text.trim_start().strip_prefix("```") {
                    open = Some(Block {
                        info: info.trim().to_owned(),
                        line: n,
                        lines: Vec::new(),
                        in_section,
                    });
                }
            }
        }
    }
    assert!(open.is_none(), "an unclosed fence in the document");
    out
}

/// What is wrong with the marked examples of `doc`, one line per problem,
/// and how many examples were checked.
fn check(doc: &str) -> (Vec<String>, usize) {
    let mut problems = Vec::new();
    let mut checked = 0;
    for block in blocks(doc) {
        match block.info.as_str() {
            "yaml rule" => {
                checked += 1;
                let yaml: String = block.lines.iter().map(|(_, l)| format!("{l}\n")).collect();
                let compiled = serde_saphyr::from_str::<ConditionSpec>(&yaml)
                    .map_err(|e| e.to_string())
                    .and_then(|spec| spec.compile().map_err(|e| e.to_string()));
                if let Err(e) = compiled {
                    problems.push(format!("line {}: yaml rule: {e}", block.line));
                }
            }
            "text filter" => {
                for (n, filter) in block.lines.iter().filter(|(_, l)| !l.trim().is_empty()) {
                    checked += 1;
                    if let Err(e) = parse_filter(filter) {
                        problems.push(format!("line {n}: filter {filter:?}: {e}"));
                    }
                }
            }
            "text filter-error" => {
                let mut lines = block.lines.iter().filter(|(_, l)| !l.trim().is_empty());
                while let Some((n, filter)) = lines.next() {
                    checked += 1;
                    let Some(want) = lines.next().and_then(|(_, l)| l.strip_prefix("→ ")) else {
                        problems.push(format!("line {n}: {filter:?} has no `→ error` line after it"));
                        break;
                    };
                    match parse_filter(filter) {
                        Ok(_) => problems.push(format!("line {n}: {filter:?} parses, but the document shows an error")),
                        Err(e) => {
                            let got = e.to_string();
                            let first = got.lines().next().unwrap_or_default();
                            if first != want {
                                problems.push(format!("line {n}: {filter:?} gives\n  {first}\nbut the document shows\n  {want}"));
                            }
                        }
                    }
                }
            }
            other if block.in_section => problems.push(format!(
                "line {}: a fence marked {other:?} in {SECTION:?}: mark it `yaml rule`, `text filter` or `text filter-error`",
                block.line
            )),
            _ => {}
        }
    }
    (problems, checked)
}

#[test]
fn every_rule_language_example_in_the_configuration_reference_parses() {
    let (problems, checked) = check(DOC);
    assert!(
        problems.is_empty(),
        "docs/configuration.md:\n{}",
        problems.join("\n")
    );
    // The markings themselves could drift; the reference has far more.
    assert!(
        checked >= 40,
        "only {checked} examples found: were the fences renamed?"
    );
}

#[test]
fn a_broken_example_is_caught() {
    let doc = "\
## The rule language

```yaml rule
levle: WARNING
```

```text filter
level>=WARNING
level>=LOUD
```

```text filter-error
level=LOUD
→ not what it says
host=web-*
→ bad glob \"web-*\"
```

```yaml
level: ERROR
```

## Sinks

```yaml
not: checked
```
";
    let (problems, checked) = check(doc);
    assert_eq!(checked, 5);
    let lines: Vec<&str> = problems
        .iter()
        .map(|p| p.split(':').next().unwrap_or(""))
        .collect();
    assert_eq!(
        lines,
        ["line 3", "line 9", "line 13", "line 15", "line 19"],
        "{problems:#?}"
    );
    assert!(problems[0].contains("levle"), "{}", problems[0]);
    assert!(problems[3].contains("parses, but"), "{}", problems[3]);
}
