//! Sign-in prompts in console output: a game (or its downloader) prints a URL to open
//! and a code to enter. The watcher turns those lines into one `Prompt` for the user.

use crate::console::LineWatch;
use crate::lock;
use garrison_proto::{Prompt, PromptPattern};
use regex::Regex;
use std::sync::Mutex;

/// Lines to wait for a code after its URL was seen (or a URL after its code).
const PAIR_WINDOW: u32 = 8;

struct Compiled {
    url: Regex,
    code: Option<Regex>,
    message: String,
}

#[derive(Default)]
struct Pending {
    url: Option<String>,
    code: Option<String>,
    /// Lines seen since the first half of the pair.
    age: u32,
    /// The last prompt sent, so a repeated line does not prompt twice.
    last: Option<Prompt>,
}

pub(crate) struct PromptWatch {
    patterns: Vec<(Compiled, Mutex<Pending>)>,
    notify: Box<dyn Fn(Prompt) + Send + Sync>,
}

impl PromptWatch {
    /// `None` when there is nothing to watch. Patterns were checked by the panel; one
    /// that does not compile here is skipped.
    pub(crate) fn new(
        patterns: &[PromptPattern],
        notify: Box<dyn Fn(Prompt) + Send + Sync>,
    ) -> Option<PromptWatch> {
        let patterns: Vec<_> = patterns
            .iter()
            .filter_map(|p| {
                let url = Regex::new(&p.url_regex).ok()?;
                let code = match &p.code_regex {
                    Some(c) => Some(Regex::new(c).ok()?),
                    None => None,
                };
                Some((
                    Compiled {
                        url,
                        code,
                        message: p.message.clone(),
                    },
                    Mutex::new(Pending::default()),
                ))
            })
            .collect();
        if patterns.is_empty() {
            return None;
        }
        Some(PromptWatch { patterns, notify })
    }
}

/// Capture group 1, or the whole match when the regex has no group.
fn capture(re: &Regex, line: &str) -> Option<String> {
    let c = re.captures(line)?;
    c.get(1).or_else(|| c.get(0)).map(|m| m.as_str().to_owned())
}

impl LineWatch for PromptWatch {
    fn check(&self, lines: &[String]) {
        for (p, pending) in &self.patterns {
            let mut st = lock(pending);
            for line in lines {
                let url = capture(&p.url, line);
                let code = p.code.as_ref().and_then(|c| capture(c, line));
                if url.is_none() && code.is_none() {
                    if st.url.is_some() || st.code.is_some() {
                        st.age += 1;
                        if st.age > PAIR_WINDOW {
                            st.url = None;
                            st.code = None;
                        }
                    }
                    continue;
                }
                if url.is_some() {
                    st.url = url;
                    st.age = 0;
                }
                if code.is_some() {
                    st.code = code;
                    st.age = 0;
                }
                let complete = st.url.is_some() && (p.code.is_none() || st.code.is_some());
                if !complete {
                    continue;
                }
                let prompt = Prompt {
                    url: st.url.take().unwrap_or_default(),
                    code: st.code.take(),
                    message: p.message.clone(),
                };
                if st.last.as_ref() != Some(&prompt) {
                    st.last = Some(prompt.clone());
                    (self.notify)(prompt);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn watch(code: Option<&str>) -> (PromptWatch, Arc<Mutex<Vec<Prompt>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let w = PromptWatch::new(
            &[PromptPattern {
                url_regex: r"(https://\S+/device\S*)".into(),
                code_regex: code.map(str::to_owned),
                message: "Sign in".into(),
            }],
            Box::new(move |p| s.lock().unwrap().push(p)),
        )
        .unwrap();
        (w, seen)
    }

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn url_then_code_on_later_line() {
        let (w, seen) = watch(Some(r"code:\s*([A-Z0-9-]+)"));
        w.check(&lines(&[
            "Please visit https://auth.example.com/device?x=1",
            "and enter code: ABCD-1234",
            "Please visit https://auth.example.com/device?x=1",
            "and enter code: ABCD-1234",
        ]));
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "a repeated prompt is sent once");
        assert_eq!(seen[0].url, "https://auth.example.com/device?x=1");
        assert_eq!(seen[0].code.as_deref(), Some("ABCD-1234"));
    }

    #[test]
    fn url_alone_when_no_code_pattern() {
        let (w, seen) = watch(None);
        w.check(&lines(&["nothing", "go to https://a.example/device now"]));
        assert_eq!(seen.lock().unwrap()[0].code, None);
    }

    #[test]
    fn a_code_too_late_is_not_paired() {
        let (w, seen) = watch(Some(r"code:\s*(\S+)"));
        let mut v = vec!["visit https://a.example/device".to_owned()];
        v.extend((0..20).map(|i| format!("noise {i}")));
        v.push("code: LATE".into());
        w.check(&v);
        assert!(seen.lock().unwrap().is_empty());
    }
}
